package report_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/health"
	"github.com/moments-cs/moments/internal/health/planted"
	"github.com/moments-cs/moments/internal/health/tracker"
	"github.com/moments-cs/moments/internal/ingest"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/report"
	"github.com/moments-cs/moments/internal/stats"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

func TestBacktestFromStoredEventsEqualsDirectComputation(t *testing.T) {
	t.Parallel()
	cfg := planted.DefaultConfig(11)
	cfg.Accounts, cfg.Days = 60, 150
	accounts := planted.Generate(cfg)
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		require.NoError(t, planted.Ingest(context.Background(), st, accounts, cfg.End))
		ctx := context.Background()
		tr := tracker.New(st, journey.NewLive(st), tracker.Options{Now: func() time.Time { return cfg.End }})

		lb, err := report.LabelOutcomes(ctx, st, "", cfg.End)
		require.NoError(t, err)
		churned := map[string]time.Time{}
		for _, a := range accounts {
			if a.Churned {
				churned[a.ID] = a.ChurnAt
			}
		}
		require.Len(t, lb.Rows, len(accounts))
		for _, r := range lb.Rows {
			at, ok := churned[r.AccountID]
			require.Equal(t, ok, r.Positive, r.AccountID)
			if ok {
				require.True(t, at.Equal(r.At), "%s churned at %s, labelled %s", r.AccountID, at, r.At)
			}
		}

		b, err := report.BacktestReport(ctx, st, tr, report.OutcomeQuery{HorizonDays: 30, Now: cfg.End})
		require.NoError(t, err)
		direct := plantedScores(accounts, cfg.End, 30*oneDay, journey.HealthModel{})
		var risk []float64
		var pos []bool
		for _, r := range direct {
			risk = append(risk, 100-r.Score.Combined.Score)
			pos = append(pos, r.Positive)
		}
		want, err := stats.ComputeAUC(risk, pos)
		require.NoError(t, err)
		require.Equal(t, len(direct), b.Accounts)
		require.Equal(t, len(accounts)-len(direct), b.NotYet)
		require.InDelta(t, want.Value, b.AUC, 1e-9, "scores rebuilt from stored events equal scores computed directly")
		require.Equal(t, 30, b.Horizon)

		c, err := report.CalibrationReport(ctx, st, tr, report.OutcomeQuery{HorizonDays: 30, Now: cfg.End})
		require.NoError(t, err)
		require.InDelta(t, b.AUC, c.DefaultAUC, 1e-9)
		require.Contains(t, c.Section, "health:")

		d, err := report.DriversReport(ctx, st, report.OutcomeQuery{Now: cfg.End})
		require.NoError(t, err)
		require.NotEmpty(t, d.Drivers)
		for _, dr := range d.Drivers {
			require.NotContains(t, dr.Signal, "lifecycle_stage", "the outcome's own trait is never a driver")
		}
		var behaviours int
		for _, dr := range d.Drivers {
			if dr.Kind == "behaviour" {
				behaviours++
			}
		}
		require.Positive(t, behaviours)
	})
}

func TestBacktestReadsTheKeptHistory(t *testing.T) {
	t.Parallel()
	cfg := planted.DefaultConfig(11)
	cfg.Accounts, cfg.Days = 60, 150
	accounts := planted.Generate(cfg)
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		require.NoError(t, planted.Ingest(context.Background(), st, accounts, cfg.End))
		ctx := context.Background()
		tr := tracker.New(st, journey.NewLive(st), tracker.Options{Now: func() time.Time { return cfg.End }})
		_, err := tr.RebuildHistory(ctx, tracker.RebuildOptions{})
		require.NoError(t, err)
		// With the customers' events gone, only the kept history can
		// answer.
		_, err = st.DB().ExecContext(ctx, "DELETE FROM events WHERE type = 'track'")
		require.NoError(t, err)

		b, err := report.BacktestReport(ctx, st, tr, report.OutcomeQuery{HorizonDays: 30, Now: cfg.End})
		require.NoError(t, err)
		// The same backtest on scores computed directly as they stood at
		// the start of the day of each time the backtest reads.
		startOfDay := func(t time.Time) time.Time { return t.Truncate(oneDay) }
		var rows []report.Scored
		for _, a := range accounts {
			at := cfg.End
			if a.Churned {
				at = a.ChurnAt
			}
			score := func(when time.Time) (health.Result, bool) {
				cut := startOfDay(when)
				evs := a.EventsBefore(cut)
				return health.Scores(health.Recompute(evs, journey.HealthModel{}), a.Info(), journey.HealthModel{}, cut), len(evs) > 0
			}
			r, ok := score(at.Add(-30 * oneDay))
			if !ok {
				continue
			}
			row := report.Scored{AccountID: a.ID, Positive: a.Churned, At: at, Score: r}
			if a.Churned {
				if e, ok := score(at.Add(-report.FlaggedBeforeDays * oneDay)); ok {
					row.Early = &e
				}
			}
			rows = append(rows, row)
		}
		want, err := report.ComputeBacktest(rows)
		require.NoError(t, err)
		require.Equal(t, want.Accounts, b.Accounts)
		require.Equal(t, want.Positives, b.Positives)
		require.Equal(t, len(accounts)-want.Accounts, b.NotYet)
		require.InDelta(t, want.AUC, b.AUC, 1e-9)
		require.Equal(t, want.Exceptions, b.Exceptions)
		require.Equal(t, want.FlaggedBefore, b.FlaggedBefore)
		require.Equal(t, want.Deciles, b.Deciles)
	})
}

