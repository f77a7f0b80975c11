package auth_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/auth"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// TestSignInBurstCannotBypassLockOut sends 23 wrong passwords for one
// account at once from one address, then the right one while they are
// still being checked: the failures are counted before any password is
// hashed, so the right password arrives at a locked account.
func TestSignInBurstCannotBypassLockOut(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		p, _ := setupPeople(t, s)
		_, pw, err := p.Add(ctx, "csm@example.com", "", auth.RoleCSM, "")
		require.NoError(t, err)

		var (
			wg                 sync.WaitGroup
			refused, judged    atomic.Int64
			started            = time.Now()
			everyWrongReturned = make(chan struct{})
		)
		for range 23 {
			wg.Go(func() {
				_, _, err := p.SignIn(ctx, "csm@example.com", "wrong password!", "10.0.0.1", "")
				var locked *auth.LockedOutError
				if errors.As(err, &locked) {
					refused.Add(1)
				} else {
					judged.Add(1)
				}
			})
		}
		go func() { wg.Wait(); close(everyWrongReturned) }()
		// Wait until the refused guesses are back (they need no hash), but
		// not so long that today's 23 hashes could all have finished.
		for refused.Load() < 23-5 && time.Since(started) < 100*time.Millisecond {
			time.Sleep(2 * time.Millisecond)
		}
		_, _, err = p.SignIn(ctx, "csm@example.com", pw, "10.0.0.1", "")
		var locked *auth.LockedOutError
		require.ErrorAs(t, err, &locked, "the right password sent during a burst of wrong ones must not sign in")
		<-everyWrongReturned
		require.LessOrEqual(t, judged.Load(), int64(4), "at most limit-1 wrong guesses are answered 'wrong password' before the lock")
	})
}

// TestSignInBurstMemoryIsBounded sends 48 sign-ins for unknown emails at
// once, each from its own address (so no lock-out stops them): at most a
// few argon2 hashes (19 MiB each) run at once, so the heap stays far below
// the 912 MiB that 48 concurrent hashes take. The bound leaves room for the
// garbage of finished hashes the collector has not yet reclaimed.
func TestSignInBurstMemoryIsBounded(t *testing.T) {
	// Not parallel: it measures the process's heap.
	s := storetest.Open(t, store.SQLite)
	p := auth.NewPeople(s, auth.PeopleConfig{})
	ctx := context.Background()

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(3 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
		}
	}()
	var wg sync.WaitGroup
	for i := range 48 {
		wg.Go(func() {
			_, _, err := p.SignIn(ctx, fmt.Sprintf("nobody%d@example.com", i), "not the password", fmt.Sprintf("10.1.0.%d", i), "")
			require.Error(t, err)
		})
	}
	wg.Wait()
	close(stop)
	<-sampled
	grew := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("heap grew by at most %.1f MiB during 48 concurrent sign-ins", float64(grew)/(1<<20))
	require.Less(t, grew, int64(160<<20), "memory must stay bounded under a burst of sign-ins")
}

// TestLockOutIsPerAddressAndCleared: five failures from one address lock
// that address out of the account, not the account's owner elsewhere; a
// password reset or an unlock ends the lock-out; a second lock-out lasts
// twice as long.
func TestLockOutIsPerAddressAndCleared(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		p, now := setupPeople(t, s)
		u, pw, err := p.Add(ctx, "csm@example.com", "", auth.RoleCSM, "")
		require.NoError(t, err)
		lockFrom := func(ip string) *auth.LockedOutError {
			t.Helper()
			var locked *auth.LockedOutError
			for range 5 {
				_, _, err = p.SignIn(ctx, "csm@example.com", "wrong password!", ip, "")
			}
			require.ErrorAs(t, err, &locked, "the fifth failure locks")
			return locked
		}
		first := lockFrom("203.0.113.9")
		require.Equal(t, now.Add(15*time.Minute), first.Until)

		_, _, err = p.SignIn(ctx, "csm@example.com", pw, "198.51.100.7", "")
		require.NoError(t, err, "a stranger's guesses do not lock the person out from their own address")

		// Back-off: once the lock-out is over, the next one lasts twice as long.
		*now = now.Add(16 * time.Minute)
		second := lockFrom("203.0.113.9")
		require.Equal(t, now.Add(30*time.Minute), second.Until)

		// A password reset ends the lock-out.
		newPW := "a new and long passphrase"
		require.NoError(t, p.SetPassword(ctx, u.ID, newPW))
		_, _, err = p.SignIn(ctx, "csm@example.com", newPW, "203.0.113.9", "")
		require.NoError(t, err, "after a reset the person signs in, as the page promises")
		lockFrom("203.0.113.9")

		// `moments users unlock` ends it too.
		n, err := p.Unlock(ctx, "csm@example.com", "")
		require.NoError(t, err)
		require.Positive(t, n)
		_, _, err = p.SignIn(ctx, "csm@example.com", newPW, "203.0.113.9", "")
		require.NoError(t, err)
	})
}

