package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// shardCall is one event handed to a server's stages.
type shardCall struct {
	server  int
	id      int64
	account string
	msg     string
}

// TestStageShardsShared runs three stores on one PostgreSQL database: the
// shards are split between them (each holds some, none holds one another
// does), each consumes events, every event reaches the stages exactly once
// and each account's events reach them in id order. The shard SQL computes
// is the shard Go computes.
func TestStageShardsShared(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := storetest.Config(t, store.Postgres) // skips without PostgreSQL
	var mu sync.Mutex
	var calls []shardCall
	var servers []*store.Store
	for i := 0; i < 3; i++ {
		s, err := store.Open(ctx, cfg)
		require.NoError(t, err)
		defer s.Close()
		s.OnIngest(func(_ context.Context, _ *sql.Tx, events []store.Event) error {
			mu.Lock()
			defer mu.Unlock()
			for _, e := range events {
				calls = append(calls, shardCall{server: i, id: e.ID, account: e.AccountID, msg: e.MessageID})
			}
			return nil
		})
		s.StartIngestStages()
		servers = append(servers, s)
	}
	// The leases settle within a few renewals.
	deadline := time.Now().Add(10 * time.Second)
	for {
		all := map[string]int{}
		settled := true
		for _, s := range servers {
			held, _ := s.StageShards()
			if len(held) == 0 {
				settled = false
			}
			for _, h := range held {
				all[h]++
			}
		}
		if settled && len(all) == store.StageShards {
			for h, n := range all {
				require.Equal(t, 1, n, "shard %s held by %d servers", h, n)
			}
			break
		}
		require.True(t, time.Now().Before(deadline), "the shards were not shared: %v", all)
		time.Sleep(50 * time.Millisecond)
	}
	const calls0, per = 20, 50
	ingestOnEach(t, servers, calls0, per, func(n, b, i int) store.Message {
		acct := fmt.Sprintf("acct-%d", (n*per+i)%37)
		return track(fmt.Sprintf("s%d-b%d-m%d", n, b, i), "u-"+acct, acct, "Login")
	})
	mu.Lock()
	defer mu.Unlock()
	seen := map[string]int{}
	lastOf := map[string]int64{}
	perServer := make([]int, len(servers))
	shardServer := map[string]int{}
	for _, c := range calls {
		seen[c.msg]++
		require.Greater(t, c.id, lastOf[c.account], "account %s's events out of order", c.account)
		lastOf[c.account] = c.id
		perServer[c.server]++
		shardServer[store.StageShardOf(c.account)] = c.server
	}
	require.Len(t, seen, len(servers)*calls0*per, "every event reached the stages")
	for m, n := range seen {
		require.Equal(t, 1, n, "event %s reached the stages %d times", m, n)
	}
	t.Logf("events consumed per server: %v", perServer)
	for i, n := range perServer {
		require.Positive(t, n, "server %d consumed no event", i)
		_, consumed := servers[i].StageShards()
		require.EqualValues(t, n, consumed)
	}
	// The shards SQL computes are those Go computes.
	rows, err := servers[0].DB().Query(`SELECT account_id, ('stages/' || mod(('x' || substr(md5(account_id), 1, 7))::bit(28)::int, 16))
		FROM events GROUP BY account_id`)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var acct, shard string
		require.NoError(t, rows.Scan(&acct, &shard))
		require.Equal(t, store.StageShardOf(acct), shard)
	}
	require.NoError(t, rows.Err())
}

// TestStageShardsTakenOver leases every shard to a server that then dies
// (its leases and announcement are left to expire): a live server takes
// them over once they expire, and consumes the events sent meanwhile
// exactly once. A server that stops cleanly hands its shards over at once.
func TestStageShardsTakenOver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := storetest.Config(t, store.Postgres) // skips without PostgreSQL
	s, err := store.Open(ctx, cfg)
	require.NoError(t, err)
	defer s.Close()
	// A dead server's leases, as a kill -9 leaves them.
	lease := store.StageLease.Microseconds()
	_, err = s.DB().Exec(`UPDATE ingest_progress SET owner = 'dead', lease_until = (extract(epoch from clock_timestamp()) * 1000000)::bigint + $1
		WHERE name LIKE 'stages/%'`, lease)
	require.NoError(t, err)
	_, err = s.DB().Exec(`INSERT INTO stage_runners (runner, seen_until) VALUES ('dead', (extract(epoch from clock_timestamp()) * 1000000)::bigint + $1)`, lease)
	require.NoError(t, err)
	var mu sync.Mutex
	got := map[string]int{}
	s.OnIngest(func(_ context.Context, _ *sql.Tx, events []store.Event) error {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range events {
			got[e.MessageID]++
		}
		return nil
	})
	began := time.Now()
	var msgs []store.Message
	for i := 0; i < 100; i++ {
		acct := fmt.Sprintf("acct-%d", i%23)
		msgs = append(msgs, track(fmt.Sprintf("m%d", i), "u-"+acct, acct, "Login"))
	}
	_, err = s.Ingest(ctx, "wk", msgs)
	require.NoError(t, err)
	time.Sleep(300 * time.Millisecond)
	held, _ := s.StageShards()
	require.Empty(t, held, "the dead server's leases have not expired yet")
	mu.Lock()
	require.Empty(t, got, "no shard is free to consume")
	mu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, 3*store.StageLease)
	defer cancel()
	require.NoError(t, s.WaitIdle(wctx))
	took := time.Since(began)
	held, _ = s.StageShards()
	require.Len(t, held, store.StageShards, "the live server holds every shard")
	mu.Lock()
	require.Len(t, got, len(msgs))
	for m, n := range got {
		require.Equal(t, 1, n, "%s handed %d times", m, n)
	}
	mu.Unlock()
	t.Logf("taken over after %v (lease %v)", took, store.StageLease)
	require.Less(t, took, 2*store.StageLease+time.Second)

	// A second server joins: it gets its share; the first stops cleanly
	// and the second holds every shard within a renewal or two.
	s2, err := store.Open(ctx, cfg)
	require.NoError(t, err)
	defer s2.Close()
	s2.OnIngest(func(context.Context, *sql.Tx, []store.Event) error { return nil })
	s2.StartIngestStages()
	waitHeld := func(s *store.Store, n int) {
		deadline := time.Now().Add(2 * store.StageLease)
		for {
			held, _ := s.StageShards()
			if len(held) == n {
				return
			}
			require.True(t, time.Now().Before(deadline), "holds %d shards, not %d", len(held), n)
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitHeld(s2, store.StageShards/2)
	waitHeld(s, store.StageShards/2)
	require.NoError(t, s.Close())
	began = time.Now()
	waitHeld(s2, store.StageShards)
	t.Logf("a clean stop handed over in %v", time.Since(began))
	var owners []string
	rows, err := s2.DB().Query("SELECT DISTINCT owner FROM ingest_progress WHERE name LIKE 'stages/%'")
	require.NoError(t, err)
	for rows.Next() {
		var o string
		require.NoError(t, rows.Scan(&o))
		owners = append(owners, o)
	}
	require.NoError(t, rows.Err())
	sort.Strings(owners)
	require.Len(t, owners, 1)
}
