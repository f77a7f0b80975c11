package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

func TestDropEventsBeforeKeepsUnconsumedEventsAndDedupe(t *testing.T) {
	t.Parallel()
	// SQLite keeps the newest keys in memory until mergeEvery of them are
	// merged into message_keys: 7 drops merged keys, 35 keys still in
	// memory.
	for _, mergeEvery := range []int{7, 35} {
		for _, d := range storetest.Dialects() {
			t.Run(fmt.Sprint(d, "/merge every ", mergeEvery), func(t *testing.T) {
				t.Parallel()
				testDropEvents(t, d, mergeEvery)
			})
		}
	}
}

func testDropEvents(t *testing.T, d store.Dialect, mergeEvery int) {
	ctx := context.Background()
	cfg := storetest.Config(t, d)
	cfg.DedupeMergeEvery = mergeEvery
	// On PostgreSQL, partitions of ten ids: the drops below go by whole
	// partitions ([1,11) and [11,21), then [21,31)).
	cfg.EventPartitionSpan = 10
	s, err := store.Open(ctx, cfg)
	require.NoError(t, err)
	var hold atomic.Bool
	s.OnIngest(func(context.Context, *sql.Tx, []store.Event) error {
		if hold.Load() {
			return errors.New("held by the test")
		}
		return nil
	})
	t1 := t0.Add(100 * 24 * time.Hour)
	batch := func(from, to int, at time.Time) []store.Message {
		var out []store.Message
		for i := from; i < to; i++ {
			m := track(fmt.Sprint("m", i), "u", "a", "X")
			m.ReceivedAt, m.Timestamp = at, at
			out = append(out, m)
		}
		return out
	}
	count := func() int64 {
		n, err := s.CountEvents(ctx)
		require.NoError(t, err)
		return n
	}
	cutoff := t0.Add(30 * 24 * time.Hour)

	_, err = s.Ingest(ctx, "wk", batch(0, 20, t0))
	require.NoError(t, err)
	require.NoError(t, s.WaitIdle(ctx))
	hold.Store(true) // the stages stop consuming
	_, err = s.Ingest(ctx, "wk", batch(20, 30, t0))
	require.NoError(t, err)

	st, err := s.DropEventsBefore(ctx, cutoff)
	require.NoError(t, err)
	require.Zero(t, st.Events, "nothing is dropped before a health recompute has folded the events into the accounts' bases")
	// The daily recompute has folded every event into the bases.
	require.NoError(t, s.SetHealthBasesThrough(ctx, 1<<40, t1))
	st, err = s.DropEventsBefore(ctx, cutoff)
	require.NoError(t, err)
	require.EqualValues(t, 20, st.Events, "old events the stages consumed are dropped")
	require.EqualValues(t, 10, count(), "old events the stages have not consumed are kept")

	res, err := s.Ingest(ctx, "wk", append(batch(0, 5, t1), batch(20, 25, t1)...))
	require.NoError(t, err)
	require.Equal(t, store.IngestResult{Stored: 5, Duplicates: 5}, res,
		"a message whose event was dropped is stored again; kept events still deduplicate")

	hold.Store(false)
	require.NoError(t, s.WaitIdle(ctx))
	_, err = s.Ingest(ctx, "wk", batch(30, 40, t1))
	require.NoError(t, err)
	require.NoError(t, s.WaitIdle(ctx))
	st, err = s.DropEventsBefore(ctx, cutoff)
	require.NoError(t, err)
	require.EqualValues(t, 10, st.Events, "the old events drop once consumed")
	require.EqualValues(t, 15, count(), "events received after the cutoff stay")
	st, err = s.DropEventsBefore(ctx, cutoff)
	require.NoError(t, err)
	require.Zero(t, st.Events, "nothing is left to drop")

	res, err = s.Ingest(ctx, "wk", batch(0, 40, t1))
	require.NoError(t, err)
	require.Equal(t, store.IngestResult{Stored: 25, Duplicates: 15}, res,
		"exactly the kept events deduplicate: m0-m4 (sent again) and m30-m39")
	require.NoError(t, s.Close())

	s, err = store.Open(ctx, cfg)
	require.NoError(t, err)
	defer s.Close()
	res, err = s.Ingest(ctx, "wk", batch(0, 40, t1))
	require.NoError(t, err)
	require.Equal(t, store.IngestResult{Duplicates: 40}, res, "after a restart every kept event still deduplicates")
}

