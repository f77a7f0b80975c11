package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
)

// rawBehaviourCounts counts the stored track, page and screen events of
// each account and name on the UTC days [from's day, to's day), straight
// from the events table.
func rawBehaviourCounts(t *testing.T, s *store.Store, from, to time.Time) map[string]int {
	t.Helper()
	rows, err := s.DB().QueryContext(context.Background(), `SELECT account_id, name, timestamp FROM events
		WHERE account_id <> '' AND type IN ('track', 'page', 'screen')`)
	require.NoError(t, err)
	defer rows.Close()
	lo, hi := from.Truncate(24*time.Hour), to.Truncate(24*time.Hour)
	out := map[string]int{}
	for rows.Next() {
		var acct, name string
		var ts int64
		require.NoError(t, rows.Scan(&acct, &name, &ts))
		if at := time.UnixMicro(ts); !at.Before(lo) && at.Before(hi) {
			out[acct+"/"+name]++
		}
	}
	require.NoError(t, rows.Err())
	return out
}

func keptBehaviourCounts(t *testing.T, s *store.Store, from, to time.Time) map[string]int {
	t.Helper()
	cs, err := s.BehaviourCounts(context.Background(), nil, from, to)
	require.NoError(t, err)
	return countsByKey(cs)
}

// countsByKey keys counts by "account/name".
func countsByKey(cs []store.BehaviourCount) map[string]int {
	out := map[string]int{}
	for _, c := range cs {
		out[c.AccountID+"/"+c.Name] += c.Count
	}
	return out
}

