package auth_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/auth"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

func TestPasswordHash(t *testing.T) {
	t.Parallel()
	h, err := auth.HashPassword("correct horse battery")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$"), h)
	require.True(t, auth.CheckPassword(h, "correct horse battery"))
	require.False(t, auth.CheckPassword(h, "correct horse batterx"))
	h2, err := auth.HashPassword("correct horse battery")
	require.NoError(t, err)
	require.NotEqual(t, h, h2, "every hash has its own salt")

	_, err = auth.HashPassword("short")
	require.ErrorIs(t, err, auth.ErrWeakPassword)
	for _, bad := range []string{"", "plain", "$argon2id$v=19$m=99999999,t=2,p=1$AAAA$AAAA", "$bcrypt$x$y$z$w", strings.Replace(h, "v=19", "v=18", 1)} {
		require.False(t, auth.CheckPassword(bad, "correct horse battery"), bad)
	}
}

func TestRoles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		role auth.Role
		can  []auth.Permission
		not  []auth.Permission
	}{
		{auth.RoleAdmin, []auth.Permission{auth.PermRead, auth.PermWorkAll, auth.PermKeys, auth.PermUsers, auth.PermSystem, auth.PermJourney}, nil},
		{auth.RoleOps, []auth.Permission{auth.PermRead, auth.PermWorkAll, auth.PermJourney}, []auth.Permission{auth.PermKeys, auth.PermUsers, auth.PermSystem}},
		{auth.RoleCSM, []auth.Permission{auth.PermRead, auth.PermWorkOwn}, []auth.Permission{auth.PermWorkAll, auth.PermJourney, auth.PermKeys, auth.PermUsers}},
		{auth.RoleViewer, []auth.Permission{auth.PermRead}, []auth.Permission{auth.PermWorkOwn, auth.PermWorkAll, auth.PermJourney, auth.PermKeys}},
		{auth.Role("root"), nil, []auth.Permission{auth.PermRead}},
	}
	for _, tt := range tests {
		for _, p := range tt.can {
			require.True(t, tt.role.Can(p), "%s may %s", tt.role, p)
		}
		for _, p := range tt.not {
			require.False(t, tt.role.Can(p), "%s may not %s", tt.role, p)
		}
	}
	r, err := auth.ParseRole(" CSM ")
	require.NoError(t, err)
	require.Equal(t, auth.RoleCSM, r)
	_, err = auth.ParseRole("owner")
	require.ErrorContains(t, err, "admin, ops, csm or viewer")
}

func setupPeople(t *testing.T, s *store.Store) (*auth.People, *time.Time) {
	t.Helper()
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	p := auth.NewPeople(s, auth.PeopleConfig{})
	p.SetClock(func() time.Time { return now })
	return p, &now
}

func TestPeopleSignIn(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		p, now := setupPeople(t, s)

		pw, err := p.Bootstrap(ctx, "Admin@Example.com")
		require.NoError(t, err)
		require.Len(t, pw, 20)
		again, err := p.Bootstrap(ctx, "admin@example.com")
		require.NoError(t, err)
		require.Empty(t, again, "the first admin's password is shown once")

		_, _, err = p.Add(ctx, "ADMIN@example.com", "", auth.RoleCSM, "")
		require.ErrorIs(t, err, store.ErrUserExists)
		_, _, err = p.Add(ctx, "not an email", "", auth.RoleCSM, "")
		require.ErrorContains(t, err, "is not an email address")
		_, _, err = p.Add(ctx, "x@example.com", "", auth.Role("boss"), "")
		require.ErrorContains(t, err, "unknown role")
		_, _, err = p.Add(ctx, "x@example.com", "", auth.RoleCSM, "short")
		require.ErrorIs(t, err, auth.ErrWeakPassword)

		token, se, err := p.SignIn(ctx, " admin@EXAMPLE.com", pw, "10.0.0.1", "test")
		require.NoError(t, err)
		require.Equal(t, auth.RoleAdmin, se.Role)
		require.NotEmpty(t, se.CSRF)
		require.NotEqual(t, token, se.CSRF)

		got, err := p.Authenticate(ctx, token)
		require.NoError(t, err)
		require.Equal(t, se.User.ID, got.User.ID)
		require.Equal(t, se.CSRF, got.CSRF, "the CSRF token is bound to the session")
		require.NotNil(t, got.User.LastSignInAt)

		// The session slides forward with use, and expires when idle.
		*now = now.Add(11 * time.Hour)
		_, err = p.Authenticate(ctx, token)
		require.NoError(t, err)
		*now = now.Add(11 * time.Hour)
		_, err = p.Authenticate(ctx, token)
		require.NoError(t, err, "used 11 hours ago: still valid")
		*now = now.Add(13 * time.Hour)
		_, err = p.Authenticate(ctx, token)
		require.ErrorIs(t, err, auth.ErrNoSession, "idle for 13 hours")

		// Sign-out revokes the session.
		token, _, err = p.SignIn(ctx, "admin@example.com", pw, "10.0.0.1", "test")
		require.NoError(t, err)
		require.NoError(t, p.SignOut(ctx, token))
		_, err = p.Authenticate(ctx, token)
		require.ErrorIs(t, err, auth.ErrNoSession)
		_, err = p.Authenticate(ctx, "made-up")
		require.ErrorIs(t, err, auth.ErrNoSession)
	})
}