func TestOutcomeErrors(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t, store.SQLite)
	ctx := context.Background()
	_, err := report.LabelOutcomes(ctx, st, "account.lifecycle_stage ==", time.Now())
	var oe *report.OutcomeError
	require.ErrorAs(t, err, &oe)
	require.Equal(t, "outcome", oe.Field)
	require.True(t, report.IsBadRequest(err))

	_, err = report.DriversReport(ctx, st, report.OutcomeQuery{GapDays: -1})
	require.ErrorAs(t, err, &oe)
	require.Equal(t, "gap", oe.Field)

	_, err = report.ParseDays("horizon", "soon")
	require.ErrorAs(t, err, &oe)
	n, err := report.ParseDays("horizon", "60d")
	require.NoError(t, err)
	require.Equal(t, 60, n)
}

// TestDriversFromACRMExportAlone imports accounts with a churn column and
// no events: the drivers report tests the traits, leaves out the churn
// column it is asked about and a column written at churn, counts the rows
// where the outcome cannot be evaluated, and refuses with too few
// outcomes.
func TestDriversFromACRMExportAlone(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("id,name,contract,region,churned,churned_on\n")
	for i := range 120 {
		contract, churned := "Annual", "no"
		if i%3 == 0 {
			contract = "Month-to-month"
		}
		// Month-to-month churns 3 in 4; annual 1 in 8.
		if (contract == "Month-to-month" && i%4 != 0) || (contract == "Annual" && i%8 == 1) {
			churned = "yes"
		}
		on := ""
		if churned == "yes" {
			on = "2026-05-01"
		}
		if i == 7 {
			churned = "" // unknown: left out and counted
		}
		fmt.Fprintf(&b, "c%03d,Customer %d,%s,%s,%s,%s\n", i, i, contract, []string{"EMEA", "NA"}[i%2], churned, on)
	}
	msgs, bad, err := ingest.AccountsCSV(strings.NewReader(b.String()), time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	require.Empty(t, bad)
	st := storetest.Open(t, store.SQLite)
	ctx := context.Background()
	_, err = st.Ingest(ctx, "import", msgs)
	require.NoError(t, err)

	d, err := report.DriversReport(ctx, st, report.OutcomeQuery{Outcome: `account.churned == "yes"`, Now: time.Date(2026, 6, 2, 0, 0, 0, 0, time.UTC)})
	require.NoError(t, err)
	require.Equal(t, 1, d.Excluded)
	require.Equal(t, 119, d.Accounts)
	require.Equal(t, "contract = Annual", d.Drivers[0].Signal)
	require.True(t, d.Drivers[0].Significant)
	require.Equal(t, "lowers", d.Drivers[0].Direction)
	for _, dr := range d.Drivers {
		require.NotEqual(t, "behaviour", dr.Kind, "no events, no behaviours")
		require.NotContains(t, dr.Signal, "churned")
	}
	require.Contains(t, strings.Join(d.LeftOut, "\n"), "churned_on: known for")

	_, err = report.DriversReport(ctx, st, report.OutcomeQuery{Outcome: `account.id == "c001"`, Now: time.Now()})
	require.ErrorIs(t, err, report.ErrTooFewOutcomes)
	require.Contains(t, err.Error(), "1 accounts with the outcome and 119 without")
}

// TestExceptionReportListsHealthWarnings ingests a planted base with the
// health tracker running: health warnings are reasons of the exception
// report, and every account whose stored combined score is below 40 is in
// it with the low_health reason.
func TestExceptionReportListsHealthWarnings(t *testing.T) {
	t.Parallel()
	cfg := planted.DefaultConfig(13)
	cfg.Accounts, cfg.Days = 40, 120
	accounts := planted.Generate(cfg)
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		tr := tracker.New(st, journey.NewLive(st), tracker.Options{Now: func() time.Time { return cfg.End }})
		st.OnIngest(tr.OnIngest)
		require.NoError(t, planted.Ingest(context.Background(), st, accounts, cfg.End))
		_, err := tr.Recompute(ctx)
		require.NoError(t, err)

		rep, err := report.Exceptions(ctx, st, report.ExceptionFilter{}, cfg.End)
		require.NoError(t, err)
		low := map[string]bool{}
		warned := 0
		for _, e := range rep.Exceptions {
			for _, r := range e.Reasons {
				switch r.Code {
				case report.ReasonDecliningUsage, report.ReasonSponsorLeft:
					warned++
				case report.ReasonLowHealth:
					warned++
					low[e.AccountID] = true
					require.NotNil(t, e.Combined)
					require.Less(t, *e.Combined, 40.0, "%s: %s", e.AccountID, r.Text)
				}
			}
		}
		want := 0
		for _, a := range accounts {
			if a.Churned {
				continue // churned accounts are left out of the report
			}
			h, err := st.AccountHealth(ctx, a.ID)
			require.NoError(t, err)
			if h.Combined != nil && *h.Combined < 40 {
				want++
				require.True(t, low[a.ID], a.ID)
			}
		}
		require.Len(t, low, want)
		require.Equal(t, len(rep.Exceptions), rep.Total)

		// The churners stopped using the product: asked for, they are
		// listed with the warnings their health raised.
		lost, err := report.Exceptions(ctx, st, report.ExceptionFilter{HealthFilter: store.HealthFilter{Stage: "churned"}}, cfg.End)
		require.NoError(t, err)
		for _, e := range lost.Exceptions {
			for _, r := range e.Reasons {
				switch r.Code {
				case report.ReasonLowHealth, report.ReasonDecliningUsage, report.ReasonSponsorLeft:
					warned++
					require.NotEmpty(t, r.Text)
				}
			}
		}
		require.Positive(t, warned, "the planted churners raised health warnings")
	})
}

