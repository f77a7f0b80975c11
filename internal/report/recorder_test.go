package report_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/examples"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/report"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// TestRecorderWatchesTheMapsNames checks that a map applied before its
// events arrive needs no backfill (the first report is as fast as the
// next), and that a name asked for later is backfilled once.
func TestRecorderWatchesTheMapsNames(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		live := journey.NewLive(st)
		st.OnIngest(report.NewRecorder(st, live, nil).OnIngest)
		_, err := live.Apply(ctx, "b2b-saas.yaml", examples.B2BSaaS, "test")
		require.NoError(t, err)
		h := &history{t: t, ctx: ctx, st: st}
		h.ingest(track("a1", "Kickoff Held", day(6, 1, 0), ""), track("a1", "Dashboard Shared", day(6, 2, 0), ""),
			track("a1", "Export Run", day(6, 3, 0), ""), track("a1", "Login", day(6, 3, 0), ""))

		m, _, err := live.Get(ctx)
		require.NoError(t, err)
		copied, err := st.WatchAnalyticsNames(ctx, report.MeasuredNames(m))
		require.NoError(t, err)
		require.Zero(t, copied, "the map's names were watched from the first batch")
		copied, err = st.WatchAnalyticsNames(ctx, []string{"Login"})
		require.NoError(t, err)
		require.Equal(t, 1, copied, "a name the map does not measure is copied once when asked for")
		copied, err = st.WatchAnalyticsNames(ctx, []string{"Login"})
		require.NoError(t, err)
		require.Zero(t, copied)

		fun, err := report.Funnel(ctx, st, m, report.FunnelRequest{Events: []string{"Kickoff Held", "Dashboard Shared", "Login"},
			Days: 3650}, day(6, 30, 0))
		require.NoError(t, err)
		require.Equal(t, 1, fun.Steps[2].Accounts)
	})
}