// TestDropEventsBeforeKeepsTheIdsRising: when every event is old enough
// to drop, the newest is kept (on SQLite, where a new row's id is one past
// the largest present), so events stored after the drop get ids past the
// stages' progress and reach them.
func TestDropEventsBeforeKeepsTheIdsRising(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			cfg := storetest.Config(t, d)
			cfg.EventPartitionSpan = 10
			s, err := store.Open(ctx, cfg)
			require.NoError(t, err)
			defer s.Close()
			var seen atomic.Int64
			s.OnIngest(func(_ context.Context, _ *sql.Tx, evs []store.Event) error {
				seen.Add(int64(len(evs)))
				return nil
			})
			var old []store.Message
			for i := range 25 {
				m := track(fmt.Sprint("m", i), "u", "a", "X")
				m.ReceivedAt, m.Timestamp = t0, t0
				old = append(old, m)
			}
			_, err = s.Ingest(ctx, "wk", old)
			require.NoError(t, err)
			require.NoError(t, s.WaitIdle(ctx))
			last, err := s.LastEventID(ctx)
			require.NoError(t, err)
			require.NoError(t, s.SetHealthBasesThrough(ctx, 1<<40, t0.Add(100*24*time.Hour)))
			_, err = s.DropEventsBefore(ctx, t0.Add(30*24*time.Hour))
			require.NoError(t, err)

			later := track("new", "u", "a", "X")
			_, err = s.Ingest(ctx, "wk", []store.Message{later})
			require.NoError(t, err)
			require.NoError(t, s.WaitIdle(ctx))
			require.EqualValues(t, 26, seen.Load(), "the event stored after the drop reaches the stages")
			next, err := s.LastEventID(ctx)
			require.NoError(t, err)
			require.Greater(t, next, last, "ids never go back")
		})
	}
}

// TestDropEventsBeforeKeepsQueuedReattributions: an event that joined an
// account after it was consumed waits in reattributed_events for the
// stages, and is not dropped until they have handed it on.
func TestDropEventsBeforeKeepsQueuedReattributions(t *testing.T) {
	t.Parallel()
	// On PostgreSQL one partition of three ids holds the three events.
	eachWithSpan(t, 3, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var hold atomic.Bool
		s.OnIngest(func(context.Context, *sql.Tx, []store.Event) error {
			if hold.Load() {
				return errors.New("held by the test")
			}
			return nil
		})
		_, err := s.Ingest(ctx, "wk", []store.Message{track("t1", "u1", "", "Login"), track("t2", "u2", "", "Login")})
		require.NoError(t, err)
		require.NoError(t, s.WaitIdle(ctx))
		require.NoError(t, s.SetHealthBasesThrough(ctx, 1<<40, t0))
		hold.Store(true)
		// u1 joins acme: its Login waits for the stages as acme's.
		_, err = s.Ingest(ctx, "wk", []store.Message{{Type: "group", MessageID: "g1", UserID: "u1", GroupID: "acme", Timestamp: t0, ReceivedAt: t0}})
		require.NoError(t, err)

		cutoff := t0.Add(time.Hour)
		st, err := s.DropEventsBefore(ctx, cutoff)
		require.NoError(t, err)
		require.Zero(t, st.Events, "t1 waits as a reattribution; nothing after it may go either")
		hold.Store(false)
		require.NoError(t, s.WaitIdle(ctx))
		st, err = s.DropEventsBefore(ctx, cutoff)
		require.NoError(t, err)
		if s.Dialect() == store.SQLite {
			require.EqualValues(t, 2, st.Events, "once the stages have it, t1 and t2 go; SQLite keeps its newest event, the group call")
		} else {
			require.EqualValues(t, 3, st.Events, "once the stages have it, t1, t2 and the group call go")
		}
	})
}

// eachWithSpan is storetest.Each with partitions of events of span ids
// on PostgreSQL.
func eachWithSpan(t *testing.T, span int64, f func(t *testing.T, s *store.Store)) {
	storetest.EachConfig(t, func(c *store.Config) { c.EventPartitionSpan = span }, f)
}
