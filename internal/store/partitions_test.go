package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// openPartitioned opens a fresh PostgreSQL store whose partitions of
// events hold span ids.
func openPartitioned(t *testing.T, span int64) *store.Store {
	t.Helper()
	cfg := storetest.Config(t, store.Postgres)
	cfg.EventPartitionSpan = span
	s, err := store.Open(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	// A stage, so that the events are consumed (and may be dropped).
	s.OnIngest(func(context.Context, *sql.Tx, []store.Event) error { return nil })
	return s
}

// partitionsOf returns the partitions of events and the tables left
// detached beside them (events_p…, attached to nothing).
func partitionsOf(t *testing.T, db *sql.DB) (attached, detached int) {
	t.Helper()
	require.NoError(t, db.QueryRow(`SELECT
		(SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass),
		(SELECT count(*) FROM pg_class c WHERE c.relname LIKE 'events\_p%' AND c.relkind = 'r'
			AND c.relnamespace = current_schema()::regnamespace
			AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid))`).Scan(&attached, &detached))
	return attached, detached
}

func messages(from, to int, at time.Time) []store.Message {
	var out []store.Message
	for i := from; i < to; i++ {
		m := track(fmt.Sprint("m", i), fmt.Sprint("u", i%3), "a", "X")
		m.ReceivedAt, m.Timestamp = at, at
		out = append(out, m)
	}
	return out
}

// TestRetentionDropsWholePartitions: on PostgreSQL retention detaches and
// drops partitions of events whole — no DELETE on events at all — and
// with them exactly the dedupe keys of their events.
func TestRetentionDropsWholePartitions(t *testing.T) {
	t.Parallel()
	s := openPartitioned(t, 10)
	ctx := context.Background()
	db := s.DB()
	// Any DELETE on events fails the retention run.
	_, err := db.Exec(`CREATE FUNCTION refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'DELETE on events'; END $$;
		CREATE TRIGGER events_no_delete BEFORE DELETE ON events FOR EACH STATEMENT EXECUTE FUNCTION refuse_delete()`)
	require.NoError(t, err)

	t1 := t0.Add(100 * 24 * time.Hour)
	for from := 0; from < 35; from += 7 { // ids 1-35, across partitions
		_, err := s.Ingest(ctx, "wk", messages(from, from+7, t0))
		require.NoError(t, err)
	}
	_, err = s.Ingest(ctx, "wk", messages(35, 45, t1)) // ids 36-45
	require.NoError(t, err)
	require.NoError(t, s.WaitIdle(ctx))
	require.NoError(t, s.SetHealthBasesThrough(ctx, 1<<40, t1))
	before, _ := partitionsOf(t, db)
	// A server stopped right after detaching [1,11) left its drop
	// unfinished: the next run finishes it.
	_, err = db.Exec("INSERT INTO event_partition_drops (name, through) VALUES ('events_p1', -9223372036854775808)")
	require.NoError(t, err)
	_, err = db.Exec("ALTER TABLE events DETACH PARTITION events_p1")
	require.NoError(t, err)

	st, err := s.DropEventsBefore(ctx, t0.Add(30*24*time.Hour))
	require.NoError(t, err)
	require.Equal(t, store.DropStats{Events: 30, Through: 30, Partitions: 3}, st,
		"[1,11) (left detached), [11,21) and [21,31) go whole; [31,41) holds events received after the cutoff")
	after, detached := partitionsOf(t, db)
	require.Equal(t, before-3, after)
	require.Zero(t, detached, "the detached partitions are dropped")
	n, err := s.CountEvents(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 15, n)
	var keys int
	require.NoError(t, db.QueryRow("SELECT count(*) FROM message_keys").Scan(&keys))
	require.Equal(t, 15, keys, "the keys of the dropped events are gone, those of the kept ones stay")

	res, err := s.Ingest(ctx, "wk", messages(25, 45, t1))
	require.NoError(t, err)
	require.Equal(t, store.IngestResult{Stored: 5, Duplicates: 15}, res,
		"m25-m29 were dropped and are stored again; m30-m44 are kept and deduplicate")
}

// TestIngestionCreatesMissingPartitions: a batch whose ids run past the
// last partition, and one whose ids the sequence moved past every
// partition (as other servers would), are stored whole.
func TestIngestionCreatesMissingPartitions(t *testing.T) {
	t.Parallel()
	s := openPartitioned(t, 10)
	ctx := context.Background()
	db := s.DB()
	before, _ := partitionsOf(t, db)
	res, err := s.Ingest(ctx, "wk", messages(0, 25, t0))
	require.NoError(t, err)
	require.Equal(t, store.IngestResult{Stored: 25}, res)
	after, _ := partitionsOf(t, db)
	require.Greater(t, after, before, "the batch of 25 ids got partitions of 10")

	// Other servers drew ids far past the partitions: the insert finds
	// none, the committer creates them and commits again.
	var upper int64
	require.NoError(t, db.QueryRow(`SELECT max(substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''(\d+)''\)')::bigint)
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass`).Scan(&upper))
	_, err = db.Exec("SELECT setval('events_id_seq', $1)", upper+100)
	require.NoError(t, err)
	res, err = s.Ingest(ctx, "wk", messages(20, 30, t0))
	require.NoError(t, err)
	require.Equal(t, store.IngestResult{Stored: 5, Duplicates: 5}, res, "a retried commit still deduplicates")
	var lo, hi int64
	require.NoError(t, db.QueryRow("SELECT min(id), max(id) FROM events WHERE id > $1", upper).Scan(&lo, &hi))
	require.Greater(t, lo, upper+100, "the ids follow the sequence")
	require.EqualValues(t, 4, hi-lo, "the five events, in one retried insert")
	n, err := s.CountEvents(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 30, n)
	require.NoError(t, s.WaitIdle(ctx))
}
