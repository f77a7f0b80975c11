package auth_test

import (
	"context"
	"strings"
	"testing"
	"time"

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
		require.ErrorContains(t, err, `scope "admin"`, "the admin key is refused on the tracking API: it takes write keys only")
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

// TestKeysLastUsedAndServer: a key's last use is kept, written at most
// once a minute; a server write key is marked so; creating and revoking
// keys is in the audit trail.
func TestKeysLastUsedAndServer(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := auth.WithActor(context.Background(), auth.UserActor("admin@example.com", "192.0.2.1"))
		now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
		audit := auth.NewAudit(s, nil)
		keys := auth.NewKeys(s)
		keys.SetAudit(audit)
		keys.SetClock(func() time.Time { return now })
		browser, browserSecret, err := keys.Create(ctx, auth.ScopeWrite, "web app")
		require.NoError(t, err)
		require.False(t, browser.Server)
		server, serverSecret, err := keys.CreateServer(ctx, "billing backend")
		require.NoError(t, err)
		require.True(t, server.Server)
		require.True(t, strings.HasPrefix(serverSecret, "mks_"), "a server key is recognisable: it must never be put in a browser")

		lastUsed := func(id string) *time.Time {
			all, err := s.ListKeys(ctx)
			require.NoError(t, err)
			for _, k := range all {
				if k.ID == id {
					return k.LastUsedAt
				}
			}
			t.Fatalf("no key %s", id)
			return nil
		}
		require.Nil(t, lastUsed(browser.ID))
		got, err := keys.Check(ctx, serverSecret, auth.ScopeWrite)
		require.NoError(t, err)
		require.True(t, got.Server, "a server key passes as a write key that may set protected traits")
		_, err = keys.Check(ctx, browserSecret, auth.ScopeWrite)
		require.NoError(t, err)
		require.Equal(t, now, *lastUsed(browser.ID))
		start := now
		now = now.Add(30 * time.Second)
		_, err = keys.Check(ctx, browserSecret, auth.ScopeWrite)
		require.NoError(t, err)
		require.Equal(t, start, *lastUsed(browser.ID), "written at most once a minute")
		now = now.Add(time.Minute)
		_, err = keys.Check(ctx, browserSecret, auth.ScopeWrite)
		require.NoError(t, err)
		require.Equal(t, now, *lastUsed(browser.ID))

		require.NoError(t, keys.Revoke(ctx, browser.ID))
		require.ErrorIs(t, keys.Revoke(ctx, "key_nope"), store.ErrNotFound)
		entries, _, err := audit.List(ctx, store.AuditFilter{}, store.Page{})
		require.NoError(t, err)
		var lines []string
		for _, e := range entries {
			lines = append(lines, e.Action+" "+e.Target+" by "+e.Actor+": "+e.Detail)
		}
		require.Equal(t, []string{
			"key.revoked " + browser.ID + " by user:admin@example.com: revoked write key \"web app\"",
			"key.created " + server.ID + " by user:admin@example.com: created server write key \"billing backend\"",
			"key.created " + browser.ID + " by user:admin@example.com: created write key \"web app\"",
		}, lines)
	})
}
