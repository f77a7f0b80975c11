package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
	"github.com/stretchr/testify/require"
)

// TestEventsByAccountAcrossMerges reads events by account while SQLite's
// index of them is merged behind the commits (every 7 events in tests):
// every event is found under its account, whether its entry is merged or
// still in the tail, after its contact is linked to an account
// (reattribution moves merged entries too), after a merge cut short by a
// crash (entries past accounts_indexed_through), and after reopening.
func TestEventsByAccountAcrossMerges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := storetest.Config(t, store.SQLite)
	s, err := store.Open(ctx, cfg)
	require.NoError(t, err)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	n := 0
	send := func(user, account string, count int) {
		t.Helper()
		var msgs []store.Message
		for range count {
			n++
			msgs = append(msgs, store.Message{Type: "track", MessageID: fmt.Sprint("m", n), UserID: user, GroupID: account,
				Name: "Report Created", Timestamp: t0, ReceivedAt: t0})
		}
		_, err := s.Ingest(ctx, "wk", msgs)
		require.NoError(t, err)
	}
	count := func(account string) int {
		t.Helper()
		evs, _, err := s.ListEvents(ctx, store.EventFilter{Account: account}, store.Page{Limit: 500})
		require.NoError(t, err)
		return len(evs)
	}
	// entriesRight checks that event_accounts holds an entry for every
	// event up to accounts_indexed_through and no entry that disagrees
	// with its event.
	entriesRight := func() int64 {
		t.Helper()
		var through, missing, wrong int64
		require.NoError(t, s.DB().QueryRowContext(ctx, "SELECT value FROM store_meta WHERE name = 'accounts_indexed_through'").Scan(&through))
		require.NoError(t, s.DB().QueryRowContext(ctx, `SELECT count(*) FROM events e WHERE e.id <= $1
			AND NOT EXISTS (SELECT 1 FROM event_accounts x WHERE x.account_id = e.account_id AND x.id = e.id)`, through).Scan(&missing))
		require.NoError(t, s.DB().QueryRowContext(ctx, `SELECT count(*) FROM event_accounts x
			WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.id = x.id AND e.account_id = x.account_id)`).Scan(&wrong))
		require.Zero(t, missing, "events up to %d without their entry", through)
		require.Zero(t, wrong, "entries that disagree with their events")
		return through
	}

	// u1's events belong to no account until a group call links u1.
	send("u1", "", 12)
	for i := range 5 {
		send(fmt.Sprint("u", i+2), "acme", 3)
		send(fmt.Sprint("u", i+2), "globex", 2)
	}
	require.Equal(t, 15, count("acme"))
	require.Equal(t, 10, count("globex"))
	require.Eventually(t, func() bool { return entriesRight() > 12 }, 10*time.Second, 10*time.Millisecond,
		"merges ran: u1's events are merged under no account")

	_, err = s.Ingest(ctx, "wk", []store.Message{{Type: "group", MessageID: "g1", UserID: "u1", GroupID: "acme", Timestamp: t0, ReceivedAt: t0}})
	require.NoError(t, err)
	require.Equal(t, 15+12+1, count("acme"), "u1's merged events moved to acme with the link")
	entriesRight()

	// A merge cut short by a crash leaves entries past the mark (its first
	// transactions); the next merge inserts them again, ignored, and reads
	// stay exact meanwhile.
	send("u3", "acme", 2)
	require.NoError(t, s.Close())
	s, err = store.Open(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	_, err = s.DB().ExecContext(ctx, `INSERT OR IGNORE INTO event_accounts (account_id, id) SELECT account_id, id FROM events
		WHERE id > (SELECT value FROM store_meta WHERE name = 'accounts_indexed_through')`)
	require.NoError(t, err)
	var last int64
	require.NoError(t, s.DB().QueryRowContext(ctx, "SELECT MAX(id) FROM events").Scan(&last))
	require.Equal(t, 30, count("acme"), "entries past the mark are not counted twice")
	send("u4", "globex", 9)
	require.Equal(t, 30, count("acme"))
	require.Equal(t, 19, count("globex"))
	// The merge follows the commit that makes the tail long enough.
	require.Eventually(t, func() bool {
		var through int64
		require.NoError(t, s.DB().QueryRowContext(ctx, "SELECT value FROM store_meta WHERE name = 'accounts_indexed_through'").Scan(&through))
		return through > last
	}, 10*time.Second, 10*time.Millisecond, "merged again after the restart")
	entriesRight()
}

// TestAccountIndexWorksOffABurstAMergeAtATime: after a burst (one call
// far longer than a merge's worth), each commit is followed by one merge of
// at most four merges' worth of events (storetest sets 7), not by one merge of
// the whole tail while acknowledgements wait; the merges catch up as
// commits go on, and reads by account stay exact throughout.
func TestAccountIndexWorksOffABurstAMergeAtATime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := store.Open(ctx, storetest.Config(t, store.SQLite))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	n := 0
	send := func(count int) {
		t.Helper()
		var msgs []store.Message
		for range count {
			n++
			msgs = append(msgs, store.Message{Type: "track", MessageID: fmt.Sprint("m", n), UserID: fmt.Sprint("u", n%5),
				GroupID: fmt.Sprint("acct-", n%3), Name: "Report Created", Timestamp: t0, ReceivedAt: t0})
		}
		_, err := s.Ingest(ctx, "wk", msgs)
		require.NoError(t, err)
	}
	through := func() (v int64) {
		require.NoError(t, s.DB().QueryRowContext(ctx, "SELECT value FROM store_meta WHERE name = 'accounts_indexed_through'").Scan(&v))
		return v
	}
	counted := func() (total int) {
		for a := range 3 {
			evs, _, err := s.ListEvents(ctx, store.EventFilter{Account: fmt.Sprint("acct-", a)}, store.Page{Limit: 500})
			require.NoError(t, err)
			total += len(evs)
		}
		return total
	}
	send(1)
	before := through()
	send(300)
	require.Eventually(t, func() bool { return through() > before }, 10*time.Second, 5*time.Millisecond, "the burst's commit is followed by a merge")
	time.Sleep(100 * time.Millisecond) // no commit, so no further merge
	require.LessOrEqual(t, through()-before, int64(4*7), "one merge takes at most four merges' worth of the tail")
	require.Equal(t, 301, counted(), "reads by account see the unmerged tail")
	var last int64
	require.NoError(t, s.DB().QueryRowContext(ctx, "SELECT MAX(id) FROM events").Scan(&last))
	for i := 0; through() < last; i++ {
		require.Less(t, i, 200, "the merges catch up as commits go on")
		send(1)
		time.Sleep(2 * time.Millisecond)
	}
	require.Equal(t, n, counted())
}
