package tracking_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
	"github.com/moments-cs/moments/internal/web/webtest"
)

// benchPreload is how many events the database holds before measuring
// (MOMENTS_BENCH_PRELOAD, default 200,000): a small database flatters
// ingestion, because the dedupe index fits in a few pages.
func benchPreload() int {
	if v, err := strconv.Atoi(os.Getenv("MOMENTS_BENCH_PRELOAD")); err == nil {
		return v
	}
	return 200_000
}

const benchAccounts = 1000

// benchServers is how many servers share the PostgreSQL database
// (MOMENTS_BENCH_SERVERS, default 1): each its own store, committers and
// connections, in this process, the senders spread over them in turn.
// SQLite has one server.
func benchServers(d store.Dialect) int {
	if n, err := strconv.Atoi(os.Getenv("MOMENTS_BENCH_SERVERS")); err == nil && n > 1 && d == store.Postgres {
		return n
	}
	return 1
}

func preload(b *testing.B, s *store.Store, n int) {
	b.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	const chunk = 5000
	for done := 0; done < n; done += chunk {
		msgs := make([]store.Message, 0, chunk)
		for i := 0; i < chunk && done+i < n; i++ {
			u := rand.IntN(benchAccounts * 10)
			msgs = append(msgs, store.Message{Type: "track", MessageID: uuid.NewString(), UserID: "u" + strconv.Itoa(u),
				GroupID: "acct-" + strconv.Itoa(u%benchAccounts), Name: "Feature Used",
				Properties: []byte(`{"feature":"reports","plan":"pro"}`), Timestamp: now, ReceivedAt: now})
		}
		_, err := s.Ingest(ctx, "preload", msgs)
		require.NoError(b, err)
	}
}

// settleWAL waits, at most ten seconds, for SQLite's checkpointer to copy
// what the preload and the merges wrote and start the WAL over (a turn,
// checkpoint.go), as it has on a server that holds its events since long:
// without it the measurement would pay the copy of hundreds of megabytes.
// PostgreSQL has no turns: it returns at once.
func settleWAL(s *store.Store) {
	turns := s.CheckpointStats().Turns
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if s.CheckpointStats().Turns > turns || s.Dialect() != store.SQLite {
			return
		}
	}
}

