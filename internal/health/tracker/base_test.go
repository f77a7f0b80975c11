package tracker_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// TestRecomputeFromBases: a recompute that starts from the bases the
// previous one kept reads only the events stored since, and leaves every
// account exactly as a rebuild from all events does; an account whose
// earlier events join it later (a contact linked to it afterwards), and
// every account after a change of the health model, are rebuilt from all
// their events.
func TestRecomputeFromBases(t *testing.T) {
	t.Parallel()
	const n = 400
	traits, batches := generate(n, 3)
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		_, err := st.Ingest(ctx, "wk", traits)
		require.NoError(t, err)
		half := len(batches) / 2
		for _, b := range batches[:half] {
			_, err := st.Ingest(ctx, "wk", b)
			require.NoError(t, err)
		}
		// The first recompute has no bases; on PostgreSQL the second is the
		// first that may bring them up to the events of the first.
		require.NoError(t, st.WaitIdle(ctx)) // the stages act after the acknowledgement
		first, err := f.tr.Recompute(ctx)
		require.NoError(t, err)
		require.Equal(t, n, first.Rebuilt)
		require.NoError(t, st.WaitIdle(ctx))
		_, err = f.tr.Recompute(ctx)
		require.NoError(t, err)

		later := 0
		for _, b := range batches[half:] {
			_, err := st.Ingest(ctx, "wk", b)
			require.NoError(t, err)
			later += len(b)
		}
		// An event of a contact not yet linked to any account, and the link.
		_, err = st.Ingest(ctx, "wk", []store.Message{track("loner", "", "Report Created", t0.Add(-2*day), nil)})
		require.NoError(t, err)
		require.NoError(t, st.WaitIdle(ctx))
		_, err = f.tr.Recompute(ctx)
		require.NoError(t, err)
		unlinked := snap(t, st, n)
		_, err = st.Ingest(ctx, "wk", []store.Message{identify("loner", "acct-00007", "user")})
		require.NoError(t, err)

		require.NoError(t, st.WaitIdle(ctx))
		stats, err := f.tr.Recompute(ctx)
		require.NoError(t, err)
		require.Equal(t, n, stats.Accounts)
		require.Equal(t, 1, stats.Rebuilt, "only the account whose contact was linked")
		require.Equal(t, 0, stats.Redone)
		fromBases := snap(t, st, n)

		// A rebuild from every event agrees on every aggregate and state.
		require.NoError(t, st.WaitIdle(ctx))
		all, err := f.tr.Rebuild(ctx)
		require.NoError(t, err)
		require.Equal(t, n, all.Rebuilt)
		require.Less(t, stats.Events, all.Events/2, "the recompute from bases read only the later events")
		require.Greater(t, stats.Events, int64(0))
		rebuilt := snap(t, st, n)
		for i := range n {
			id := fmt.Sprintf("acct-%05d", i)
			require.Equal(t, rebuilt.agg[id], fromBases.agg[id], id)
			require.Equal(t, rebuilt.state[id], fromBases.state[id], id)
		}
		require.Equal(t, activity(unlinked, "acct-00007")+1, activity(fromBases, "acct-00007"), "the linked contact's event counts")

		// A changed health model: every account is rebuilt from its events.
		data, err := os.ReadFile("testdata/map.yaml")
		require.NoError(t, err)
		changed := strings.Replace(string(data), "usage_drop: {window_days: 14", "usage_drop: {window_days: 21", 1)
		require.NotEqual(t, string(data), changed)
		_, err = f.live.Apply(ctx, "map.yaml", []byte(changed), "test")
		require.NoError(t, err)
		require.NoError(t, st.WaitIdle(ctx))
		after, err := f.tr.Recompute(ctx)
		require.NoError(t, err)
		require.Equal(t, n, after.Rebuilt)
		require.Equal(t, all.Events, after.Events)
	})
}

// activity sums an account's daily activity counts.
func activity(s snapshot, id string) int {
	n := 0
	for _, d := range s.agg[id].Days {
		n += d.Count
	}
	return n
}

// TestRecomputeWhileStagesBehind: events stored but not yet consumed by the
// ingest stages when recomputes run — a new event, and a contact's earlier
// event joining an account — are counted once the stages consume them, by
// the live state and by every later recompute alike: a base kept meanwhile
// must not claim to cover them.
func TestRecomputeWhileStagesBehind(t *testing.T) {
	t.Parallel()
	const n = 50
	traits, batches := generate(n, 4)
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		var hold atomic.Bool
		st.OnIngest(func(context.Context, *sql.Tx, []store.Event) error {
			if hold.Load() {
				return errors.New("held by the test")
			}
			return nil
		})
		ctx := context.Background()
		_, err := st.Ingest(ctx, "wk", traits)
		require.NoError(t, err)
		for _, b := range batches {
			_, err := st.Ingest(ctx, "wk", b)
			require.NoError(t, err)
		}
		require.NoError(t, st.WaitIdle(ctx))
		_, err = f.tr.Recompute(ctx)
		require.NoError(t, err)

		// One event the stages consume, which moves the account's base at
		// the next recompute, and one they do not consume yet.
		_, err = st.Ingest(ctx, "wk", []store.Message{track("acct-00003-u0", "acct-00003", "Report Created", t0.Add(-2*time.Hour), nil)})
		require.NoError(t, err)
		require.NoError(t, st.WaitIdle(ctx))
		// An event of a contact not yet linked to any account, consumed as
		// such.
		_, err = st.Ingest(ctx, "wk", []store.Message{track("loner", "", "Report Created", t0.Add(-2*day), nil)})
		require.NoError(t, err)
		require.NoError(t, st.WaitIdle(ctx))
		hold.Store(true) // the stages fall behind: every round fails
		_, err = st.Ingest(ctx, "wk", []store.Message{track("acct-00003-u0", "acct-00003", "Report Created", t0.Add(-time.Hour), nil)})
		require.NoError(t, err)
		// The contact joins acct-00007: its event waits for the stages as
		// acct-00007's.
		_, err = st.Ingest(ctx, "wk", []store.Message{identify("loner", "acct-00007", "user")})
		require.NoError(t, err)
		// Two recomputes: on PostgreSQL the second is the first whose bases
		// may reach the new event's id.
		for range 2 {
			_, err = f.tr.Recompute(ctx)
			require.NoError(t, err)
		}
		before := snap(t, st, n)
		hold.Store(false)
		require.NoError(t, st.WaitIdle(ctx))
		live := snap(t, st, n)
		require.Equal(t, activity(before, "acct-00003")+1, activity(live, "acct-00003"), "the stages count the event")
		require.NotEqual(t, before.agg["acct-00007"], live.agg["acct-00007"], "the stages count the linked contact's event")
		_, err = f.tr.Recompute(ctx)
		require.NoError(t, err)
		full := snap(t, st, n)
		for i := range n {
			id := fmt.Sprintf("acct-%05d", i)
			require.Equal(t, live.agg[id], full.agg[id], id)
		}
	})
}
