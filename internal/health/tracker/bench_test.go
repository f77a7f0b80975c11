package tracker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
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
	seed(b, st, envInt("MOMENTS_BENCH_ACCOUNTS", 1000), envInt("MOMENTS_BENCH_EVENTS", 50_000))
	require.NoError(b, st.Close())
	st, err = store.Open(context.Background(), cfg)
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

// seedRows is the events one statement of the seeding inserts.
const seedRows = 500_000

// seed fills st with accounts accounts and events events over the last
// 120 days. Accounts (group calls with segment, ARR, seats, owner, contract
// start and renewal date) go through store.Ingest; events are generated
// inside the database, seedRows to a statement, because generating ten
// million through the ingestion path takes longer than the benchmark (see
// docs/benchmarks.md): track events in time order across accounts, each of
// a random account and one of its users, 1 % of them NPS answers. The
// events carry dedupe keys but the keys are not merged into the dedupe
// set (they are unique by construction). It is skipped when st already
// holds that many events; the caller reopens the store afterwards.
func seed(b *testing.B, st *store.Store, accounts, events int) {
	b.Helper()
	ctx := context.Background()
	have, err := st.CountEvents(ctx)
	require.NoError(b, err)
	if have >= int64(events) {
		markConsumed(b, st)
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
	users := max(events/accounts/10, 3)
	span := (120 * day).Microseconds()
	from := t0.UnixMicro() - span
	names := "'" + strings.Join(benchNames, "','") + "'"
	var q string
	if st.Dialect() == store.SQLite {
		q = `WITH RECURSIVE n(i) AS (SELECT $1 UNION ALL SELECT i + 1 FROM n WHERE i < $2)
			INSERT INTO events (message_id, dedupe_key, write_key_id, type, name, user_id, account_id, timestamp, received_at,
				properties, context)
			SELECT 'bench-' || i, randomblob(16), 'wk', 'track',
				CASE WHEN s = 0 THEN 'Survey Responded' ELSE json_extract(json_array(` + names + `), '$[' || (k % ` +
			strconv.Itoa(len(benchNames)) + `) || ']') END,
				printf('a%d-u%d', a, u), printf('acct-%06d', a), ts, ts,
				CASE WHEN s = 0 THEN '{"kind":"nps","score":' || (k % 11) || '}' ELSE '{"source":"web","plan":"business"}' END,
				'{"library":{"name":"analytics.js","version":"4.1.0"}}'
			FROM (SELECT i, abs(random()) % $3 AS a, abs(random()) % $4 AS u, abs(random()) % 100 AS s, abs(random()) AS k,
				$5 + i * $6 / $7 AS ts FROM n)`
	} else {
		q = `INSERT INTO events (message_id, dedupe_key, write_key_id, type, name, user_id, account_id, timestamp, received_at,
				properties, context)
			SELECT 'bench-' || i, decode(md5(i::text || random()::text), 'hex'), 'wk', 'track',
				CASE WHEN s = 0 THEN 'Survey Responded' ELSE (ARRAY[` + names + `])[1 + k % ` + strconv.Itoa(len(benchNames)) + `] END,
				'a' || a || '-u' || u, 'acct-' || lpad(a::text, 6, '0'), ts, ts,
				CASE WHEN s = 0 THEN ('{"kind":"nps","score":' || (k % 11) || '}')::jsonb ELSE '{"source":"web","plan":"business"}'::jsonb END,
				'{"library":{"name":"analytics.js","version":"4.1.0"}}'::jsonb
			FROM (SELECT i, floor(random() * $3)::bigint AS a, floor(random() * $4)::bigint AS u, floor(random() * 100)::int AS s,
				floor(random() * 1000000)::bigint AS k, $5::bigint + i * $6::bigint / $7::bigint AS ts
				FROM generate_series($1::bigint, $2::bigint) AS i) g`
	}
	require.NoError(b, st.EnsureEventPartitions(ctx, int64(events)))
	for i := 0; i < events; i += seedRows {
		_, err := st.DB().ExecContext(ctx, q, int64(i), int64(min(i+seedRows, events)-1), int64(accounts), int64(users),
			from, span, int64(events))
		require.NoError(b, err)
		b.Logf("seeded %d events in %v", min(i+seedRows, events), time.Since(began))
	}
	if st.Dialect() == store.SQLite {
		_, err := st.DB().ExecContext(ctx, `UPDATE store_meta SET value = (SELECT MAX(id) FROM events) WHERE name = 'dedupe_merged_through'`)
		require.NoError(b, err)
	}
	markConsumed(b, st)
	b.Logf("seeded %d accounts and %d events in %v", accounts, events, time.Since(began))
}

// markConsumed records the seeded events as consumed by the ingest stages
// (the benchmark's store runs none while seeding): a recompute reads only
// consumed events, so without this it would read none. A data set whose
// stages have run once is left as it is.
func markConsumed(b *testing.B, st *store.Store) {
	b.Helper()
	_, err := st.DB().ExecContext(context.Background(), `UPDATE ingest_progress SET last_event_id = (SELECT MAX(id) FROM events)
		WHERE (name = 'stages' OR name LIKE 'stages/%') AND last_event_id = 0`)
	require.NoError(b, err)
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

// BenchmarkRecompute measures the daily recompute: "rebuild" rebuilds
// every account's health from all its events (a recompute's first run, or
// the first after a change of the health model); "daily" is the recompute
// of every day after that, which starts from the bases the previous one
// kept and reads only the events since: each round first ingests a day's
// worth of new events (1/120 of the data set, untimed), as a day brings.
func BenchmarkRecompute(b *testing.B) {
	accounts := envInt("MOMENTS_BENCH_ACCOUNTS", 1000)
	events := envInt("MOMENTS_BENCH_EVENTS", 50_000)
	for _, d := range storetest.Dialects() {
		b.Run(fmt.Sprintf("%s/accounts=%d/events=%d", d, accounts, events), func(b *testing.B) {
			st := benchStore(b, d)
			tr := benchTracker(b, st)
			// The day's events reach health as in a server: through the
			// ingest stages, which each round waits for (untimed) before its
			// recompute.
			st.OnIngest(tr.OnIngest)
			ctx := context.Background()
			report := func(b *testing.B, stats tracker.Stats) {
				b.ReportMetric(float64(stats.Events), "events-read")
				b.ReportMetric(float64(stats.Accounts), "accounts")
				b.ReportMetric(float64(stats.Accounts)/stats.Duration.Seconds(), "accounts/s")
			}
			b.Run("rebuild", func(b *testing.B) {
				var stats tracker.Stats
				for range b.N {
					var err error
					stats, err = tr.Rebuild(ctx)
					require.NoError(b, err)
				}
				report(b, stats)
			})
			b.Run("daily", func(b *testing.B) {
				// On PostgreSQL the bases reach the events of a recompute's
				// start only at the next one (see store.HealthScanBounds).
				for range 2 {
					_, err := tr.Recompute(ctx)
					require.NoError(b, err)
				}
				r := rand.New(rand.NewPCG(uint64(b.N), 2))
				per := max(events/120, 1)
				b.ResetTimer()
				var (
					stats tracker.Stats
					cpu   time.Duration
				)
				for range b.N {
					b.StopTimer()
					msgs := make([]store.Message, 0, 5000)
					for i := range per {
						at := t0.Add(-day + time.Duration(int64(i)*int64(day)/int64(per)))
						msgs = append(msgs, benchEvent(r, r.IntN(accounts), r.IntN(max(events/accounts/10, 3)), at))
						if len(msgs) == cap(msgs) || i == per-1 {
							_, err := st.Ingest(ctx, "wk", msgs)
							require.NoError(b, err)
							msgs = msgs[:0]
						}
					}
					require.NoError(b, st.WaitIdle(ctx))
					b.StartTimer()
					began := cpuTime()
					var err error
					stats, err = tr.Recompute(ctx)
					require.NoError(b, err)
					cpu += cpuTime() - began
				}
				report(b, stats)
				// The process's CPU time (user + system) per recompute: on a
				// shared machine it moves much less with other processes'
				// load than the wall time.
				b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
			})
		})
	}
}

// BenchmarkExceptionReport builds the exception report from the stored
// state of the recompute benchmark's data set.
func BenchmarkExceptionReport(b *testing.B) {
	accounts := envInt("MOMENTS_BENCH_ACCOUNTS", 1000)
	for _, d := range storetest.Dialects() {
		b.Run(fmt.Sprintf("%s/accounts=%d", d, accounts), func(b *testing.B) {
			st := benchStore(b, d)
			ctx := context.Background()
			if _, err := st.AccountHealth(ctx, "acct-000000"); err != nil {
				_, err := benchTracker(b, st).Recompute(ctx)
				require.NoError(b, err)
			}
			var rows int
			began := cpuTime()
			for b.Loop() {
				rep, err := report.Exceptions(ctx, st, report.ExceptionFilter{Limit: 100}, t0)
				require.NoError(b, err)
				rows = rep.Total
			}
			b.ReportMetric(float64(rows), "exceptions")
			// The process's CPU time per report (see BenchmarkRecompute).
			b.ReportMetric(float64((cpuTime()-began).Milliseconds())/float64(b.N), "cpu-ms/op")
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
