package playbook

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// TestTwoProcessesOnePostgres runs two engines (two server processes) on
// one PostgreSQL database: every run's task is created once and every
// email sent once, though both dispatch and work the same steps.
func TestTwoProcessesOnePostgres(t *testing.T) {
	t.Parallel()
	if os.Getenv(storetest.EnvPostgres) == "" {
		t.Skip(storetest.EnvPostgres + " is not set")
	}
	ctx := context.Background()
	cfgStore := storetest.Config(t, store.Postgres)
	mail := startMailServer(t)
	clk := newClock()
	cfg := fastConfig()
	cfg.SMTP = mail.config()
	var engines []*Engine
	var stores []*store.Store
	for range 2 {
		st, err := store.Open(ctx, cfgStore)
		require.NoError(t, err)
		t.Cleanup(func() { st.Close() })
		stores = append(stores, st)
	}
	applyMap(t, stores[0], "http://127.0.0.1:1/hook")
	for _, st := range stores {
		engines = append(engines, newEngine(t, st, journey.NewLive(st), clk, cfg))
	}
	const n = 40
	ids := make([]string, n)
	for i := range n {
		acct := fmt.Sprintf("acct-%02d", i)
		seedAccount(t, stores[i%2], acct, nil)
		// Both processes are asked to start the same occurrence.
		var (
			wg sync.WaitGroup
			mu sync.Mutex
		)
		for _, e := range engines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id, _, err := e.Launch(ctx, RunRequest{AccountID: acct, MomentID: "mailer", Occurrence: "o", MapVersion: 1,
					Trigger: TriggerVendor, ContactID: "sponsor-" + acct})
				require.NoError(t, err)
				mu.Lock()
				ids[i] = id
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	for _, id := range ids {
		waitRun(t, stores[0], id, status(store.RunDone))
	}
	count, err := stores[0].CountRuns(ctx, "", "mailer")
	require.NoError(t, err)
	require.Equal(t, n, count)
	require.Len(t, mail.received(), n, "one email per run, though two processes worked the queue")
}

// TestLatencyStartToTask measures, on SQLite, how long a started run takes
// to make its task visible, while events are being ingested. Opt-in:
// MOMENTS_BENCH=1.
func TestLatencyStartToTask(t *testing.T) {
	if os.Getenv("MOMENTS_BENCH") == "" {
		t.Skip("set MOMENTS_BENCH=1 to measure")
	}
	ctx := context.Background()
	st := storetest.Open(t, store.SQLite)
	live := applyMap(t, st, "http://127.0.0.1:1/hook")
	e := newEngine(t, st, live, newClock(), Config{})
	seedAccount(t, st, "acme", nil)
	stop := make(chan struct{})
	var ingest sync.WaitGroup
	ingest.Add(1)
	go func() {
		defer ingest.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			now := time.Now().UTC()
			msgs := make([]store.Message, 50)
			for k := range msgs {
				msgs[k] = store.Message{Type: "track", MessageID: fmt.Sprintf("load-%d-%d", i, k), UserID: "u", GroupID: "load",
					Name: "Page Viewed", Timestamp: now, ReceivedAt: now}
			}
			_, _ = st.Ingest(ctx, "wk", msgs)
		}
	}()
	var lat []time.Duration
	for i := range 200 {
		start := time.Now()
		id, _, err := e.Launch(ctx, RunRequest{AccountID: "acme", MomentID: "rescue", Occurrence: fmt.Sprint(i), MapVersion: 1, Trigger: TriggerCSM})
		require.NoError(t, err)
		for {
			tasks, _, err := st.ListTasks(ctx, store.TaskFilter{RunID: id}, time.Now(), store.Page{})
			require.NoError(t, err)
			if len(tasks) > 0 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		lat = append(lat, time.Since(start))
	}
	close(stop)
	ingest.Wait()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("start → task visible (branch step, then task step), 200 runs under ingestion load: p50 %s, p99 %s, max %s",
		lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
}
