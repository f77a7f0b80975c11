package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
	"github.com/moments-cs/moments/internal/web/webtest"
)

// BenchmarkServersOnOneDatabase measures what several `moments serve`
// processes on one PostgreSQL database take together through POST
// /v1/batch (batches of 100 realistic track calls, the example map
// applied, so the ingest stages score health and run triggers behind the
// acknowledgements), against one server.
//
// More servers help where each brings CPU of its own, as servers on
// machines of their own do; on this benchmark's machine they would share
// its cores with each other, the database and the senders, and more of
// them would only add overhead (docs/benchmarks.md). So each server runs
// in a CPU cgroup of its own held to MOMENTS_BENCH_SERVER_CPU cores
// (default 0.25), like a small machine, while the database and the
// senders (eight per server) use the rest; it needs Linux, root and a
// writable cgroup file system, and skips otherwise. The reported
// throttled-% (of the scheduler's periods the servers ran in, those in
// which their caps held them back) shows whether the servers' CPU or the
// database set the pace.
//
// MOMENTS_BENCH_SERVERS lists the rounds, by number of servers, in the
// order run (default "1,2,3"; "1,3,1,3" alternates); each round starts
// its servers, warms them up with MOMENTS_BENCH_WARMUP batches (default
// 500) and their stages' work, measures, waits for the ingest stages to
// catch up (catchup-s; events/s-with-stages counts that time too) and
// stops them.
// The database holds MOMENTS_BENCH_PRELOAD events first (default
// 200,000), sent through a server with its derived work done.
//
//	MOMENTS_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	  go test ./cmd/moments -run XXX -bench ServersOnOneDatabase -benchtime 3000x
func BenchmarkServersOnOneDatabase(b *testing.B) {
	cfg := storetest.Config(b, store.Postgres)
	cores := 0.25
	if v, err := strconv.ParseFloat(os.Getenv("MOMENTS_BENCH_SERVER_CPU"), 64); err == nil && v > 0 {
		cores = v
	}
	rounds := []int{1, 2, 3}
	if v := os.Getenv("MOMENTS_BENCH_SERVERS"); v != "" {
		rounds = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			require.NoError(b, err, "MOMENTS_BENCH_SERVERS")
			rounds = append(rounds, n)
		}
	}
	preload := 200_000
	if v, err := strconv.Atoi(os.Getenv("MOMENTS_BENCH_PRELOAD")); err == nil {
		preload = v
	}
	warmup := 500 // batches
	if v, err := strconv.Atoi(os.Getenv("MOMENTS_BENCH_WARMUP")); err == nil && v >= 0 {
		warmup = v
	}
	caps := make([]*cpuCap, slices.Max(rounds))
	for i := range caps {
		c, err := newCPUCap(fmt.Sprintf("moments-bench-server-%d", i), cores)
		if err != nil {
			b.Skipf("cannot hold a server to %.2f cores: %v", cores, err)
		}
		b.Cleanup(c.remove)
		caps[i] = c
	}
	bin, err := buildBinary()
	require.NoError(b, err)
	dirs := make([]string, len(caps))
	for i := range dirs {
		dirs[i] = b.TempDir()
	}
	db := func(i int) []string { return []string{"--data", dirs[i], "--db", cfg.DB} }
	sqlDB, err := sql.Open("pgx", cfg.DB)
	require.NoError(b, err)
	b.Cleanup(func() { sqlDB.Close() })
	cl := &benchClient{db: sqlDB, http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}}

	// The installation: keys, the example map, and the preloaded events
	// with their health and triggers done, through one uncapped server.
	cmd, url, admin, write := startPlaybookServer(b, bin, db(0), nil, true)
	cl.write = write
	raw, err := os.ReadFile("../../examples/b2b-saas.yaml")
	require.NoError(b, err)
	req, _ := http.NewRequest("PUT", url+"/api/v1/journey", bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/yaml")
	req.Header.Set("Authorization", "Bearer "+admin)
	res, err := cl.http.Do(req)
	require.NoError(b, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(b, http.StatusOK, res.StatusCode, "%s", body)
	bodies := make([][]byte, 256)
	for i := range bodies {
		bodies[i] = webtest.BatchBody(1000)
	}
	cl.bodies = bodies
	cl.send(b, []string{url}, 16, preload/100)
	cl.caughtUp(b, 10*time.Minute)
	stopServer(b, cmd)

	for _, n := range rounds {
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			if b.N == 1 {
				return // the harness's probe run
			}
			cmds, urls := make([]*exec.Cmd, n), make([]string, n)
			for i := range n {
				cmds[i], urls[i], _, _ = startPlaybookServer(b, bin, db(i), nil, false)
				require.NoError(b, caps[i].add(cmds[i].Process.Pid))
			}
			cl.sharing(b, urls)
			// Warm up: a server that has run a while has cached the last
			// activity it wrote for each contact and account (written
			// again only after an hour), its statements prepared and its
			// health memo filled; fresh processes would be measured in
			// their first minute, each touching every contact once.
			cl.send(b, urls, 8*n, warmup)
			cl.caughtUp(b, 5*time.Minute)
			pids := make([]string, n)
			for i := range n {
				pids[i] = strconv.Itoa(cmds[i].Process.Pid)
			}
			serversCPU := func() (d time.Duration) {
				for _, pid := range pids {
					t, _ := storetest.ProcCPU(pid)
					d += t
				}
				return d
			}
			periods := func() (all, throttled int64) {
				for i := range n {
					a, t := caps[i].periods()
					all, throttled = all+a, throttled+t
				}
				return all, throttled
			}
			cpuBefore, pgMeter := serversCPU(), storetest.MeterPGBackends()
			periodsBefore, throttledBefore := periods()
			b.ResetTimer()
			start := time.Now()
			lat := cl.send(b, urls, 8*n, b.N)
			elapsed := time.Since(start)
			b.StopTimer()
			events := float64(b.N * 100)
			serverCPU := serversCPU() - cpuBefore
			periodsAfter, throttledAfter := periods()
			var pgCPU time.Duration
			if pgMeter != nil {
				pgCPU = pgMeter.Used()
			}
			catchup := cl.caughtUp(b, 5*time.Minute)
			b.ReportMetric(events/elapsed.Seconds(), "events/s")
			b.ReportMetric(cores, "cores/server")
			b.ReportMetric(events/(elapsed+catchup).Seconds(), "events/s-with-stages")
			b.ReportMetric(catchup.Seconds(), "catchup-s")
			// CPU per event while the senders sent, and over the round
			// with the stages' catching up: all the work an event costs.
			b.ReportMetric(float64(serverCPU.Microseconds())/events, "server-cpu-µs/event")
			b.ReportMetric(float64((serversCPU()-cpuBefore).Microseconds())/events, "server-cpu-µs/event-with-stages")
			if pgMeter != nil {
				b.ReportMetric(float64(pgCPU.Microseconds())/events, "pg-cpu-µs/event")
				b.ReportMetric(float64(pgMeter.Stop().Microseconds())/events, "pg-cpu-µs/event-with-stages")
			}
			if all := periodsAfter - periodsBefore; all > 0 {
				b.ReportMetric(100*float64(throttledAfter-throttledBefore)/float64(all), "throttled-%")
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ack-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ack-ms")
			for _, c := range cmds {
				stopServer(b, c)
			}
		})
	}
}

