package report_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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
	key := fmt.Sprintf("outcomes_%d_%d_v1", accounts, events)
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
	if done > 0 {
		return st
	}
	began := time.Now()
	buildOutcomeBench(b, st, accounts, events)
	b.Logf("%s: built %d accounts and %d events in %s", d, accounts, events, time.Since(began).Round(time.Second))
	tr := tracker.New(st, journey.NewLive(st), tracker.Options{Now: func() time.Time { return outcomeBenchNow }})
	began = time.Now()
	rs, err := tr.RebuildHistory(ctx, tracker.RebuildOptions{})
	require.NoError(b, err)
	b.Logf("%s: rebuilt %d days of history of %d accounts from %d events in %s", d, rs.Days, rs.Accounts, rs.Events,
		rs.Duration.Round(time.Second))
	_, err = st.DB().ExecContext(ctx, "ANALYZE")
	require.NoError(b, err)
	_, err = st.DB().ExecContext(ctx, "CREATE TABLE bench_complete (at BIGINT NOT NULL)")
	require.NoError(b, err)
	_, err = st.DB().ExecContext(ctx, "INSERT INTO bench_complete (at) VALUES ($1)", time.Now().Unix())
	require.NoError(b, err)
	return st
}

var outcomeBenchNames = []string{"Logged In", "Report Created", "Dashboard Shared", "Export Run", "Page Viewed",
	"Report Viewed", "Alert Set", "Filter Applied", "Ticket Opened", "Integration Connected", "Workflow Built"}

// buildOutcomeBench writes the accounts and their events straight into
// the tables, in large transactions (ingestion would take an hour): each
// account gets a group call at signing and about events/accounts track
// calls over the last outcomeBenchDays days; a tenth churn within the
// last 120 days (a group call then sets lifecycle_stage churned, and their
// events stop), and accounts that churn use the product less, more so
// toward the end.
func buildOutcomeBench(b *testing.B, st *store.Store, accounts, events int) {
	b.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(uint64(accounts), uint64(events)))
	start := outcomeBenchNow.Add(-outcomeBenchDays * 24 * time.Hour)
	segments := []string{"smb", "mid_market", "enterprise"}
	contracts := []string{"Annual", "Month-to-month"}
	cols := []string{"id", "message_id", "dedupe_key", "write_key_id", "type", "name", "user_id", "account_id",
		"timestamp", "received_at", "properties"}
	var accountRows, eventRows [][]any
	var id int64
	flushEvents := func(force bool) {
		if len(eventRows) >= 200_000 || (force && len(eventRows) > 0) {
			bulkRows(b, st, "events", cols, eventRows, 900)
			eventRows = eventRows[:0]
		}
	}
	event := func(typ, name, user, account string, at time.Time, props string) {
		id++
		mid := "bench-" + strconv.FormatInt(id, 10)
		key := sha256.Sum256([]byte(mid))
		eventRows = append(eventRows, []any{id, mid, key[:16], "wk", typ, name, user, account, at.UnixMicro(),
			at.UnixMicro(), props})
		flushEvents(false)
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
		// Events fall in time order per account; a churner's rate drops
		// toward its churn.
		n := int(per * (0.5 + rng.Float64()))
		users := 2 + rng.IntN(8)
		span := end.Sub(start)
		for i := range n {
			frac := float64(i) / float64(n)
			if churned {
				frac = 1 - (1-frac)*(1-frac)*0.6 - 0.4*rng.Float64()*(1-frac) // bunched early
			}
			at := start.Add(time.Duration(frac * float64(span)))
			name := outcomeBenchNames[rng.IntN(len(outcomeBenchNames))]
			props := "{}"
			if rng.IntN(100) == 0 {
				name = "Survey Responded"
				score := 5 + rng.IntN(6)
				if churned {
					score = rng.IntN(9)
				}
				props = fmt.Sprintf(`{"kind":"nps","score":%d}`, score)
			}
			event("track", name, fmt.Sprintf("%s-u%d", acct, rng.IntN(users)), acct, at, props)
		}
	}
	flushEvents(true)
	bulkRows(b, st, "accounts", []string{"id", "name", "plan", "segment", "lifecycle_stage", "arr", "traits", "created_at",
		"updated_at"}, accountRows, 500)
	if st.Dialect() == store.SQLite {
		// The rows carry no message keys to deduplicate against later.
		_, err := st.DB().ExecContext(ctx, "UPDATE store_meta SET value = $1 WHERE name = 'dedupe_merged_through'", id)
		require.NoError(b, err)
	} else {
		_, err := st.DB().ExecContext(ctx, "SELECT setval('events_id_seq', $1)", id)
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
				for b.Loop() {
					dr, err := report.DriversReport(ctx, st, report.OutcomeQuery{Now: outcomeBenchNow})
					require.NoError(b, err)
					require.NotEmpty(b, dr.Drivers)
				}
			})
			b.Run("backtest-60d", func(b *testing.B) {
				for b.Loop() {
					bt, err := report.BacktestReport(ctx, st, tr, report.OutcomeQuery{HorizonDays: 60, Now: outcomeBenchNow})
					require.NoError(b, err)
					require.Greater(b, bt.AUC, 0.5)
				}
			})
		})
	}
}
