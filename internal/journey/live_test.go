package journey_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

func TestLiveApplyVersionsAndRoundTrip(t *testing.T) {
	t.Parallel()
	example, err := os.ReadFile("../../examples/b2b-saas.yaml")
	require.NoError(t, err)
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		live := journey.NewLive(s)
		_, _, err := live.Get(ctx)
		require.ErrorIs(t, err, journey.ErrNoMap)

		res, err := live.Apply(ctx, "b2b-saas.yaml", example, "ops@vendor.example")
		require.NoError(t, err)
		require.False(t, journey.HasErrors(res.Diagnostics))
		require.True(t, res.Changed)
		require.Equal(t, 1, res.Version)

		res, err = live.Apply(ctx, "b2b-saas.yaml", example, "ops@vendor.example")
		require.NoError(t, err)
		require.False(t, res.Changed, "identical content makes no new version")
		require.Equal(t, 1, res.Version)

		// export(apply(x)) lints clean and applies as "no change".
		m, n, err := live.Get(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		exported, err := journey.Marshal(m)
		require.NoError(t, err)
		_, diags := journey.Lint("export.yaml", exported)
		require.Empty(t, diags)
		res, err = live.Apply(ctx, "export.yaml", exported, "ops@vendor.example")
		require.NoError(t, err)
		require.False(t, res.Changed)

		changed := strings.Replace(string(example), "sla: 1bd", "sla: 2bd", 1)
		require.NotEqual(t, string(example), changed, "the example has an sla of 1bd to change")
		prev, err := live.Preview(ctx, "b2b-saas.yaml", []byte(changed))
		require.NoError(t, err)
		require.True(t, prev.Changed)
		require.NotEmpty(t, prev.Changes)
		_, n, _ = live.Get(ctx)
		require.Equal(t, 1, n, "a preview applies nothing")

		res, err = live.Apply(ctx, "b2b-saas.yaml", []byte(changed), "lead@vendor.example")
		require.NoError(t, err)
		require.Equal(t, 2, res.Version)
		require.NotEmpty(t, res.Changes)

		versions, err := s.JourneyVersions(ctx)
		require.NoError(t, err)
		require.Len(t, versions, 2)
		require.Equal(t, "lead@vendor.example", versions[0].AppliedBy)
		v1, err := live.Version(ctx, 1)
		require.NoError(t, err)
		require.Equal(t, journey.Hash(m), journey.Hash(v1), "old versions stay readable for runs in flight")

		bad, err := live.Apply(ctx, "bad.yaml", []byte("stages: [\n"), "x")
		require.NoError(t, err)
		require.True(t, journey.HasErrors(bad.Diagnostics))
		_, n, _ = live.Get(ctx)
		require.Equal(t, 2, n, "a map with errors is not applied")
	})
}