// benchClient sends the benchmark's batches with the write key, and reads
// the stages' progress from the database.
type benchClient struct {
	db     *sql.DB
	http   *http.Client
	write  string
	bodies [][]byte
}

// send posts batches batches from senders goroutines, sender i to
// urls[i%len(urls)], each body with fresh messageIds, and returns each
// batch's acknowledgement latency.
func (c *benchClient) send(b *testing.B, urls []string, senders, batches int) []time.Duration {
	lat := make([]time.Duration, batches)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= batches {
					return
				}
				body := webtest.FreshMessageIDs(c.bodies[i%len(c.bodies)])
				req, _ := http.NewRequest("POST", urls[w%len(urls)]+"/v1/batch", bytes.NewReader(body))
				req.SetBasicAuth(c.write, "")
				start := time.Now()
				res, err := c.http.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					b.Errorf("/v1/batch: status %d", res.StatusCode)
					return
				}
				lat[i] = time.Since(start)
			}
		}()
	}
	wg.Wait()
	return lat
}

// shards reads how many of the ingest stages' shards a server holds
// (/healthz).
func (c *benchClient) shards(b *testing.B, url string) int {
	res, err := c.http.Get(url + "/healthz")
	require.NoError(b, err)
	defer res.Body.Close()
	var hz struct {
		Stages struct {
			Shards int `json:"shards_held"`
		} `json:"ingest_stages"`
	}
	require.NoError(b, json.NewDecoder(res.Body).Decode(&hz))
	return hz.Stages.Shards
}

// caughtUp waits until the ingest stages have consumed every committed
// event, and returns how long that took. It reads the stages' progress
// from the database rather than /healthz, whose count of the events
// behind would, polled this often, cost the database more than the stages
// (every shard moves to the round's end, so the least progress is where
// all have come).
func (c *benchClient) caughtUp(b *testing.B, limit time.Duration) time.Duration {
	start := time.Now()
	var newest int64
	require.NoError(b, c.db.QueryRow("SELECT COALESCE(MAX(id), 0) FROM events").Scan(&newest))
	for {
		var progress int64
		require.NoError(b, c.db.QueryRow("SELECT COALESCE(MIN(last_event_id), 0) FROM ingest_progress WHERE name LIKE 'stages/%'").Scan(&progress))
		if progress >= newest {
			return time.Since(start)
		}
		require.Less(b, time.Since(start), limit, "the ingest stages did not catch up")
		time.Sleep(20 * time.Millisecond)
	}
}

// sharing waits until every server holds a share of the ingest stages'
// shards, so that a round measures servers that divide the derived work.
func (c *benchClient) sharing(b *testing.B, urls []string) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		held, all := 0, true
		for _, u := range urls {
			shards := c.shards(b, u)
			held += shards
			all = all && shards > 0
		}
		if all && held == 16 {
			return
		}
		require.True(b, time.Now().Before(deadline), "the servers did not share the stages' shards within 60 s (%d held)", held)
		time.Sleep(50 * time.Millisecond)
	}
}

// stopServer stops a server as an operator does (SIGTERM: it finishes
// what it holds and hands its shards back) and waits for it.
func stopServer(b *testing.B, cmd *exec.Cmd) {
	require.NoError(b, cmd.Process.Signal(os.Interrupt))
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		b.Errorf("server %d did not stop within 30 s of SIGTERM", cmd.Process.Pid)
		_ = cmd.Process.Kill()
	}
}
