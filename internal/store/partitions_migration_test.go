package store_test

import (
	"context"
	"database/sql"
	"io/fs"
	"strconv"
	"testing"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// TestMigrationAttachesTheEventsTable: an installation upgraded with
// events in an unpartitioned table keeps them, in the same table (not a
// copy) attached as the first partition with its indexes, deduplicates
// them as before, stores new events in new partitions, and retention
// deletes ranges of the old table until all of it may go, then drops it
// whole.
func TestMigrationAttachesTheEventsTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := storetest.Config(t, store.Postgres)
	cfg.EventPartitionSpan = 100
	db, err := sql.Open("pgx", cfg.DB)
	require.NoError(t, err)
	defer db.Close()

	// The schema before partitions, with 1,000 events: the first 500
	// received on t0, the others 100 days later.
	fsys, err := fs.Sub(store.Migrations, "migrations/postgres")
	require.NoError(t, err)
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys, goose.WithDisableGlobalRegistry(true))
	require.NoError(t, err)
	_, err = p.UpTo(ctx, 21)
	require.NoError(t, err)
	t1 := t0.Add(100 * 24 * time.Hour)
	keys := make([][]byte, 1000)
	for i := range keys {
		keys[i] = store.MessageKey("wk", "m"+strconv.Itoa(i+1))
	}
	_, err = db.Exec(`INSERT INTO events (message_id, dedupe_key, write_key_id, type, name, user_id, account_id, timestamp, received_at)
		SELECT 'm' || i, k, 'wk', 'track', 'X', 'u', 'a', $1::bigint, CASE WHEN i <= 500 THEN $1::bigint ELSE $2::bigint END
		FROM unnest($3::bytea[]) WITH ORDINALITY AS x(k, i) ORDER BY i`, t0.UnixMicro(), t1.UnixMicro(), keys)
	require.NoError(t, err)
	_, err = db.Exec("INSERT INTO message_keys SELECT dedupe_key FROM events")
	require.NoError(t, err)
	var file int64
	require.NoError(t, db.QueryRow("SELECT relfilenode FROM pg_class WHERE oid = 'events'::regclass").Scan(&file))

	s, err := store.Open(ctx, cfg)
	require.NoError(t, err)
	defer s.Close()
	s.OnIngest(func(context.Context, *sql.Tx, []store.Event) error { return nil })
	parts, err := store.EventPartitions(ctx, db)
	require.NoError(t, err)
	require.Equal(t, []string{"events_legacy [MIN,1001)", "events_p1001 [1001,1101)"}, parts,
		"the old table holds the ids below the sequence; new ids go to new partitions")
	var legacyFile int64
	require.NoError(t, db.QueryRow("SELECT relfilenode FROM pg_class WHERE oid = 'events_legacy'::regclass").Scan(&legacyFile))
	require.Equal(t, file, legacyFile, "the table is attached, not copied")
	var attached []string
	rows, err := db.Query(`SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		JOIN pg_class pc ON pc.oid = i.inhparent WHERE pc.relkind = 'I' AND c.relname LIKE '%legacy%'
		AND c.relnamespace = current_schema()::regnamespace ORDER BY 1`)
	require.NoError(t, err)
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		attached = append(attached, n)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"events_account_legacy", "events_group_legacy", "events_legacy_pkey", "events_survey_responded_legacy"}, attached,
		"its indexes are attached to the partitioned ones")

	old := store.Message{Type: "track", Name: "X", MessageID: "m7", UserID: "u", GroupID: "a", Timestamp: t1, ReceivedAt: t1}
	res, err := s.Ingest(ctx, "wk", []store.Message{old})
	require.NoError(t, err)
	require.Equal(t, store.IngestResult{Duplicates: 1}, res, "an event stored before the upgrade still deduplicates")
	fresh := old
	fresh.MessageID = "new"
	res, err = s.Ingest(ctx, "wk", []store.Message{fresh})
	require.NoError(t, err)
	require.Equal(t, store.IngestResult{Stored: 1}, res)
	var id int64
	require.NoError(t, db.QueryRow("SELECT id FROM events_p1001").Scan(&id))
	require.EqualValues(t, 1001, id, "ids go on from the sequence")

	require.NoError(t, s.WaitIdle(ctx))
	require.NoError(t, s.SetHealthBasesThrough(ctx, 1<<40, t1))
	st, err := s.DropEventsBefore(ctx, t0.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, store.DropStats{Events: 500, Through: 500, Ranges: 1}, st, "the old table's ranges are deleted while some of it is kept")
	st, err = s.DropEventsBefore(ctx, t1.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, store.DropStats{Events: 500, Through: 1000, Partitions: 1}, st, "then it is dropped whole")
	var left int
	require.NoError(t, db.QueryRow("SELECT count(*) FROM message_keys").Scan(&left))
	require.Equal(t, 1, left, "only the new event's key is left")
	parts, err = store.EventPartitions(ctx, db)
	require.NoError(t, err)
	require.Equal(t, []string{"events_p1001 [1001,1101)"}, parts)
}