// TestBehaviourCountsEqualTheEvents checks the kept per-day counts against
// a count of the events themselves: after ingestion, after a contact is
// linked to an account after its events (reattribution), after retention
// drops the oldest events, and after the counts are filled from stored
// events (an upgrade). Each time the events are then deleted behind the
// store's back, and the counts must stand without them: they come from the
// kept blocks, not from reading the events again.
func TestBehaviourCountsEqualTheEvents(t *testing.T) {
	t.Parallel()
	// On PostgreSQL retention drops partitions of 25 events whole, and
	// takes their events out of the counts after the detach.
	eachWithSpan(t, 25, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		s.OnIngest(func(context.Context, *sql.Tx, []store.Event) error { return nil })
		day := 24 * time.Hour
		start := t0.Add(-70 * day)
		from, to := start.Add(-40*day), t0.Add(40*day)
		var msgs []store.Message
		names := []string{"Login", "Report Created", "Export"}
		for i := range 300 {
			// Spread over 100 days (crossing blocks of 32), several per day,
			// received in time order so retention can drop the oldest.
			at := start.Add(time.Duration(i) * 8 * time.Hour)
			m := track(fmt.Sprint("e", i), fmt.Sprint("u", i%4), fmt.Sprint("acct", i%3), names[i%len(names)])
			if i%5 == 0 {
				m.Type = "page"
			}
			if i%7 == 0 {
				m.GroupID = "" // sent by u-late, known to no account yet
				m.UserID = "u-late"
			}
			m.Timestamp, m.ReceivedAt = at, at
			msgs = append(msgs, m)
		}
		for i := 0; i < len(msgs); i += 50 {
			_, err := s.Ingest(ctx, "wk", msgs[i:i+50])
			require.NoError(t, err)
		}
		require.NoError(t, s.WaitIdle(ctx))
		check := func(what string) {
			t.Helper()
			want := rawBehaviourCounts(t, s, from, to)
			require.NotEmpty(t, want)
			require.Equal(t, want, keptBehaviourCounts(t, s, from, to), what)
			// A narrower window, cut inside blocks and days.
			lo, hi := start.Add(20*day+5*time.Hour), start.Add(61*day+3*time.Hour)
			require.Equal(t, rawBehaviourCounts(t, s, lo, hi), keptBehaviourCounts(t, s, lo, hi), what+" (narrow window)")
			// acct1 over a window of its own, everyone else over the wide
			// one (the drivers report's read), and acct0 alone.
			wide, narrow := rawBehaviourCounts(t, s, from, to), rawBehaviourCounts(t, s, lo, hi)
			each, only := map[string]int{}, map[string]int{}
			for k, n := range wide {
				if !strings.HasPrefix(k, "acct1/") {
					each[k] = n
				}
			}
			for k, n := range narrow {
				if strings.HasPrefix(k, "acct1/") {
					each[k] = n
				}
				if strings.HasPrefix(k, "acct0/") {
					only[k] = n
				}
			}
			cs, err := s.BehaviourCountsEach(ctx, from, to, []store.BehaviourWindow{{AccountID: "acct1", From: lo, To: hi}})
			require.NoError(t, err)
			require.Equal(t, each, countsByKey(cs), what+" (a window of its own)")
			cs, err = s.BehaviourCounts(ctx, []string{"acct0"}, lo, hi)
			require.NoError(t, err)
			require.Equal(t, only, countsByKey(cs), what+" (one account)")
			// acct2 over a window wider than everyone else's: its blocks
			// outside theirs are read by account. The same counts come in
			// columns from BehaviourColumns, for the accounts asked (in
			// their order; one has no events).
			wider := map[string]int{}
			for k, n := range narrow {
				if !strings.HasPrefix(k, "acct2/") {
					wider[k] = n
				}
			}
			for k, n := range wide {
				if strings.HasPrefix(k, "acct2/") {
					wider[k] = n
				}
			}
			own := []store.BehaviourWindow{{AccountID: "acct2", From: from, To: to}}
			cs, err = s.BehaviourCountsEach(ctx, lo, hi, own)
			require.NoError(t, err)
			require.Equal(t, wider, countsByKey(cs), what+" (a window of its own, wider than everyone's)")
			ids := []string{"acct2", "acct-none", "acct0", "acct1"}
			tab, err := s.BehaviourColumns(ctx, ids, lo, hi, own)
			require.NoError(t, err)
			require.True(t, slices.IsSorted(tab.Names), "names in order")
			require.Len(t, tab.Counts, len(tab.Names))
			cols := map[string]int{}
			for j, name := range tab.Names {
				require.Len(t, tab.Counts[j], len(ids))
				require.NotZero(t, slices.Max(tab.Counts[j]), "a name is listed only when some account sent it")
				for i, n := range tab.Counts[j] {
					if n != 0 {
						cols[ids[i]+"/"+name] = int(n)
					}
				}
			}
			require.Equal(t, wider, cols, what+" (in columns)")
			tab, err = s.BehaviourColumns(ctx, []string{"acct1"}, lo, hi, own)
			require.NoError(t, err)
			one := map[string]int{}
			for j, name := range tab.Names {
				one["acct1/"+name] = int(tab.Counts[j][0])
			}
			only1 := map[string]int{}
			for k, n := range narrow {
				if strings.HasPrefix(k, "acct1/") {
					only1[k] = n
				}
			}
			require.Equal(t, only1, one, what+" (in columns, one account of those with events)")
		}
		check("after ingestion")
		unattributed := rawBehaviourCounts(t, s, from, to)

		// u-late joins acct2: its earlier events move onto acct2.
		late := t0.Add(time.Hour)
		_, err := s.Ingest(ctx, "wk", []store.Message{{Type: "identify", MessageID: "link", UserID: "u-late", GroupID: "acct2",
			Timestamp: late, ReceivedAt: late}})
		require.NoError(t, err)
		require.NoError(t, s.WaitIdle(ctx))
		require.Greater(t, rawBehaviourCounts(t, s, from, to)["acct2/Login"], unattributed["acct2/Login"],
			"the linked contact's logins now count for acct2")
		check("after a reattribution")

		// Retention drops the events received in the first 40 days.
		require.NoError(t, s.SetHealthBasesThrough(ctx, 1<<40, t0))
		st, err := s.DropEventsBefore(ctx, start.Add(40*day))
		require.NoError(t, err)
		require.Positive(t, st.Events)
		check("after retention")

		// An upgrade: the blocks are empty and filled from the events.
		kept := rawBehaviourCounts(t, s, from, to)
		_, err = s.DB().ExecContext(ctx, "DELETE FROM behaviour_blocks")
		require.NoError(t, err)
		_, err = s.DB().ExecContext(ctx, "UPDATE behaviour_backfill SET through = 0, boundary = (SELECT MAX(id) FROM events)")
		require.NoError(t, err)
		check("before the backfill (the events it has not reached are read)")
		// The stage runner fills them too when idle: whoever does a chunk,
		// it is done once.
		_, err = s.BackfillBehaviours(ctx)
		require.NoError(t, err)
		through, boundary, err := s.BehaviourBackfill(ctx)
		require.NoError(t, err)
		require.Positive(t, boundary)
		require.Equal(t, boundary, through, "the backfill is complete")
		check("after the backfill")

		_, err = s.DB().ExecContext(ctx, "DELETE FROM events")
		require.NoError(t, err)
		require.Equal(t, kept, keptBehaviourCounts(t, s, from, to), "the kept counts stand without the events")
	})
}
