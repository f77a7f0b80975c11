package store_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// BenchmarkExceptionCandidates ranks the exception candidates of a
// synthetic base of MOMENTS_BENCH_ACCOUNTS accounts (default 10,000):
// accounts and their health state written directly, about 85 % of them
// candidates, as the health benchmark's data set (which takes hours to
// build at 100,000 accounts; see internal/health/tracker). With
// MOMENTS_BENCH_SQLITE_DIR the SQLite base is kept between runs.
func BenchmarkExceptionCandidates(b *testing.B) {
	n := 10_000
	if v, err := strconv.Atoi(os.Getenv("MOMENTS_BENCH_ACCOUNTS")); err == nil && v > 0 {
		n = v
	}
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, d := range storetest.Dialects() {
		b.Run(fmt.Sprintf("%s/accounts=%d", d, n), func(b *testing.B) {
			ctx := context.Background()
			cfg := storetest.Config(b, d)
			if dir := os.Getenv("MOMENTS_BENCH_SQLITE_DIR"); dir != "" && d == store.SQLite {
				cfg = store.Config{Data: dir}
			}
			st, err := store.Open(ctx, cfg)
			require.NoError(b, err)
			b.Cleanup(func() { st.Close() })
			seedExceptions(b, st, n, now)
			q := store.ExceptionQuery{Now: now, DueBefore: now.Add(-7 * 24 * time.Hour), ScoreDrop: 10, Limit: 100}
			var total int
			began := cpuTime()
			for b.Loop() {
				_, total, err = st.ExceptionCandidates(ctx, q)
				require.NoError(b, err)
			}
			b.ReportMetric(float64(total), "exceptions")
			// The process's CPU time per call: steadier than the wall time
			// on a shared machine (for SQLite it includes the database).
			b.ReportMetric(float64((cpuTime()-began).Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}

// seedExceptions writes n accounts with health states, warnings and a few
// overdue tasks, unless st holds them already.
func seedExceptions(b *testing.B, st *store.Store, n int, now time.Time) {
	b.Helper()
	ctx := context.Background()
	var have int
	require.NoError(b, st.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM account_health`).Scan(&have))
	if have >= n {
		return
	}
	series := `WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < $1 - 1) SELECT i FROM s`
	if st.Dialect() == store.Postgres {
		series = `SELECT i FROM generate_series(0, $1::bigint - 1) AS i`
	}
	renewal := `date('2026-06-01', ((i * 104729) % 400 - 30) || ' days')`
	if st.Dialect() == store.Postgres {
		renewal = `CAST(DATE '2026-06-01' + CAST((i * 104729) % 400 - 30 AS INTEGER) AS TEXT)`
	}
	id := func(e string) string {
		if st.Dialect() == store.Postgres {
			return "'acct-' || LPAD(CAST(" + e + " AS TEXT), 6, '0')"
		}
		return "printf('acct-%06d', " + e + ")"
	}
	day := int64(24 * time.Hour / time.Microsecond)
	at := now.UnixMicro()
	for _, q := range []string{
		// Accounts: three segments, forty owners, renewals over the next
		// year (a tenth unknown), a tenth churned.
		`INSERT INTO accounts (id, name, segment, owner, lifecycle_stage, arr, renewal_date, traits, created_at, updated_at)
			SELECT ` + id("i") + `, 'Account ' || i,
				CASE i % 3 WHEN 0 THEN 'smb' WHEN 1 THEN 'mid_market' ELSE 'enterprise' END,
				'csm' || (i % 40) || '@vendor.example', CASE WHEN i % 10 = 7 THEN 'churned' ELSE 'customer' END,
				1000 * (1 + (i * 7919) % 200),
				CASE WHEN i % 10 = 3 THEN '' ELSE ` + renewal + ` END,
				'{"name":"Account","segment":"smb","seats":20,"owner":"csm@vendor.example","contract_start":"2026-01-01"}', $2, $2
			FROM (` + series + `) s`,
		// Health: most accounts behind a milestone due in the past, some
		// with a usage drop or a falling score.
		`INSERT INTO account_health (account_id, behavioural, emotional, combined, quadrant, combined_baseline, usage_drop,
				usage_last, usage_previous, path_id, milestones_reached, milestones_total, next_milestone, next_milestone_name,
				next_due_at, version, updated_at)
			SELECT ` + id("i") + `, 50, 60, 40 + i % 50, 'at_risk', 40 + (i * 31) % 60,
				CASE WHEN i % 11 = 0 THEN 1 ELSE 0 END, 3, 40, 'onboarding', 1, 5, 'kickoff', 'Kickoff held',
				$2 - ((i * 13) % 60 - 5) * $3, 1, $2
			FROM (` + series + `) s`,
		`INSERT INTO health_warnings (account_id, codes, texts, updated_at)
			SELECT ` + id("i") + `, CASE WHEN i % 9 = 0 THEN 'low_health' ELSE '' END,
				CASE WHEN i % 9 = 0 THEN '["health is low"]' ELSE '[]' END, $2
			FROM (` + series + `) s`,
		`INSERT INTO tasks (id, run_id, step_index, account_id, moment_id, title, status, due_at, created_at, updated_at)
			SELECT 'task-' || i, 'run-' || i, 0, ` + id("i * 37 % $1") + `, 'm', 'Call them',
				CASE WHEN i % 3 = 0 THEN 'done' ELSE 'open' END, $2 - (i % 20 - 5) * $3, $2, $2
			FROM (` + series + `) s WHERE i < $1 / 50`,
	} {
		args := []any{n, at, day}
		if !strings.Contains(q, "$3") {
			args = args[:2]
		}
		_, err := st.DB().ExecContext(ctx, q, args...)
		require.NoError(b, err, q)
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
