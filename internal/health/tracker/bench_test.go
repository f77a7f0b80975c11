package tracker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/health/tracker"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/report"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// Benchmark sizes are small by default, so `go test -bench .` stays quick;
// the sizes of docs/benchmarks.md are opt-in:
//
//	MOMENTS_BENCH_ACCOUNTS=100000 MOMENTS_BENCH_EVENTS=10000000 \
//	MOMENTS_BENCH_SQLITE_DIR=/tmp/health-bench \
//	go test ./internal/health/tracker -run '^$' -bench 'Recompute|ExceptionReport' -benchtime 1x -timeout 2h
//
// MOMENTS_BENCH_SQLITE_DIR (and MOMENTS_BENCH_POSTGRES_URL, a database of
// its own) keep the generated data between runs: generation is skipped
// when the database already holds the events.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// benchStore opens the benchmark database of dialect d: a kept one when
// the environment names it, else a fresh one.
func benchStore(b *testing.B, d store.Dialect) *store.Store {
	b.Helper()
	cfg := storetest.Config(b, d)
	if dir := os.Getenv("MOMENTS_BENCH_SQLITE_DIR"); dir != "" && d == store.SQLite {
		cfg = store.Config{Data: dir}
	}
	if u := os.Getenv("MOMENTS_BENCH_POSTGRES_URL"); u != "" && d == store.Postgres {
		cfg = store.Config{DB: u}
	}
	st, err := store.Open(context.Background(), cfg)
	require.NoError(b, err)
	b.Cleanup(func() { st.Close() })
	return st
}

var benchNames = []string{"Logged In", "Report Created", "Dashboard Shared", "Export Run", "Page Viewed", "Report Viewed",
	"Alert Set", "Filter Applied", "Ticket Opened", "Kickoff Held", "Integration Connected"}

// benchEvent is one generated event of account a, user u, at t.
func benchEvent(r *rand.Rand, a, u int, at time.Time) store.Message {
	name := benchNames[r.IntN(len(benchNames))]
	props := `{"source":"web","plan":"business"}`
	if r.IntN(100) == 0 {
		name = "Survey Responded"
		props = fmt.Sprintf(`{"kind":"nps","score":%d}`, r.IntN(11))
	}
	return store.Message{Type: "track", MessageID: uuid.NewString(), UserID: fmt.Sprintf("a%d-u%d", a, u),
		GroupID: fmt.Sprintf("acct-%06d", a), Name: name, Properties: json.RawMessage(props),
		Context: json.RawMessage(`{"library":{"name":"analytics.js","version":"4.1.0"}}`), Timestamp: at, ReceivedAt: at}
}

// seedChunk is the events of one store.Ingest call while seeding, and
// seedWorkers the concurrent callers.
const (
	seedChunk   = 2000
	seedWorkers = 4
)