func TestPasswordStrength(t *testing.T) {
	t.Parallel()
	for _, pw := range []string{"password1234", "            ", "aaaaaaaaaaaa", "121212121212", "123456789012345",
		"P@ssw0rd2024!", "Summer2024!!", "qwertyuiop12", "correcthorsebatterystaple", "short"} {
		require.ErrorIs(t, auth.CheckPasswordStrength(pw), auth.ErrWeakPassword, "%q", pw)
		_, err := auth.HashPassword(pw)
		require.ErrorIs(t, err, auth.ErrWeakPassword, "%q", pw)
	}
	for _, pw := range []string{"correct horse battery", "tulip ledger orbit 42", auth.GeneratePassword()} {
		require.NoError(t, auth.CheckPasswordStrength(pw), "%q", pw)
	}
}

// TestAuditTrailOfPeople: adding people, changing roles, resets, sign-ins
// and lock-outs are recorded with who did them and from where.
func TestAuditTrailOfPeople(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := auth.WithActor(context.Background(), auth.UserActor("admin@example.com", "192.0.2.1"))
		audit := auth.NewAudit(s, nil)
		p := auth.NewPeople(s, auth.PeopleConfig{Audit: audit})
		u, pw, err := p.Add(ctx, "csm@example.com", "", auth.RoleCSM, "")
		require.NoError(t, err)
		require.NoError(t, p.SetRole(ctx, u.ID, auth.RoleOps))
		_, _, err = p.SignIn(context.Background(), "csm@example.com", pw, "198.51.100.2", "")
		require.NoError(t, err)
		for range 5 {
			_, _, err = p.SignIn(context.Background(), "csm@example.com", "wrong password!", "203.0.113.9", "")
		}
		var locked *auth.LockedOutError
		require.ErrorAs(t, err, &locked)

		got, next, err := audit.List(ctx, store.AuditFilter{}, store.Page{Limit: 2})
		require.NoError(t, err)
		require.NotEmpty(t, next)
		rest, _, err := audit.List(ctx, store.AuditFilter{}, store.Page{Limit: 10, Cursor: next})
		require.NoError(t, err)
		got = append(got, rest...)
		var lines []string
		for _, e := range got {
			lines = append(lines, e.Action+" "+e.Target+" by "+e.Actor+" from "+e.IP)
		}
		require.Equal(t, []string{
			"sign_in.locked_out csm@example.com by system from 203.0.113.9",
			"sign_in.succeeded csm@example.com by user:csm@example.com from 198.51.100.2",
			"person.role_changed csm@example.com by user:admin@example.com from 192.0.2.1",
			"person.added csm@example.com by user:admin@example.com from 192.0.2.1",
		}, lines)
		only, _, err := audit.List(ctx, store.AuditFilter{Action: auth.AuditLockedOut}, store.Page{})
		require.NoError(t, err)
		require.Len(t, only, 1)
		require.Contains(t, only[0].Detail, "5 failed sign-ins")
	})
}

// TestSignInBusyWhenHashesAreTaken: a sign-in that cannot get a hash slot
// in time is refused with ErrBusy (the UI asks to try again).
func TestSignInBusyWhenHashesAreTaken(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, store.SQLite)
	p := auth.NewPeople(s, auth.PeopleConfig{HashConcurrency: 1, HashWait: time.Millisecond})
	ctx := context.Background()
	var (
		wg   sync.WaitGroup
		busy atomic.Int64
	)
	for i := range 6 {
		wg.Go(func() {
			_, _, err := p.SignIn(ctx, "nobody@example.com", "not the password", fmt.Sprintf("10.2.0.%d", i), "")
			if errors.Is(err, auth.ErrBusy) {
				busy.Add(1)
			}
		})
	}
	wg.Wait()
	require.Positive(t, busy.Load(), "six hashes cannot share one slot within a millisecond")
	// The busy attempts locked nothing out: a sign-in from one of those
	// addresses still works.
	_, pw, err := p.Add(ctx, "somebody@example.com", "", auth.RoleCSM, "")
	require.NoError(t, err)
	_, _, err = p.SignIn(ctx, "somebody@example.com", pw, "10.2.0.1", "")
	require.NoError(t, err)
}