// BenchmarkIngestBatch measures events/s through POST /v1/batch, batches of
// 100, 16 concurrent clients, on each dialect, after preloading the
// database and waiting for the merges behind the commits to catch up with
// it (Store.WaitMerged; MOMENTS_BENCH_BACKLOG=1 measures while they work
// the preload off, as this benchmark did before), and the acknowledgement
// latency of each batch (p50 and p99, from sending the request to reading
// its 200). Run it with a fixed count so the preload happens once:
//
//	go test -run XXX -bench IngestBatch -benchtime 500x ./internal/web/
//
// MOMENTS_BENCH_RATE=N sends N events/s (N/100 batches a second, on a
// schedule, from as many senders as it takes) instead of as fast as the
// server answers; each latency is then counted from the moment the batch
// was due, so a server falling behind shows in the p99 rather than
// slowing the senders (the issue asks the p99 at 80 % of the maximum
// rate). MOMENTS_BENCH_SERVERS=3 runs three servers on the one PostgreSQL
// database (benchServers); the committer's metrics are then the first
// server's. The committer's own counters come out as metrics too: events per
// commit, and the milliseconds per commit it spent writing the rows and
// committing them (WAL writes and fsync); with MOMENTS_BENCH_RATE, the p50
// and p99 of how late the senders sent their batches (p99-late-ms, part of
// the acknowledgement's latency); on SQLite, the checkpointer's turns on the
// writing connection; and from the committer's histograms, what waited
// more than 40 ms (reportOver40ms). MOMENTS_BENCH_CPUPROFILE=file and
// MOMENTS_BENCH_TRACE=file profile and trace the measured part alone. See
// docs/benchmarks.md.
func BenchmarkIngestBatch(b *testing.B) {
	for _, d := range storetest.Dialects() {
		b.Run(string(d), func(b *testing.B) {
			if b.N == 1 {
				// The harness's probe run: skip the expensive preload.
				return
			}
			servers := webtest.SetupServers(b, d, benchServers(d))
			f := servers[0]
			preload(b, f.Store, benchPreload())
			if os.Getenv("MOMENTS_BENCH_BACKLOG") == "" {
				// A server that holds these events has merged them long
				// ago: measure ingestion in its steady state, not while it
				// works off the preload's merges (MOMENTS_BENCH_BACKLOG=1
				// measures that, as before).
				require.NoError(b, f.Store.WaitMerged(context.Background()))
				settleWAL(f.Store)
			}
			bodies := make([][]byte, 256)
			for i := range bodies {
				bodies[i] = webtest.BatchBody(benchAccounts)
			}
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
			var next atomic.Int64
			lat := make([]time.Duration, b.N)
			// late is how long after it was due each batch was sent: the
			// senders' own delay, which lat includes.
			late := make([]time.Duration, b.N)
			// send posts batch i, due at due, and records its latency.
			send := func(i int64, due time.Time) bool {
				// Fresh messageIds for every request: a benchmark of
				// duplicates would measure nothing.
				body := webtest.FreshMessageIDs(bodies[i%int64(len(bodies))])
				req, _ := http.NewRequest("POST", servers[i%int64(len(servers))].URL+"/v1/batch", bytes.NewReader(body))
				req.SetBasicAuth(f.WriteKey, "")
				late[i] = time.Since(due)
				res, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return false
				}
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					b.Errorf("status %d", res.StatusCode)
					return false
				}
				lat[i] = time.Since(due)
				return true
			}
			rate, _ := strconv.ParseFloat(os.Getenv("MOMENTS_BENCH_RATE"), 64)
			before, ioBefore, cpuBefore := f.Store.CommitterStats(), readProcIO(), cpuTime()
			ckBefore, timesBefore := f.Store.CheckpointStats(), f.Store.CommitTimes()
			var pgMeter *storetest.PGCPUMeter
			if d == store.Postgres {
				pgMeter = storetest.MeterPGBackends()
			}
			stopProfile := profileMeasured(b, string(d))
			defer stopProfile()
			b.ResetTimer()
			start := time.Now()
			if rate > 0 {
				sendAtRate(b.N, rate/100, start, send)
			} else {
				b.SetParallelism(8) // 8 × GOMAXPROCS concurrent senders
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if !send(next.Add(1)-1, time.Now()) {
							return
						}
					}
				})
			}
			elapsed := time.Since(start)
			stopProfile()
			b.ReportMetric(float64(b.N*100)/elapsed.Seconds(), "events/s")
			// The process's CPU per event, senders included: unlike
			// events/s, it hardly depends on how busy the machine is.
			b.ReportMetric(float64((cpuTime()-cpuBefore).Microseconds())/float64(b.N*100), "cpu-µs/event")
			if pgMeter != nil {
				// The same for the database's backends (a server on this
				// machine): with the process's, what one event costs.
				b.ReportMetric(float64(pgMeter.Stop().Microseconds())/float64(b.N*100), "pg-cpu-µs/event")
			}
			reportLatency(b, lat, "ack")
			if rate > 0 {
				reportLatency(b, late, "late")
			}
			if len(servers) > 1 {
				b.ReportMetric(float64(len(servers)), "servers")
			}
			reportCommitter(b, before, f.Store.CommitterStats(), elapsed)
			reportCheckpoints(b, ckBefore, f.Store.CheckpointStats())
			reportOver40ms(b, timesBefore, f.Store.CommitTimes())
			if io := readProcIO(); io != nil && ioBefore != nil {
				// Every byte the process wrote (WAL, checkpoints, answers),
				// per event: what the disk is asked to take.
				b.ReportMetric(float64(io["wchar"]-ioBefore["wchar"])/float64(b.N*100), "written-B/event")
				b.ReportMetric(float64(io["syscw"]-ioBefore["syscw"])/float64(b.N*100), "writes/event")
			}
		})
	}
}

// sendAtRate calls send for batches 0 to n-1, batch i due at start +
// i/perSecond, each from its own goroutine once due, so that a slow answer
// delays no other batch.
func sendAtRate(n int, perSecond float64, start time.Time, send func(int64, time.Time) bool) {
	var wg sync.WaitGroup
	for i := range n {
		due := start.Add(time.Duration(float64(i) / perSecond * float64(time.Second)))
		time.Sleep(time.Until(due))
		wg.Add(1)
		go func() {
			defer wg.Done()
			send(int64(i), due)
		}()
	}
	wg.Wait()
}

// readProcIO reads the process's I/O counters on Linux (nil elsewhere).
func readProcIO() map[string]int64 {
	raw, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return nil
	}
	io := map[string]int64{}
	for _, line := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok {
			io[k], _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return io
}

