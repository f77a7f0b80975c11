package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
)

// TestBackupMidIngestionRestores takes a backup while events are being
// ingested, restores it into another data directory and finds there every
// event acknowledged before the backup started.
func TestBackupMidIngestionRestores(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := store.Config{Data: t.TempDir()}
	s, err := store.Open(ctx, src)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })

	var (
		mu    sync.Mutex
		acked []string
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	for w := range 2 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				var batch []store.Message
				for j := range 20 {
					id := fmt.Sprintf("w%d-%d-%d", w, i, j)
					now := time.Now().UTC()
					batch = append(batch, store.Message{Type: "track", MessageID: id, UserID: "u", Name: "Report Viewed",
						Timestamp: now, ReceivedAt: now})
				}
				if _, err := s.Ingest(ctx, "key_test", batch); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, m := range batch {
					acked = append(acked, m.MessageID)
				}
				mu.Unlock()
			}
		})
	}
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 2000 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	before := append([]string(nil), acked...)
	mu.Unlock()
	file := filepath.Join(t.TempDir(), "moments-backup.db")
	require.NoError(t, store.Backup(ctx, src, file))
	time.Sleep(50 * time.Millisecond) // ingestion goes on after the backup
	stop.Store(true)
	wg.Wait()

	require.ErrorContains(t, store.Backup(ctx, src, file), "already exists", "a backup never overwrites a file")
	require.ErrorIs(t, store.Restore(ctx, src, file), store.ErrDatabaseInUse, "the running database is not overwritten")

	dst := store.Config{Data: t.TempDir()}
	require.NoError(t, store.Restore(ctx, dst, file))
	r, err := store.Open(ctx, dst)
	require.NoError(t, err)
	defer r.Close()
	n, err := r.CountEvents(ctx)
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, int64(len(before)))
	db, err := sql.Open("sqlite", filepath.Join(dst.Data, "moments.db"))
	require.NoError(t, err)
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SELECT message_id FROM events")
	require.NoError(t, err)
	restored := map[string]bool{}
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		restored[id] = true
	}
	require.NoError(t, rows.Err())
	for _, id := range before {
		require.True(t, restored[id], "event %s was acknowledged before the backup", id)
	}
	t.Logf("%d events acknowledged before the backup, %d in it, %d ingested in all", len(before), n, len(acked))
}

func TestBackupOnPostgresSaysUsePgDump(t *testing.T) {
	t.Parallel()
	err := store.Backup(context.Background(), store.Config{DB: "postgres://localhost/moments"}, filepath.Join(t.TempDir(), "x"))
	require.ErrorContains(t, err, "pg_dump")
	err = store.Restore(context.Background(), store.Config{DB: "postgres://localhost/moments"}, filepath.Join(t.TempDir(), "x"))
	require.ErrorContains(t, err, "pg_restore")
}
