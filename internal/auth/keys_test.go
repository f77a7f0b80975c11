package auth_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/auth"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

func TestKeys(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		keys := auth.NewKeys(s)
		admin, write, err := keys.Bootstrap(ctx)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(admin, "mka_"))
		require.True(t, strings.HasPrefix(write, "mkw_"))
		again, _, err := keys.Bootstrap(ctx)
		require.NoError(t, err)
		require.Empty(t, again, "keys are shown in clear on the first start only")

		_, err = keys.Check(ctx, write, auth.ScopeWrite)
		require.NoError(t, err)
		_, err = keys.Check(ctx, admin, auth.ScopeWrite)
		require.NoError(t, err, "an admin key may send events")
		_, err = keys.Check(ctx, write, auth.ScopeAdmin)
		require.ErrorContains(t, err, `scope "write"`, "a write key may not use the REST API")
		_, err = keys.Check(ctx, write+"x", auth.ScopeWrite)
		require.ErrorIs(t, err, auth.ErrInvalidKey)
		_, err = keys.Check(ctx, "", auth.ScopeWrite)
		require.ErrorIs(t, err, auth.ErrInvalidKey)

		k, secret, err := keys.Create(ctx, auth.ScopeWrite, "segment source")
		require.NoError(t, err)
		require.NoError(t, s.RevokeKey(ctx, k.ID, k.CreatedAt))
		_, err = auth.NewKeys(s).Check(ctx, secret, auth.ScopeWrite)
		require.ErrorIs(t, err, auth.ErrInvalidKey, "a revoked key is refused")
		_, _, err = keys.Create(ctx, "root", "")
		require.ErrorContains(t, err, "unknown scope")

		stored, err := s.ListKeys(ctx)
		require.NoError(t, err)
		for _, k := range stored {
			require.NotContains(t, k.Name+k.ID, secret[4:], "the secret is never stored")
		}
	})
}
