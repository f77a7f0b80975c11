package report_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/health"
	"github.com/moments-cs/moments/internal/health/tracker"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/report"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// The outcome benchmarks run only when MOMENTS_BENCH_OUTCOMES is set:
// their data set (MOMENTS_BENCH_ACCOUNTS accounts, default 100,000, and
// MOMENTS_BENCH_EVENTS events, default 10,000,000) takes minutes to build
// the first time. It is kept between runs, keyed by its size: for SQLite in
// a directory under the system's temporary directory, for PostgreSQL in a
// schema of the MOMENTS_TEST_POSTGRES_URL database.
//
//	MOMENTS_BENCH_OUTCOMES=1 MOMENTS_TEST_POSTGRES_URL=postgres://… \
//	  go test ./internal/report/ -run '^$' -bench OutcomeReports -benchtime 3x -timeout 2h

// outcomeBenchNow is the end of the benchmark's history.
var outcomeBenchNow = time.Date(2026, 6, 30, 6, 0, 0, 0, time.UTC)

// outcomeBenchDays is the span of the benchmark's events.
const outcomeBenchDays = 180

func benchEnv(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// outcomeBenchStore opens the kept benchmark database of dialect d for
// the size, building it when it is missing or incomplete.
func outcomeBenchStore(b *testing.B, d store.Dialect, accounts, events int) *store.Store {
	b.Helper()
	ctx := context.Background()
	st := keptBenchStore(b, d, fmt.Sprintf("outcomes_%d_%d_v2", accounts, events), func(st *store.Store) {
		began := time.Now()
		buildOutcomeBench(b, st, accounts, events)
		b.Logf("%s: built %d accounts and %d events in %s", d, accounts, events, time.Since(began).Round(time.Second))
		_, err := st.DB().ExecContext(ctx, "ANALYZE")
		require.NoError(b, err)
	})
	// The events were written straight into the table, as if the ingest
	// stages had consumed them; the behaviour counts are filled from them
	// as after an upgrade.
	_, err := st.DB().ExecContext(ctx, "UPDATE ingest_progress SET last_event_id = (SELECT MAX(id) FROM events) WHERE name = 'stages' OR name LIKE 'stages/%'")
	require.NoError(b, err)
	_, err = st.DB().ExecContext(ctx, "UPDATE behaviour_backfill SET boundary = (SELECT MAX(id) FROM events) WHERE through = 0")
	require.NoError(b, err)
	began := time.Now()
	n, err := st.BackfillBehaviours(ctx)
	require.NoError(b, err)
	if n > 0 {
		b.Logf("%s: filled the behaviour counts from %d events in %s", d, n, time.Since(began).Round(time.Second))
		_, err = st.DB().ExecContext(ctx, "ANALYZE")
		require.NoError(b, err)
	}
	return st
}

// outcomeBenchHistoryDays is how many days of daily health history the
// benchmark seeds for every account: what a year of lived use leaves.
const outcomeBenchHistoryDays = 365

// outcomeBenchHistory gives the backtest a daily health history to read
// the first time it runs on the data set. By default the history is
// seeded straight into health_history (seedOutcomeBenchHistory: minutes,
// where rebuilding it from 10 million events takes hours) and kept,
// marked by the table bench_history_seeded_v1; with
// MOMENTS_BENCH_HISTORY=rebuild it is rebuilt from the benchmark's events
// (RebuildHistory, the same code as `moments health rebuild-history`),
// marked by bench_history. Either kept history is used as it is.
func outcomeBenchHistory(b *testing.B, st *store.Store, tr *tracker.Tracker) {
	b.Helper()
	ctx := context.Background()
	for _, mark := range []string{"bench_history", "bench_history_seeded_v1"} {
		var done int
		_ = st.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM "+mark).Scan(&done)
		if done > 0 {
			return
		}
	}
	mark := "bench_history_seeded_v1"
	if os.Getenv("MOMENTS_BENCH_HISTORY") == "rebuild" {
		mark = "bench_history"
		rs, err := tr.RebuildHistory(ctx, tracker.RebuildOptions{})
		require.NoError(b, err)
		b.Logf("%s: rebuilt %d days of history of %d accounts from %d events in %s", st.Dialect(), rs.Days, rs.Accounts, rs.Events,
			rs.Duration.Round(time.Second))
	} else {
		began := time.Now()
		n := seedOutcomeBenchHistory(b, st)
		b.Logf("%s: seeded %d days of history in %s", st.Dialect(), n, time.Since(began).Round(time.Second))
	}
	_, err := st.DB().ExecContext(ctx, "ANALYZE")
	require.NoError(b, err)
	_, err = st.DB().ExecContext(ctx, "CREATE TABLE "+mark+" (at BIGINT NOT NULL)")
	require.NoError(b, err)
	_, err = st.DB().ExecContext(ctx, "INSERT INTO "+mark+" (at) VALUES ($1)", time.Now().Unix())
	require.NoError(b, err)
}

// seedOutcomeBenchHistory writes outcomeBenchHistoryDays days of daily
// health history for every account of the data set straight into
// health_history, shaped as the daily recompute leaves it when it has run
// for a year: one row per account and day up to today, written as the day
// passed (rebuilt = 0). Each account has a level of its own and a daily
// wobble; an account that churns declines over the 120 days before its
// churn (bench_draws says when) and stays low after it, so the score as it
// stood 60 days before a churn tells churners apart, as a useful score
// would. The component values are those of a template day per combined
// score (0–100), made here with health.Day's own encoding; the rows are
// generated inside the database, one day of every account a statement, in
// the table's key order (day, then account), as the daily recompute
// appends them. It returns the rows written.
func seedOutcomeBenchHistory(b *testing.B, st *store.Store) int64 {
	b.Helper()
	ctx := context.Background()
	var tpl [][]any
	for k := range 101 {
		var d health.Day
		for i := range d.Components {
			d.Components[i] = health.Known(math.Min(100, math.Max(0, float64(k)+float64(i%5-2)*6)))
		}
		tpl = append(tpl, []any{k, d.EncodeComponents()})
	}
	_, err := st.DB().ExecContext(ctx, "CREATE TABLE IF NOT EXISTS bench_history_components (k BIGINT PRIMARY KEY, components "+
		map[store.Dialect]string{store.SQLite: "BLOB", store.Postgres: "BYTEA"}[st.Dialect()]+" NOT NULL)")
	require.NoError(b, err)
	_, err = st.DB().ExecContext(ctx, "DELETE FROM bench_history_components")
	require.NoError(b, err)
	bulkRows(b, st, "bench_history_components", []string{"k", "components"}, tpl, 101)
	var accounts int
	require.NoError(b, st.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM bench_draws").Scan(&accounts))
	today := outcomeBenchNow.Unix() / 86400
	first := today - outcomeBenchHistoryDays + 1
	// Per row: u is the account's own uniform draw, w the day's wobble
	// (±5), fall the churner's decline. Behavioural and emotional straddle
	// the combined score; the quadrant and the warning bits (low_health
	// under 40, declining_usage while declining) follow from them.
	rnd, real := "(abs(random()) % 1000) / 100.0", "REAL"
	if st.Dialect() == store.Postgres {
		rnd, real = "floor(random() * 1000) / 100.0", "DOUBLE PRECISION"
	}
	_, err = st.DB().ExecContext(ctx, "CREATE TABLE IF NOT EXISTS bench_history_seq (i BIGINT PRIMARY KEY)")
	require.NoError(b, err)
	_, err = st.DB().ExecContext(ctx, "DELETE FROM bench_history_seq")
	require.NoError(b, err)
	var seq [][]any
	for i := range outcomeBenchHistoryDays {
		seq = append(seq, []any{i})
	}
	bulkRows(b, st, "bench_history_seq", []string{"i"}, seq, 100)
	const day = "seq.i"
	q := `
		INSERT INTO health_history (account_id, day, behavioural, emotional, combined, quadrant, warnings, components, rebuilt)
		SELECT account_id, d, beh, emo, c,
			CASE WHEN beh >= 50 AND emo >= 50 THEN 'champion' WHEN beh >= 50 THEN 'captive' WHEN emo >= 50 THEN 'dormant_fan' ELSE 'at_risk' END,
			(CASE WHEN c < 40 THEN 1 ELSE 0 END) + (CASE WHEN fall > 10 THEN 2 ELSE 0 END),
			(SELECT components FROM bench_history_components WHERE k = CAST(c AS BIGINT)), 0
		FROM (SELECT account_id, d, fall, c, MIN(100, MAX(0, c + 6 - 12 * u)) AS beh, MIN(100, MAX(0, c - 6 + 12 * u)) AS emo
			FROM (SELECT account_id, d, u, fall, MIN(100, MAX(0, 40 + 45 * u - fall + ` + rnd + ` - 5)) AS c
				FROM (SELECT g.account_id, CAST(` + strconv.FormatInt(first, 10) + ` + ` + day + ` AS BIGINT) AS d,
					CAST((g.idx * 7919 + 13) % 1000 AS ` + real + `) / 1000 AS u,
					CASE WHEN g.churned = 1 THEN 35 * MIN(1, MAX(0, (` + strconv.FormatInt(first, 10) + ` + ` + day + ` - ((g.start_at + g.span) / 86400000000 - 120)) / 120.0)) ELSE 0 END AS fall
					FROM bench_draws g CROSS JOIN bench_history_seq seq WHERE seq.i >= $1 AND seq.i < $2 ORDER BY seq.i, g.idx) x) y) z`
	if st.Dialect() == store.Postgres {
		q = strings.NewReplacer("MIN(100, MAX(0, ", "LEAST(100, GREATEST(0, ", "MIN(1, MAX(0, ", "LEAST(1, GREATEST(0, ").Replace(q)
	}
	// The account index is made once after the rows: kept up row by row,
	// it made the seeding several times slower.
	// A seeding cut short left rows and no index.
	_, err = st.DB().ExecContext(ctx, "DROP INDEX IF EXISTS health_history_account")
	require.NoError(b, err)
	_, err = st.DB().ExecContext(ctx, "DELETE FROM health_history")
	require.NoError(b, err)
	// A day of every account a statement, in key order: the rows are
	// appended to the table (kept by day, then account), as the daily
	// recompute appends them.
	var n int64
	began := time.Now()
	for d := 0; d < outcomeBenchHistoryDays; d++ {
		res, err := st.DB().ExecContext(ctx, q, d, d+1)
		require.NoError(b, err)
		k, err := res.RowsAffected()
		require.NoError(b, err)
		n += k
		if d%30 == 29 {
			b.Logf("seeded %d days of history of %d accounts in %s", d+1, accounts, time.Since(began).Round(time.Second))
		}
	}
	_, err = st.DB().ExecContext(ctx, "CREATE INDEX health_history_account ON health_history (account_id, day)")
	require.NoError(b, err)
	return n
}

var outcomeBenchNames = []string{"Logged In", "Report Created", "Dashboard Shared", "Export Run", "Page Viewed",
	"Report Viewed", "Alert Set", "Filter Applied", "Ticket Opened", "Integration Connected", "Workflow Built"}

// buildOutcomeBench writes the accounts and their events straight into
// the tables (ingestion would take hours): each account gets a group call
// at signing and about events/accounts track calls over the last
// outcomeBenchDays days; a tenth to a fifth churn within the last 120
// days (a group call then sets lifecycle_stage churned, and their events
// stop), and accounts that churn use the product less, more so toward the
// end. The accounts, their group calls and each account's draw (how many
// events, users, when it churns) are made here; the track calls are
// generated inside the database from those draws, a few thousand accounts
// a statement, which is what makes 10 million events take minutes rather
// than hours.
func buildOutcomeBench(b *testing.B, st *store.Store, accounts, events int) {
	b.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(uint64(accounts), uint64(events)))
	start := outcomeBenchNow.Add(-outcomeBenchDays * 24 * time.Hour)
	segments := []string{"smb", "mid_market", "enterprise"}
	contracts := []string{"Annual", "Month-to-month"}
	cols := []string{"id", "message_id", "dedupe_key", "write_key_id", "type", "name", "user_id", "account_id",
		"timestamp", "received_at", "properties"}
	var accountRows, eventRows, drawRows [][]any
	var id int64
	event := func(typ, name, user, account string, at time.Time, props string) {
		id++
		mid := "bench-" + strconv.FormatInt(id, 10)
		key := sha256.Sum256([]byte(mid))
		eventRows = append(eventRows, []any{id, mid, key[:16], "wk", typ, name, user, account, at.UnixMicro(),
			at.UnixMicro(), props})
	}
	per := float64(events) / float64(accounts)
	for a := range accounts {
		acct := fmt.Sprintf("acct-%06d", a)
		risk := rng.NormFloat64()
		churned := rng.Float64() < 1/(1+math.Exp(2.2-risk))
		signed := start.Add(-time.Duration(rng.IntN(400)) * 24 * time.Hour)
		contract := contracts[0]
		if rng.Float64() < 0.3+0.15*risk {
			contract = contracts[1]
		}
		traits := map[string]any{"name": "Account " + strconv.Itoa(a), "segment": segments[a%3], "plan": "pro",
			"arr": float64(1000 * (1 + rng.IntN(200))), "seats": float64(5 + rng.IntN(50)), "contract": contract,
			"contract_start": signed.Format(time.DateOnly), "lifecycle_stage": "adoption"}
		raw, _ := json.Marshal(traits)
		event("group", "", "", acct, signed, string(raw))
		end := outcomeBenchNow
		updated := signed
		if churned {
			end = outcomeBenchNow.Add(-time.Duration(rng.Float64()*120*24) * time.Hour)
			traits["lifecycle_stage"] = "churned"
			event("group", "", "", acct, end, `{"lifecycle_stage":"churned"}`)
			updated = end
		}
		raw, _ = json.Marshal(traits)
		accountRows = append(accountRows, []any{acct, traits["name"], "pro", traits["segment"], traits["lifecycle_stage"],
			traits["arr"], string(raw), signed.UnixMicro(), updated.UnixMicro()})
		c := 0
		if churned {
			c = 1
		}
		drawRows = append(drawRows, []any{a, acct, int(per * (0.5 + rng.Float64())), 2 + rng.IntN(8), start.UnixMicro(),
			end.Sub(start).Microseconds(), c})
	}
	total := len(eventRows)
	for _, d := range drawRows {
		total += d[2].(int)
	}
	require.NoError(b, st.EnsureEventPartitions(ctx, int64(total)))
	bulkRows(b, st, "events", cols, eventRows, 900)
	bulkRows(b, st, "accounts", []string{"id", "name", "plan", "segment", "lifecycle_stage", "arr", "traits", "created_at",
		"updated_at"}, accountRows, 500)
	_, err := st.DB().ExecContext(ctx, `CREATE TABLE bench_draws (idx BIGINT PRIMARY KEY, account_id TEXT NOT NULL, n BIGINT NOT NULL,
		users BIGINT NOT NULL, start_at BIGINT NOT NULL, span BIGINT NOT NULL, churned BIGINT NOT NULL)`)
	require.NoError(b, err)
	bulkRows(b, st, "bench_draws", []string{"idx", "account_id", "n", "users", "start_at", "span", "churned"}, drawRows, 500)

	// Each account's track calls in time order (ids follow it, as when
	// they arrive); a churner's fall toward its churn. u is uniform on
	// [0, 1), k a random integer, s picks the 1 % that are NPS answers.
	names := "'" + strings.Join(outcomeBenchNames, "','") + "'"
	var q string
	if st.Dialect() == store.SQLite {
		q = `WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < (SELECT MAX(n) FROM bench_draws))
			INSERT INTO events (message_id, dedupe_key, write_key_id, type, name, user_id, account_id, timestamp, received_at, properties)
			SELECT 'bench-' || idx || '-' || i, randomblob(16), 'wk', 'track',
				CASE WHEN s = 0 THEN 'Survey Responded' ELSE json_extract(json_array(` + names + `), '$[' || (k % ` +
			strconv.Itoa(len(outcomeBenchNames)) + `) || ']') END,
				account_id || '-u' || (k % users), account_id, ts, ts,
				CASE WHEN s = 0 THEN '{"kind":"nps","score":' || (CASE WHEN churned = 1 THEN k % 9 ELSE 5 + k % 6 END) || '}' ELSE '{}' END
			FROM (SELECT idx, i, account_id, users, churned, abs(random()) % 100 AS s, abs(random()) AS k,
				start_at + CAST(span * (CASE WHEN churned = 1
					THEN 1 - (1 - f) * (1 - f) * 0.6 - 0.4 * (abs(random()) / 9223372036854775808.0) * (1 - f) ELSE f END) AS INTEGER) AS ts
				FROM (SELECT g.*, seq.i, CAST(seq.i AS REAL) / g.n AS f FROM bench_draws g JOIN seq ON seq.i < g.n
					WHERE g.idx >= $1 AND g.idx < $2 ORDER BY g.idx, seq.i))`
	} else {
		_, err = st.DB().ExecContext(ctx, "SELECT setval('events_id_seq', $1)", id)
		require.NoError(b, err)
		q = `INSERT INTO events (message_id, dedupe_key, write_key_id, type, name, user_id, account_id, timestamp, received_at, properties)
			SELECT 'bench-' || idx || '-' || i, decode(md5(idx::text || '-' || i::text || random()::text), 'hex'), 'wk', 'track',
				CASE WHEN s = 0 THEN 'Survey Responded' ELSE (ARRAY[` + names + `])[1 + k % ` + strconv.Itoa(len(outcomeBenchNames)) + `] END,
				account_id || '-u' || (k % users), account_id, ts, ts,
				CASE WHEN s = 0 THEN ('{"kind":"nps","score":' || (CASE WHEN churned = 1 THEN k % 9 ELSE 5 + k % 6 END) || '}')::jsonb
					ELSE '{}'::jsonb END
			FROM (SELECT idx, i, account_id, users, churned, floor(random() * 100)::int AS s, floor(random() * 1000000)::bigint AS k,
				start_at + (span * (CASE WHEN churned = 1 THEN 1 - (1 - f) * (1 - f) * 0.6 - 0.4 * random() * (1 - f) ELSE f END))::bigint AS ts
				FROM (SELECT g.*, i, i::float8 / g.n AS f FROM bench_draws g CROSS JOIN LATERAL generate_series(0, g.n - 1) AS i
					WHERE g.idx >= $1 AND g.idx < $2 ORDER BY g.idx, i) x) y`
	}
	const perStatement = 2000 // accounts
	began := time.Now()
	for lo := 0; lo < accounts; lo += perStatement {
		_, err := st.DB().ExecContext(ctx, q, lo, lo+perStatement)
		require.NoError(b, err)
		if lo/perStatement%10 == 9 {
			b.Logf("generated the events of %d accounts in %s", lo+perStatement, time.Since(began).Round(time.Second))
		}
	}
	if st.Dialect() == store.SQLite {
		// The rows carry no message keys to deduplicate against later.
		_, err := st.DB().ExecContext(ctx, "UPDATE store_meta SET value = (SELECT MAX(id) FROM events) WHERE name = 'dedupe_merged_through'")
		require.NoError(b, err)
	} else {
		_, err := st.DB().ExecContext(ctx, "SELECT setval('events_id_seq', (SELECT MAX(id) FROM events))")
		require.NoError(b, err)
	}
}

// bulkRows inserts rows of cols values, per rows to a statement, in one
// transaction.
func bulkRows(b *testing.B, st *store.Store, table string, cols []string, rows [][]any, per int) {
	b.Helper()
	ctx := context.Background()
	tx, err := st.DB().BeginTx(ctx, nil)
	require.NoError(b, err)
	defer tx.Rollback() //nolint:errcheck
	stmts := map[int]*sql.Stmt{}
	args := make([]any, 0, per*len(cols))
	for start := 0; start < len(rows); start += per {
		chunk := rows[start:min(start+per, len(rows))]
		stmt := stmts[len(chunk)]
		if stmt == nil {
			var sb strings.Builder
			fmt.Fprintf(&sb, "INSERT INTO %s (%s) VALUES ", table, strings.Join(cols, ", "))
			n := 0
			for i := range chunk {
				if i > 0 {
					sb.WriteString(",")
				}
				sb.WriteString("(")
				for j := range cols {
					if j > 0 {
						sb.WriteString(",")
					}
					n++
					fmt.Fprintf(&sb, "$%d", n)
				}
				sb.WriteString(")")
			}
			stmt, err = tx.PrepareContext(ctx, sb.String())
			require.NoError(b, err)
			stmts[len(chunk)] = stmt
		}
		args = args[:0]
		for _, r := range chunk {
			args = append(args, r...)
		}
		_, err := stmt.ExecContext(ctx, args...)
		require.NoError(b, err)
	}
	require.NoError(b, tx.Commit())
}

// BenchmarkOutcomeReports measures the drivers report and the backtest on
// the kept data set (see above).
func BenchmarkOutcomeReports(b *testing.B) {
	if os.Getenv("MOMENTS_BENCH_OUTCOMES") == "" {
		b.Skip("set MOMENTS_BENCH_OUTCOMES=1 to run (the first run builds a data set of millions of events)")
	}
	accounts := benchEnv("MOMENTS_BENCH_ACCOUNTS", 100_000)
	events := benchEnv("MOMENTS_BENCH_EVENTS", 10_000_000)
	for _, d := range storetest.Dialects() {
		b.Run(string(d), func(b *testing.B) {
			st := outcomeBenchStore(b, d, accounts, events)
			ctx := context.Background()
			tr := tracker.New(st, journey.NewLive(st), tracker.Options{Now: func() time.Time { return outcomeBenchNow }})
			b.Run("drivers", func(b *testing.B) {
				began := storetest.CPUTime()
				for b.Loop() {
					dr, err := report.DriversReport(ctx, st, report.OutcomeQuery{Now: outcomeBenchNow})
					require.NoError(b, err)
					require.NotEmpty(b, dr.Drivers)
				}
				// The process's CPU time per report (the database
				// server's, on PostgreSQL, is not counted).
				b.ReportMetric(float64((storetest.CPUTime()-began).Milliseconds())/float64(b.N), "cpu-ms/op")
			})
			b.Run("backtest-60d", func(b *testing.B) {
				outcomeBenchHistory(b, st, tr)
				began := storetest.CPUTime()
				for b.Loop() {
					bt, err := report.BacktestReport(ctx, st, tr, report.OutcomeQuery{HorizonDays: 60, Now: outcomeBenchNow})
					require.NoError(b, err)
					require.Greater(b, bt.AUC, 0.5)
				}
				b.ReportMetric(float64((storetest.CPUTime()-began).Milliseconds())/float64(b.N), "cpu-ms/op")
			})
		})
	}
}