func TestPeopleSessionAbsoluteExpiry(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		p, now := setupPeople(t, s)
		_, pw, err := p.Add(ctx, "csm@example.com", "Casey", auth.RoleCSM, "")
		require.NoError(t, err)
		token, _, err := p.SignIn(ctx, "csm@example.com", pw, "", "")
		require.NoError(t, err)
		for range 20 { // used every 11 hours, for over 7 days
			*now = now.Add(11 * time.Hour)
			if _, err = p.Authenticate(ctx, token); err != nil {
				break
			}
		}
		require.ErrorIs(t, err, auth.ErrNoSession, "a session ends 7 days after sign-in however much it is used")
	})
}

func TestPeopleLockOut(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		p, now := setupPeople(t, s)
		_, pw, err := p.Add(ctx, "csm@example.com", "", auth.RoleCSM, "")
		require.NoError(t, err)

		for i := range 4 {
			_, _, err := p.SignIn(ctx, "csm@example.com", "wrong password!", "10.0.0.1", "")
			require.ErrorIs(t, err, auth.ErrBadCredentials, "failure %d", i+1)
		}
		_, _, err = p.SignIn(ctx, "csm@example.com", "wrong password!", "10.0.0.1", "")
		var locked *auth.LockedOutError
		require.ErrorAs(t, err, &locked, "the fifth failure locks")
		require.Equal(t, now.Add(15*time.Minute), locked.Until)

		_, _, err = p.SignIn(ctx, "csm@example.com", pw, "10.0.0.1", "")
		require.ErrorAs(t, err, &locked, "locked for the account from this address, even with the right password")

		*now = now.Add(16 * time.Minute)
		_, _, err = p.SignIn(ctx, "csm@example.com", pw, "10.0.0.1", "")
		require.NoError(t, err, "the lock-out is over")

		// Per address: twenty failures from one address, for any emails,
		// lock the address.
		for i := range 20 {
			_, _, err = p.SignIn(ctx, "nobody"+string(rune('a'+i%5))+"@example.com", "guess guess guess", "10.6.6.6", "")
		}
		require.ErrorAs(t, err, &locked)
		_, _, err = p.SignIn(ctx, "csm@example.com", pw, "10.6.6.6", "")
		require.ErrorAs(t, err, &locked, "the address is locked for every account")
		_, _, err = p.SignIn(ctx, "csm@example.com", pw, "10.0.0.2", "")
		require.NoError(t, err)
	})
}

func TestPeopleLastAdmin(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		p, _ := setupPeople(t, s)
		admin, pw, err := p.Add(ctx, "admin@example.com", "", auth.RoleAdmin, "")
		require.NoError(t, err)
		require.ErrorIs(t, p.SetRole(ctx, admin.ID, auth.RoleViewer), auth.ErrLastAdmin)
		require.ErrorIs(t, p.SetDisabled(ctx, admin.ID, true), auth.ErrLastAdmin)

		other, _, err := p.Add(ctx, "ops@example.com", "", auth.RoleOps, "")
		require.NoError(t, err)
		require.NoError(t, p.SetRole(ctx, other.ID, auth.RoleAdmin))
		token, _, err := p.SignIn(ctx, "admin@example.com", pw, "", "")
		require.NoError(t, err)
		require.NoError(t, p.SetDisabled(ctx, admin.ID, true))
		_, err = p.Authenticate(ctx, token)
		require.ErrorIs(t, err, auth.ErrNoSession, "disabling signs out")
		_, _, err = p.SignIn(ctx, "admin@example.com", pw, "", "")
		require.ErrorIs(t, err, auth.ErrBadCredentials)
	})
}

func TestBootstrapRace(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		p, _ := setupPeople(t, s)
		var wg sync.WaitGroup
		pws := make([]string, 4)
		for i := range pws {
			wg.Go(func() {
				pw, err := p.Bootstrap(ctx, "admin@example.com")
				require.NoError(t, err)
				pws[i] = pw
			})
		}
		wg.Wait()
		n := 0
		for _, pw := range pws {
			if pw != "" {
				n++
			}
		}
		require.Equal(t, 1, n, "exactly one first admin")
	})
}