// seed fills st with accounts accounts and about events events over the
// last 120 days, through store.Ingest (accounts in calls of 5,000 messages, events in calls
// of seedChunk from seedWorkers concurrent callers) (without
// the health hook: the recompute builds health from scratch). It is skipped
// when st already holds that many events.
func seed(b *testing.B, st *store.Store, accounts, events int) {
	b.Helper()
	ctx := context.Background()
	have, err := st.CountEvents(ctx)
	require.NoError(b, err)
	if have >= int64(events) {
		return
	}
	began := time.Now()
	r := rand.New(rand.NewPCG(uint64(accounts), uint64(events)))
	segments := []string{"smb", "mid_market", "enterprise"}
	var msgs []store.Message
	flush := func() {
		_, err := st.Ingest(ctx, "wk", msgs)
		require.NoError(b, err)
		msgs = msgs[:0]
	}
	for a := range accounts {
		msgs = append(msgs, store.Message{Type: "group", MessageID: uuid.NewString(), GroupID: fmt.Sprintf("acct-%06d", a),
			Timestamp: t0, ReceivedAt: t0, Traits: map[string]any{"name": fmt.Sprintf("Account %d", a),
				"segment": segments[a%3], "arr": float64(1000 * (1 + r.IntN(200))), "seats": float64(5 + r.IntN(50)),
				"owner":          fmt.Sprintf("csm%d@vendor.example", a%40),
				"contract_start": t0.Add(-time.Duration(r.IntN(200)) * day).Format(time.DateOnly),
				"renewal_date":   t0.Add(time.Duration(r.IntN(365)) * day).Format(time.DateOnly)}})
		if len(msgs) == 5000 {
			flush()
		}
	}
	if len(msgs) > 0 {
		flush()
	}
	// Events arrive in time order across accounts, as they would: chunks
	// of seedChunk consecutive events, each generated from its own seed (so
	// the data set does not depend on the interleaving), are ingested by
	// seedWorkers concurrent callers, which the store's group commit
	// turns into large transactions.
	per := events / accounts
	span := 120 * day
	chunks := (events + seedChunk - 1) / seedChunk
	var (
		next atomic.Int64
		done atomic.Int64
		wg   sync.WaitGroup
		errs = make(chan error, seedWorkers)
	)
	for range seedWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := make([]store.Message, 0, seedChunk)
			for {
				c := int(next.Add(1) - 1)
				if c >= chunks {
					return
				}
				r := rand.New(rand.NewPCG(uint64(events), uint64(c)))
				out = out[:0]
				for i := c * seedChunk; i < min((c+1)*seedChunk, events); i++ {
					at := t0.Add(-span + time.Duration(int64(i)*int64(span)/int64(events)))
					a := r.IntN(accounts)
					out = append(out, benchEvent(r, a, r.IntN(max(per/10, 3)), at))
				}
				if _, err := st.Ingest(ctx, "wk", out); err != nil {
					errs <- err
					return
				}
				if n := done.Add(int64(len(out))); n/1_000_000 != (n-int64(len(out)))/1_000_000 {
					b.Logf("seeded %d events in %v", n, time.Since(began))
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	require.NoError(b, <-errs)
	b.Logf("seeded %d accounts and %d events in %v", accounts, events, time.Since(began))
}

func benchTracker(b *testing.B, st *store.Store) *tracker.Tracker {
	b.Helper()
	live := journey.NewLive(st)
	data, err := os.ReadFile("../../../examples/b2b-saas.yaml")
	require.NoError(b, err)
	_, err = live.Apply(context.Background(), "b2b-saas.yaml", data, "bench")
	require.NoError(b, err)
	return tracker.New(st, live, tracker.Options{Now: func() time.Time { return t0 }})
}

// BenchmarkRecompute rebuilds every account's health from its events.
func BenchmarkRecompute(b *testing.B) {
	accounts := envInt("MOMENTS_BENCH_ACCOUNTS", 1000)
	events := envInt("MOMENTS_BENCH_EVENTS", 50_000)
	for _, d := range storetest.Dialects() {
		b.Run(fmt.Sprintf("%s/accounts=%d/events=%d", d, accounts, events), func(b *testing.B) {
			st := benchStore(b, d)
			seed(b, st, accounts, events)
			tr := benchTracker(b, st)
			ctx := context.Background()
			b.ResetTimer()
			var stats tracker.Stats
			for b.Loop() {
				var err error
				stats, err = tr.Recompute(ctx)
				require.NoError(b, err)
			}
			b.ReportMetric(float64(stats.Events)/stats.Duration.Seconds(), "events/s")
			b.ReportMetric(float64(stats.Accounts)/stats.Duration.Seconds(), "accounts/s")
		})
	}
}

// BenchmarkExceptionReport builds the exception report from the stored
// state of the recompute benchmark's data set.
func BenchmarkExceptionReport(b *testing.B) {
	accounts := envInt("MOMENTS_BENCH_ACCOUNTS", 1000)
	events := envInt("MOMENTS_BENCH_EVENTS", 50_000)
	for _, d := range storetest.Dialects() {
		b.Run(fmt.Sprintf("%s/accounts=%d", d, accounts), func(b *testing.B) {
			st := benchStore(b, d)
			seed(b, st, accounts, events)
			ctx := context.Background()
			if _, err := st.AccountHealth(ctx, "acct-000000"); err != nil {
				_, err := benchTracker(b, st).Recompute(ctx)
				require.NoError(b, err)
			}
			var rows int
			for b.Loop() {
				rep, err := report.Exceptions(ctx, st, report.ExceptionFilter{Limit: 100}, t0)
				require.NoError(b, err)
				rows = rep.Total
			}
			b.ReportMetric(float64(rows), "exceptions")
		})
	}
}

// cpuTime returns the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIngest measures what health costs ingestion: calls of 100
// track events from 8 concurrent callers (as store.BenchmarkIngest), over
// 1,000 accounts of 10 users each, with and without the health hook. The
// difference in ns/event is the cost of incremental health per event.
func BenchmarkIngest(b *testing.B) {
	for _, d := range storetest.Dialects() {
		for _, hook := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/health=%v", d, hook), func(b *testing.B) {
				st := storetest.Open(b, d)
				if hook {
					tr := benchTracker(b, st)
					st.OnIngest(tr.OnIngest)
				}
				ctx := context.Background()
				b.SetParallelism(8)
				b.ResetTimer()
				start, cpu := time.Now(), cpuTime()
				b.RunParallel(func(pb *testing.PB) {
					r := rand.New(rand.NewPCG(rand.Uint64(), 1))
					msgs := make([]store.Message, 100)
					for pb.Next() {
						for i := range msgs {
							a := r.IntN(1000)
							msgs[i] = benchEvent(r, a, r.IntN(10), t0.Add(-time.Duration(r.IntN(3600))*time.Second))
						}
						_, err := st.Ingest(ctx, "wk", msgs)
						require.NoError(b, err)
					}
				})
				elapsed, used := time.Since(start), cpuTime()-cpu
				b.ReportMetric(float64(b.N*100)/elapsed.Seconds(), "events/s")
				b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N*100), "ns/event")
				// CPU time is steadier than wall time on a shared machine
				// (for SQLite it includes the database; for PostgreSQL only
				// this process's side).
				b.ReportMetric(float64(used.Nanoseconds())/float64(b.N*100), "cpu-ns/event")
			})
		}
	}
}
