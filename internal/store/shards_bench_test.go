package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// TestStageThroughputByServers measures how fast the ingest stages work
// off a backlog on PostgreSQL with one server and with three (stores in
// this process, each with its own runner, sharing the shards), alternated
// in one run. The stage writes what the real ones write per event and per
// account: a row per event and an upsert per account and batch. Opt-in:
// MOMENTS_BENCH_STAGES=events (e.g. 20000) and the PostgreSQL URL.
//
//	MOMENTS_BENCH_STAGES=20000 MOMENTS_TEST_POSTGRES_URL=… go test ./internal/store -run TestStageThroughputByServers -count 1 -v
func TestStageThroughputByServers(t *testing.T) {
	n := 0
	if _, err := fmt.Sscan(os.Getenv("MOMENTS_BENCH_STAGES"), &n); err != nil || n <= 0 {
		t.Skip("set MOMENTS_BENCH_STAGES to the events of the backlog")
	}
	ctx := context.Background()
	stage := func(ctx context.Context, tx *sql.Tx, events []store.Event) error {
		byAcct := map[string]int{}
		for _, e := range events {
			if _, err := tx.ExecContext(ctx, "INSERT INTO bench_seen (event_id, account_id) VALUES ($1, $2)", e.ID, e.AccountID); err != nil {
				return err
			}
			byAcct[e.AccountID]++
		}
		for a, k := range byAcct {
			if _, err := tx.ExecContext(ctx, `INSERT INTO bench_accounts (id, n) VALUES ($1, $2)
				ON CONFLICT (id) DO UPDATE SET n = bench_accounts.n + excluded.n`, a, k); err != nil {
				return err
			}
		}
		return nil
	}
	for _, round := range []int{1, 3, 1, 3, 1, 3} {
		cfg := storetest.Config(t, store.Postgres)
		// The backlog, stored by a store without stages.
		loader, err := store.Open(ctx, cfg)
		require.NoError(t, err)
		_, err = loader.DB().Exec("CREATE TABLE bench_seen (event_id BIGINT PRIMARY KEY, account_id TEXT NOT NULL)")
		require.NoError(t, err)
		_, err = loader.DB().Exec("CREATE TABLE bench_accounts (id TEXT PRIMARY KEY, n BIGINT NOT NULL)")
		require.NoError(t, err)
		for b := 0; b < n/100; b++ {
			msgs := make([]store.Message, 0, 100)
			for i := 0; i < 100; i++ {
				acct := fmt.Sprintf("acct-%d", (b*7+i)%500)
				msgs = append(msgs, track(fmt.Sprintf("b%d-m%d", b, i), "u-"+acct+fmt.Sprint(i%3), acct, "Report Created"))
			}
			_, err := loader.Ingest(ctx, "wk", msgs)
			require.NoError(t, err)
		}
		require.NoError(t, loader.Close())
		var servers []*store.Store
		for i := 0; i < round; i++ {
			s, err := store.Open(ctx, cfg)
			require.NoError(t, err)
			s.OnIngest(stage)
			servers = append(servers, s)
		}
		for _, s := range servers {
			s.StartIngestStages()
		}
		// Measured once every server holds shards (the first one to start
		// holds all of them for its first round): the steady rate.
		var began time.Time
		var before int64
		for {
			ready, total := true, int64(0)
			for _, s := range servers {
				held, consumed := s.StageShards()
				ready = ready && len(held) > 0
				total += consumed
			}
			if ready {
				began, before = time.Now(), total
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		for _, s := range servers {
			require.NoError(t, s.WaitIdle(ctx))
		}
		took := time.Since(began)
		var seen int
		require.NoError(t, servers[0].DB().QueryRow("SELECT count(*) FROM bench_seen").Scan(&seen))
		require.Equal(t, n/100*100, seen)
		var parts []string
		for _, s := range servers {
			held, consumed := s.StageShards()
			parts = append(parts, fmt.Sprintf("%d shards/%d events", len(held), consumed))
			require.NoError(t, s.Close())
		}
		t.Logf("%d server(s): %d events (%d before all held shards) in %v = %.0f events/s (%s)", round, seen, before,
			took.Round(time.Millisecond), float64(int64(seen)-before)/took.Seconds(), strings.Join(parts, ", "))
	}
}
