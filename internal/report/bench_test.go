package report_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/examples"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/report"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
	"github.com/moments-cs/moments/internal/vocab"
)

// benchAccounts is the number of accounts of the report benchmarks
// (MOMENTS_BENCH_ACCOUNTS, default 100,000).
func benchAccounts() int {
	if n, err := strconv.Atoi(os.Getenv("MOMENTS_BENCH_ACCOUNTS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

// bulk inserts rows of cols values each, 50 rows per statement, in one
// transaction.
func bulk(b *testing.B, st *store.Store, table string, cols []string, rows [][]any) {
	b.Helper()
	ctx := context.Background()
	tx, err := st.DB().BeginTx(ctx, nil)
	require.NoError(b, err)
	for start := 0; start < len(rows); start += 50 {
		chunk := rows[start:min(start+50, len(rows))]
		var sb strings.Builder
		args := make([]any, 0, len(chunk)*len(cols))
		fmt.Fprintf(&sb, "INSERT INTO %s (%s) VALUES ", table, strings.Join(cols, ", "))
		for i, r := range chunk {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(")
			for j := range r {
				if j > 0 {
					sb.WriteString(", ")
				}
				args = append(args, r[j])
				fmt.Fprintf(&sb, "$%d", len(args))
			}
			sb.WriteString(")")
		}
		_, err := tx.ExecContext(ctx, sb.String(), args...)
		require.NoError(b, err)
	}
	require.NoError(b, tx.Commit())
}

// seedAnalytics fills the aggregates the reports read as a history of n
// accounts of about 100 events each would leave them: 3 occurrences per
// account over the last 180 days with a task each, 15 measured events per
// account over a year, half a survey answer per account, and each
// account's success path state. The events table itself stays empty:
// reports never read it.
func seedAnalytics(b *testing.B, st *store.Store, m *journey.Map, n int, now time.Time) {
	b.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	names := report.MeasuredNames(m)
	_, err := st.WatchAnalyticsNames(ctx, names) // nothing to backfill: marks them backfilled
	require.NoError(b, err)
	segments := []string{"smb", "mid_market", "enterprise"}
	ago := func(days int) int64 {
		return now.Add(-time.Duration(rng.Float64()*float64(days)*24) * time.Hour).UnixMicro()
	}
	var accounts, healths, runs, steps, tasks, marks, scores [][]any
	for i := range n {
		id := "acct-" + strconv.Itoa(i)
		seg := segments[i%3]
		accounts = append(accounts, []any{id, seg, "pro", now.UnixMicro(), now.UnixMicro()})
		start := ago(400)
		var ttv any
		if rng.Float64() < 0.7 {
			ttv = int64(rng.Float64() * 30 * 24 * float64(time.Hour/time.Microsecond))
		}
		healths = append(healths, []any{id, "smb_self_serve", start, ttv, now.UnixMicro()})
		for r := range 3 {
			mo := m.Moments[rng.IntN(len(m.Moments))]
			run := fmt.Sprintf("run-%d-%d", i, r)
			at := ago(180)
			status := store.RunDone
			if rng.Float64() < 0.2 {
				status = store.RunRunning
			}
			runs = append(runs, []any{run, id, mo.ID, run, 1, "lifecycle", status, at, at, at, at})
			for _, s := range mo.Ideal {
				if s.Task == "" {
					continue
				}
				steps = append(steps, []any{run + "/0", run, 0, s.Task, "task", id, store.StepDone, at, at})
				done := at + int64(rng.Float64()*5*24*float64(time.Hour/time.Microsecond))
				tasks = append(tasks, []any{run + "-t", run, 0, id, mo.ID, "task", vocab.TaskDone, at, at, done})
				break
			}
		}
		for e := range 15 {
			marks = append(marks, []any{id, names[rng.IntN(len(names))], ago(365), int64(i*100 + e)})
		}
		if i%2 == 0 {
			scores = append(scores, []any{"csat_kickoff", ago(365), int64(i), id, float64(1 + rng.IntN(5))})
		}
	}
	bulk(b, st, "accounts", []string{"id", "segment", "plan", "created_at", "updated_at"}, accounts)
	bulk(b, st, "account_health", []string{"account_id", "path_id", "contract_start", "time_to_value", "updated_at"}, healths)
	bulk(b, st, "runs", []string{"id", "account_id", "moment_id", "occurrence", "map_version", "category", "status", "created_at",
		"updated_at", "occurred_at", "finished_at"}, runs)
	bulk(b, st, "run_steps", []string{"id", "run_id", "step_index", "step_key", "kind", "account_id", "status", "created_at",
		"updated_at"}, steps)
	bulk(b, st, "tasks", []string{"id", "run_id", "step_index", "account_id", "moment_id", "title", "status", "created_at",
		"updated_at", "completed_at"}, tasks)
	bulk(b, st, "analytics_marks", []string{"account_id", "name", "at", "event_id"}, marks)
	bulk(b, st, "analytics_survey_scores", []string{"survey", "at", "event_id", "account_id", "score"}, scores)
	// Fresh statistics, as a database that grew over months would have.
	_, err = st.DB().ExecContext(ctx, "ANALYZE")
	require.NoError(b, err)
}

// seedMilestones records, for every account seeded on a success path,
// when it reached the path's milestones, as the health stage would have:
// the value milestone when (and only when) it has a time to value, the
// others at random times after its contract start. Without them the
// milestone funnel had nothing to count.
func seedMilestones(b *testing.B, st *store.Store, m *journey.Map) {
	b.Helper()
	ctx := context.Background()
	rows, err := st.DB().QueryContext(ctx, `SELECT account_id, path_id, contract_start, time_to_value FROM account_health ORDER BY account_id`)
	require.NoError(b, err)
	rng := rand.New(rand.NewPCG(3, 4))
	day := float64(24 * time.Hour / time.Microsecond)
	var out [][]any
	for rows.Next() {
		var id, path string
		var start int64
		var ttv sql.NullInt64
		require.NoError(b, rows.Scan(&id, &path, &start, &ttv))
		i := slices.IndexFunc(m.SuccessPaths, func(p journey.SuccessPath) bool { return p.ID == path })
		if i < 0 {
			continue
		}
		for _, ms := range m.SuccessPaths[i].Milestones {
			switch {
			case ms.Value && ttv.Valid:
				out = append(out, []any{id, ms.ID, path, start + ttv.Int64})
			case !ms.Value && rng.Float64() < 0.7:
				out = append(out, []any{id, ms.ID, path, start + int64(rng.Float64()*40*day)})
			}
		}
	}
	require.NoError(b, rows.Err())
	require.NoError(b, rows.Close())
	bulk(b, st, "health_milestones", []string{"account_id", "milestone_id", "path_id", "reached_at"}, out)
	// Written directly, so gathered by account here (RecordMilestonesTx
	// does it as it records).
	require.NoError(b, st.RebuildAccountMilestones(ctx))
	_, err = st.DB().ExecContext(ctx, "ANALYZE")
	require.NoError(b, err)
}

// reportsBenchNow is the end of the kept data set's history.
var reportsBenchNow = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// reportsBenchStore opens the benchmark's store of dialect d seeded with
// MOMENTS_BENCH_ACCOUNTS accounts. With MOMENTS_BENCH_KEEP set the data
// set is kept between runs, keyed by its size (seeding 100,000 accounts
// takes minutes): for SQLite in a directory under the system's temporary
// directory ($TMPDIR), for PostgreSQL in a schema of the
// MOMENTS_TEST_POSTGRES_URL database; it ends at reportsBenchNow. Delete
// it when done (rm -r $TMPDIR/moments-bench-reports_*; DROP SCHEMA
// bench_reports_… CASCADE).
func reportsBenchStore(b *testing.B, d store.Dialect, m *journey.Map, now time.Time) *store.Store {
	b.Helper()
	ctx := context.Background()
	if os.Getenv("MOMENTS_BENCH_KEEP") == "" {
		st := storetest.Open(b, d)
		start := time.Now()
		seedAnalytics(b, st, m, benchAccounts(), now)
		seedMilestones(b, st, m)
		b.Logf("seeded %d accounts in %s", benchAccounts(), time.Since(start).Round(time.Millisecond))
		return st
	}
	st := keptBenchStore(b, d, fmt.Sprintf("reports_%d_v1", benchAccounts()), func(st *store.Store) {
		start := time.Now()
		seedAnalytics(b, st, m, benchAccounts(), now)
		b.Logf("seeded %d accounts in %s", benchAccounts(), time.Since(start).Round(time.Millisecond))
	})
	// A data set kept before the milestones were seeded gets them now.
	var milestones int
	require.NoError(b, st.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM health_milestones").Scan(&milestones))
	if milestones == 0 {
		start := time.Now()
		seedMilestones(b, st, m)
		b.Logf("seeded the milestones in %s", time.Since(start).Round(time.Millisecond))
	}
	return st
}

// keptBenchStore opens the kept benchmark database of dialect d named by
// key (for SQLite a directory under $TMPDIR, for PostgreSQL the schema
// bench_<key> of the MOMENTS_TEST_POSTGRES_URL database) and runs build on
// it when it is missing or was left incomplete.
func keptBenchStore(b *testing.B, d store.Dialect, key string, build func(st *store.Store)) *store.Store {
	b.Helper()
	ctx := context.Background()
	var cfg store.Config
	switch d {
	case store.SQLite:
		cfg = store.Config{Data: filepath.Join(os.TempDir(), "moments-bench-"+key)}
	default:
		base := os.Getenv(storetest.EnvPostgres)
		db, err := sql.Open("pgx", base)
		require.NoError(b, err)
		_, err = db.Exec("CREATE SCHEMA IF NOT EXISTS bench_" + key)
		require.NoError(b, err)
		require.NoError(b, db.Close())
		u, err := url.Parse(base)
		require.NoError(b, err)
		q := u.Query()
		q.Set("search_path", "bench_"+key)
		u.RawQuery = q.Encode()
		cfg = store.Config{DB: u.String()}
	}
	st, err := store.Open(ctx, cfg)
	require.NoError(b, err)
	b.Cleanup(func() { st.Close() })
	var done int
	_ = st.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM bench_complete").Scan(&done)
	if done == 0 {
		build(st)
		_, err = st.DB().ExecContext(ctx, "CREATE TABLE bench_complete (at BIGINT NOT NULL)")
		require.NoError(b, err)
		_, err = st.DB().ExecContext(ctx, "INSERT INTO bench_complete (at) VALUES ($1)", time.Now().Unix())
		require.NoError(b, err)
	}
	return st
}

// BenchmarkReports measures each moment analytics report on the example
// map over the aggregates of MOMENTS_BENCH_ACCOUNTS accounts; the
// scorecards both from the day cells the store keeps and, interleaved in
// the same run, without them (as before the cells).
//
//	go test ./internal/report/ -run '^$' -bench Reports -benchtime 3x
func BenchmarkReports(b *testing.B) {
	m, diags := journey.Parse("b2b-saas.yaml", examples.B2BSaaS)
	require.False(b, journey.HasErrors(diags))
	now := time.Now().UTC()
	if os.Getenv("MOMENTS_BENCH_KEEP") != "" {
		now = reportsBenchNow
	}
	for _, d := range storetest.Dialects() {
		b.Run(string(d), func(b *testing.B) {
			st := reportsBenchStore(b, d, m, now)
			ctx := context.Background()
			reports := []struct {
				name string
				run  func() error
			}{
				{"scorecards-90d", func() error { _, err := report.Scorecards(ctx, st, m, 90, now); return err }},
				// What every scorecard cost before the day cells: each
				// iteration drops them, so the report scans every occurrence.
				{"scorecards-90d-without-cells", func() error {
					if _, err := st.DB().ExecContext(ctx, `DELETE FROM moment_days`); err != nil {
						return err
					}
					_, err := report.Scorecards(ctx, st, m, 90, now)
					return err
				}},
				{"ideal-contract_signed", func() error {
					_, err := report.MomentScorecard(ctx, st, m, "contract_signed", 90, now)
					return err
				}},
				{"funnel-path-by-segment", func() error {
					_, err := report.Funnel(ctx, st, m, report.FunnelRequest{By: report.BySegment}, now)
					return err
				}},
				{"funnel-events", func() error {
					_, err := report.Funnel(ctx, st, m, report.FunnelRequest{Events: []string{"Integration Connected",
						"Report Created", "Dashboard Shared"}}, now)
					return err
				}},
				{"ttv-by-segment", func() error { _, err := report.TTV(ctx, st, m, "", report.BySegment, now); return err }},
			}
			// The first scorecards build the day cells (what a first report
			// after an upgrade, or after a map change, pays once).
			start := time.Now()
			require.NoError(b, reports[0].run())
			b.Logf("first scorecards (builds the day cells) in %s", time.Since(start).Round(time.Millisecond))
			for _, r := range reports {
				b.Run(r.name, func(b *testing.B) {
					// A first call, not measured: whatever it builds once.
					start := time.Now()
					require.NoError(b, r.run())
					b.Logf("first call in %s", time.Since(start).Round(time.Millisecond))
					for b.Loop() {
						require.NoError(b, r.run())
					}
				})
			}
		})
	}
}