// TestOutcomeDatedByTheGroupCallThatFirstMadeItHold replays group calls
// whose traits the fast reader takes (plain JSON) and those it leaves to
// encoding/json (escaped strings, non-ASCII): a positive is dated by the
// first call after which the outcome held, even when it stopped holding
// and held again later.
func TestOutcomeDatedByTheGroupCallThatFirstMadeItHold(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		day := 24 * time.Hour
		calls := map[string][]map[string]any{
			// The call that makes it hold is escaped ("a\u003cb").
			"a": {{"stage": "adoption"}, {"stage": "churned", "zz": "a<b"}, {"stage": "adoption"}, {"stage": "churned"}},
			"b": {{"stage": "adoption", "note": "é"}, {"stage": "churned"}, {"note": `say "hi"`}, {"stage": "adoption"}, {"stage": "churned"}},
			"c": {{"stage": "adoption", "plan": "pro"}, {"plan": "basic", "note": `x\y`}},
		}
		var msgs []store.Message
		for acct, cs := range calls {
			for i, tr := range cs {
				at := t0.Add(time.Duration(i) * day)
				msgs = append(msgs, store.Message{Type: "group", MessageID: fmt.Sprint(acct, i), UserID: "u-" + acct, GroupID: acct,
					Traits: tr, Timestamp: at, ReceivedAt: at})
			}
		}
		_, err := st.Ingest(ctx, "wk", msgs)
		require.NoError(t, err)
		require.NoError(t, st.WaitIdle(ctx))
		lb, err := report.LabelOutcomes(ctx, st, `account.stage == "churned"`, t0.Add(30*day))
		require.NoError(t, err)
		at := map[string]time.Time{}
		for _, r := range lb.Rows {
			if r.Positive {
				at[r.AccountID] = r.At
			}
		}
		require.Equal(t, map[string]time.Time{"a": t0.Add(day), "b": t0.Add(day)}, at)
	})
}