// reportLatency reports the median and 99th percentile of lat, in ms.
func reportLatency(b *testing.B, lat []time.Duration, what string) {
	lat = slices.Clone(lat)
	slices.Sort(lat)
	at := func(q float64) float64 {
		return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), "p50-"+what+"-ms")
	b.ReportMetric(at(0.99), "p99-"+what+"-ms")
}

// reportCommitter reports the committer's work during the measurement:
// events per commit, and per commit the ms spent writing and committing.
func reportCommitter(b *testing.B, before, after store.CommitterStats, elapsed time.Duration) {
	commits := float64(after.Commits - before.Commits)
	if commits == 0 {
		return
	}
	b.ReportMetric(float64(after.Events-before.Events)/commits, "events/commit")
	b.ReportMetric((after.Writing-before.Writing).Seconds()*1000/commits, "write-ms/commit")
	b.ReportMetric((after.Committing-before.Committing).Seconds()*1000/commits, "commit-ms/commit")
	busy := after.Writing - before.Writing + after.Committing - before.Committing
	b.ReportMetric(100*busy.Seconds()/elapsed.Seconds(), "committer-busy-%")
	// The committer's loop whole, merges included: on SQLite the one
	// writer, so 1e6 / loop-µs/event is the most events/s it could take
	// at the contention of this run.
	loop := after.Busy - before.Busy
	b.ReportMetric(100*loop.Seconds()/elapsed.Seconds(), "loop-busy-%")
	b.ReportMetric(float64(loop.Microseconds())/float64(after.Events-before.Events), "loop-µs/event")
}

// reportCheckpoints reports the SQLite checkpointer's turns on the writing
// connection during the measurement (checkpoint.go): how many, and the ms
// they held it on average and at most (the most since the store opened,
// the preload's included).
func reportCheckpoints(b *testing.B, before, after store.CheckpointStats) {
	turns := after.Turns - before.Turns
	if turns == 0 {
		return
	}
	b.ReportMetric(float64(turns), "ckpt-turns")
	b.ReportMetric((after.Held-before.Held).Seconds()*1000/float64(turns), "ckpt-held-ms/turn")
	b.ReportMetric(after.MaxHeld.Seconds()*1000, "ckpt-held-max-ms")
}

// reportOver40ms reports, from the committer's histograms (/metrics), the
// share of ingestion transactions whose oldest request waited more than
// 40 ms for the committer, of those whose commit took more than 40 ms,
// and on SQLite how many merge steps and checkpointer turns held the
// committer more than 40 ms: what a p99 acknowledgement over 40 ms waited
// for.
func reportOver40ms(b *testing.B, before, after store.CommitTimes) {
	over := func(h store.Histogram) (n, all uint64) {
		i := slices.Index(h.Bounds, .04)
		return h.Count - h.Buckets[i], h.Count
	}
	share := func(a, z store.Histogram) float64 {
		n1, all1 := over(a)
		n2, all2 := over(z)
		if all2 == all1 {
			return 0
		}
		return 100 * float64(n2-n1) / float64(all2-all1)
	}
	b.ReportMetric(share(before.Wait, after.Wait), "wait>40ms-%")
	b.ReportMetric(share(before.Commit, after.Commit), "commit>40ms-%")
	if after.Held == nil {
		return
	}
	var held uint64
	for by, h := range after.Held {
		n2, _ := over(h)
		n1, _ := over(before.Held[by])
		held += n2 - n1
	}
	b.ReportMetric(float64(held), "held>40ms")
}

// profileMeasured writes a CPU profile of the measured part alone (not the
// preload, which -cpuprofile would include) to $MOMENTS_BENCH_CPUPROFILE.name
// when that is set; the returned function stops it and may be called twice.
func profileMeasured(b *testing.B, name string) func() {
	var stops []func()
	if path := os.Getenv("MOMENTS_BENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path + "." + name)
		require.NoError(b, err)
		require.NoError(b, pprof.StartCPUProfile(f))
		stops = append(stops, func() {
			pprof.StopCPUProfile()
			f.Close()
		})
	}
	if path := os.Getenv("MOMENTS_BENCH_TRACE"); path != "" {
		f, err := os.Create(path + "." + name)
		require.NoError(b, err)
		require.NoError(b, trace.Start(f))
		stops = append(stops, func() {
			trace.Stop()
			f.Close()
		})
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			for _, stop := range stops {
				stop()
			}
		})
	}
}
