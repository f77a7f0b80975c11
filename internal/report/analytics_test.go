package report_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/moments-cs/moments/internal/golden"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/report"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
	"github.com/moments-cs/moments/internal/vocab"
)

// The scripted history of the golden test. "now" is Tuesday 30 June 2026,
// 00:00 UTC; the scorecard period is the 30 days before it,
// [31 May, 30 Jun), and the previous period [1 May, 31 May).
var now = time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC)

func day(month time.Month, d, hour int) time.Time {
	return time.Date(2026, month, d, hour, 0, 0, 0, time.UTC)
}

// history writes the scripted history into st: events through ingestion
// (so the analytics hook copies them), runs, steps, tasks and
// escalations through the store as the playbook engine would.
type history struct {
	t   *testing.T
	ctx context.Context
	st  *store.Store
	n   int
}

func (h *history) ingest(msgs ...store.Message) {
	h.t.Helper()
	for i := range msgs {
		h.n++
		msgs[i].MessageID = fmt.Sprintf("m%d", h.n)
		msgs[i].ReceivedAt = now
		if msgs[i].UserID == "" {
			msgs[i].UserID = "u-" + msgs[i].GroupID
		}
	}
	_, err := h.st.Ingest(h.ctx, "wk", msgs)
	require.NoError(h.t, err)
	require.NoError(h.t, h.st.WaitIdle(h.ctx)) // the stages act after the acknowledgement
}

func track(account, name string, at time.Time, props string) store.Message {
	if props == "" {
		props = "{}"
	}
	return store.Message{Type: "track", GroupID: account, Name: name, Timestamp: at, Properties: json.RawMessage(props)}
}

func group(account, segment string) store.Message {
	return store.Message{Type: "group", GroupID: account, Timestamp: day(1, 1, 0),
		Traits: map[string]any{"name": account, "segment": segment, "plan": "pro"}}
}

// run inserts an occurrence; finished is nil while it runs.
func (h *history) run(id, account, moment string, occurred time.Time, finished *time.Time) {
	h.t.Helper()
	_, ok, err := h.st.InsertRunTx(h.ctx, h.st.DB(), store.Run{ID: id, AccountID: account, MomentID: moment, Occurrence: id,
		MapVersion: 1, Category: "lifecycle", Status: store.RunRunning, CreatedAt: now, OccurredAt: occurred})
	require.NoError(h.t, err)
	require.True(h.t, ok)
	if finished != nil {
		require.NoError(h.t, h.st.UpdateRunTx(h.ctx, h.st.DB(), id, store.RunState{Status: store.RunDone}, *finished))
	}
}

// task inserts the playbook's task step (index 0, key key) of a run and
// completes its task at done, when given, with effort minutes.
func (h *history) task(run, account, moment, key string, done *time.Time, effort int) {
	h.t.Helper()
	ctx, st := h.ctx, h.st
	_, err := st.InsertStepTx(ctx, st.DB(), store.RunStep{RunID: run, Index: 0, AccountID: account, Status: store.StepDue, CreatedAt: now})
	require.NoError(h.t, err)
	_, ok, err := st.ClaimStep(ctx, store.StepLease{RunID: run, Index: 0, Gen: 1}, now, now.Add(time.Minute))
	require.NoError(h.t, err)
	require.True(h.t, ok)
	_, err = st.FinishStepTx(ctx, st.DB(), store.StepLease{RunID: run, Index: 0, Gen: 1}, store.StepResult{Status: store.StepDone, Key: key, Kind: "task"}, now)
	require.NoError(h.t, err)
	_, err = st.InsertTaskTx(ctx, st.DB(), store.Task{ID: run + "-task", RunID: run, AccountID: account, MomentID: moment,
		Title: key, CreatedAt: now})
	require.NoError(h.t, err)
	if done != nil {
		status := vocab.TaskDone
		_, err = st.UpdateTask(ctx, run+"-task", store.TaskChange{Status: &status}, *done)
		require.NoError(h.t, err)
	}
	if effort > 0 {
		require.NoError(h.t, st.RecordTaskEffort(ctx, run+"-task", effort, now))
	}
}

func ptr(t time.Time) *time.Time { return &t }

func loadMap(t *testing.T) *journey.Map {
	t.Helper()
	src, err := os.ReadFile("testdata/analytics/map.yaml")
	require.NoError(t, err)
	m, diags := journey.Parse("map.yaml", src)
	require.False(t, journey.HasErrors(diags), "%v", diags)
	return m
}

// script writes the whole history. Every figure the tests assert follows
// from it by the hand computations written beside each test.
func script(t *testing.T, st *store.Store, m *journey.Map) {
	ctx := context.Background()
	// The map's names are watched before the events arrive, so the ingest
	// hook copies them; "Dashboard Shared" is not in the map and is copied
	// by the backfill when the funnel first asks for it.
	_, err := st.WatchAnalyticsNames(ctx, report.MeasuredNames(m))
	require.NoError(t, err)
	h := &history{t: t, ctx: ctx, st: st}
	for _, a := range []string{"a1", "a2", "a3", "a4", "a5", "f1", "f2", "b1", "b2", "b3"} {
		h.ingest(group(a, "smb"))
	}
	for _, a := range []string{"f3", "f4", "f5", "b4", "b5", "b6", "b7"} {
		h.ingest(group(a, "enterprise"))
	}

	// Kickoff, current period. O1 (a1) started 1 Jun 00:00: handover done
	// 1 Jun 12:00, invoice 2 Jun, kickoff held 4 Jun; run done 4 Jun;
	// effort 30 minutes.
	h.ingest(track("a1", "Contract Signed", day(6, 1, 0), ""), track("a1", "Invoice Sent", day(6, 2, 0), ""),
		track("a1", "Kickoff Held", day(6, 4, 0), ""))
	h.run("o1", "a1", "kickoff", day(6, 1, 0), ptr(day(6, 4, 0)))
	h.task("o1", "a1", "kickoff", "handoff", ptr(day(6, 1, 12)), 30)
	// O2 (a2) started 10 Jun: invoice 10 Jun 12:00 (before the handover:
	// out of order), handover 12 Jun (late), kickoff 18 Jun (late); run
	// done 18 Jun, escalated; effort 45 minutes.
	h.ingest(track("a2", "Contract Signed", day(6, 10, 0), ""), track("a2", "Invoice Sent", day(6, 10, 12), ""),
		track("a2", "Kickoff Held", day(6, 18, 0), ""))
	h.run("o2", "a2", "kickoff", day(6, 10, 0), ptr(day(6, 18, 0)))
	h.task("o2", "a2", "kickoff", "handoff", ptr(day(6, 12, 0)), 45)
	_, err = st.InsertEscalationTx(ctx, st.DB(), store.Escalation{ID: "e1", Key: "e1", RunID: "o2", AccountID: "a2", MomentID: "kickoff",
		Level: 1, Severity: "high", Reason: "late", Status: "pending", CreatedAt: day(6, 13, 0)})
	require.NoError(t, err)
	// O3 (a3) started 20 Jun; an invoice on 15 Jun came before it and does
	// not count; nothing since; still running.
	h.ingest(track("a3", "Invoice Sent", day(6, 15, 0), ""), track("a3", "Contract Signed", day(6, 20, 0), ""))
	h.run("o3", "a3", "kickoff", day(6, 20, 0), nil)
	h.task("o3", "a3", "kickoff", "handoff", nil, 0)
	// O4 (a4) started 28 Jun 12:00; nothing yet.
	h.ingest(track("a4", "Contract Signed", day(6, 28, 12), ""))
	h.run("o4", "a4", "kickoff", day(6, 28, 12), nil)
	// Previous period: O0 (a5) started 20 May, everything on time, kickoff
	// 23 May.
	h.ingest(track("a5", "Contract Signed", day(5, 20, 0), ""), track("a5", "Invoice Sent", day(5, 21, 0), ""),
		track("a5", "Kickoff Held", day(5, 23, 0), ""))
	h.run("o0", "a5", "kickoff", day(5, 20, 0), ptr(day(5, 23, 0)))
	h.task("o0", "a5", "kickoff", "handoff", ptr(day(5, 20, 6)), 0)
	// Survey answers: csat_kickoff 5 and 3 in the period, 4 before it; a
	// csat_support answer that is not the kickoff's survey.
	h.ingest(track("a1", "Survey Responded", day(6, 5, 0), `{"survey":"csat_kickoff","kind":"csat","score":5}`),
		track("a2", "Survey Responded", day(6, 19, 0), `{"survey":"csat_kickoff","kind":"csat","score":"3"}`),
		track("a5", "Survey Responded", day(5, 24, 0), `{"survey":"csat_kickoff","kind":"csat","score":4}`),
		track("a1", "Survey Responded", day(6, 6, 0), `{"survey":"csat_support","kind":"csat","score":1}`))

	// Check-in: C1 (a1) 25 Jun, call done 26 Jun, run done 26 Jun; C2 (a2)
	// 27 Jun, call not done.
	h.run("c1", "a1", "checkin", day(6, 25, 0), ptr(day(6, 26, 0)))
	h.task("c1", "a1", "checkin", "call", ptr(day(6, 26, 0)), 0)
	h.run("c2", "a2", "checkin", day(6, 27, 0), nil)
	h.task("c2", "a2", "checkin", "call", nil, 0)

	// Funnel: Integration Connected → Report Created → Dashboard Shared.
	h.ingest(
		track("f1", "Integration Connected", day(6, 2, 0), ""), track("f1", "Report Created", day(6, 4, 0), ""),
		track("f1", "Dashboard Shared", day(6, 6, 0), ""),
		track("f2", "Integration Connected", day(6, 3, 0), ""), track("f2", "Report Created", day(6, 10, 0), ""),
		track("f2", "Dashboard Shared", day(6, 20, 0), ""),
		track("f3", "Report Created", day(6, 4, 0), ""), track("f3", "Integration Connected", day(6, 5, 0), ""),
		track("f4", "Integration Connected", day(5, 20, 0), ""), track("f4", "Integration Connected", day(6, 10, 0), ""),
		track("f4", "Report Created", day(6, 11, 0), ""), track("f4", "Dashboard Shared", day(6, 11, 12), ""),
		track("f5", "Report Created", day(6, 12, 0), ""), track("f5", "Dashboard Shared", day(6, 13, 0), ""))

	// Time to value on path main: contract starts and times to value as
	// the health tracker keeps them. Days to value: b1 2, b3 4, b4 4, b6 7;
	// still on their way: b2 (3 days since its start), b5 (5), b7 (9).
	ttv := []struct {
		account string
		start   time.Time
		days    int // 0 = not reached
	}{
		{"b1", day(5, 1, 0), 2}, {"b2", day(6, 27, 0), 0}, {"b3", day(5, 2, 0), 4},
		{"b4", day(5, 3, 0), 4}, {"b5", day(6, 25, 0), 0}, {"b6", day(5, 4, 0), 7}, {"b7", day(6, 21, 0), 0},
	}
	for _, x := range ttv {
		var value, start any
		if x.days > 0 {
			value = (time.Duration(x.days) * 24 * time.Hour).Microseconds()
		}
		start = x.start.UnixMicro()
		if x.account == "b7" {
			// b7's contract start is known only as its account trait.
			start = nil
			h.ingest(store.Message{Type: "group", GroupID: "b7", Timestamp: day(6, 21, 0),
				Traits: map[string]any{"contract_start": x.start.Format(time.DateOnly)}})
		}
		_, err := st.DB().ExecContext(ctx, `INSERT INTO account_health (account_id, path_id, contract_start, time_to_value, updated_at)
			VALUES ($1, 'main', $2, $3, $4)`, x.account, start, value, now.UnixMicro())
		require.NoError(t, err)
	}
}

// goldenJSON compares v, as indented JSON, with testdata/analytics/name.
func goldenJSON(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	require.NoError(t, err)
	golden.Assert(t, filepath.Join("testdata", "analytics", name), append(got, '\n'))
}

func f(v *float64) float64 {
	if v == nil {
		return -999
	}
	return *v
}

func TestMomentAnalyticsGolden(t *testing.T) {
	t.Parallel()
	m := loadMap(t)
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		st.OnIngest(st.RecordAnalytics)
		script(t, st, m)
		ctx := context.Background()

		rep, err := report.Scorecards(ctx, st, m, 30, now)
		require.NoError(t, err)
		require.Len(t, rep.Moments, 2)
		k := rep.Moments[0]
		require.Equal(t, "kickoff", k.Moment)
		// Occurrences O1–O4 in [31 May, 30 Jun); four accounts; delivered
		// (Kickoff Held reached) O1 and O2.
		require.Equal(t, 4, k.Occurrences)
		require.Equal(t, 4, k.Quantity.Accounts)
		require.Equal(t, 2, k.Quantity.Delivered)
		// Contract Signed → Kickoff Held: O1 3 days, O2 8 days; O3 and O4
		// not reached. Median (3+8)/2 = 5.5; p90 = 3 + 0.9·(8−3) = 7.5;
		// not reached 2 of 4 = 0.5.
		require.Equal(t, 2, k.Time.Measured)
		require.Equal(t, 5.5, f(k.Time.MedianDays))
		require.Equal(t, 7.5, f(k.Time.P90Days))
		require.Equal(t, 0.5, f(k.Time.NotReachedShare))
		// Handover (task, within 1d): due O1–O4 (O4's deadline 29 Jun 12:00
		// has passed); done O1 (0.5 d, on time), O2 (2 d, late) → done 2/4,
		// on time 1/4; median 1.25 days; delays −0.5 and +1 → median 0.25.
		h := k.Ideal[0]
		require.Equal(t, "task: handoff", h.Evidence)
		require.Equal(t, []int{4, 2, 1}, []int{h.Due, h.Done, h.OnTime})
		require.Equal(t, 0.5, f(h.DoneShare))
		require.Equal(t, 0.25, f(h.OnTimeShare))
		require.Equal(t, 1.25, f(h.MedianDays))
		require.Equal(t, 0.25, f(h.MedianDelayDays))
		// Invoice sent (event, within 2d): O1 1 d, O2 0.5 d, both on time
		// (delays −1, −1.5 → −1.25); O3 due (the 15 Jun invoice is before
		// it began), O4 not yet due (deadline 30 Jun 12:00) → 2/3, 2/3. O2's
		// invoice came before its handover: out of order once.
		i := k.Ideal[1]
		require.Equal(t, []int{3, 2, 2, 1}, []int{i.Due, i.Done, i.OnTime, i.OutOfOrder})
		require.Equal(t, 0.6667, f(i.DoneShare))
		require.Equal(t, 0.6667, f(i.OnTimeShare))
		require.Equal(t, -1.25, f(i.MedianDelayDays))
		// Kickoff held (within 5d): O1 3 d on time (−2), O2 8 d late (+3),
		// O3 due, O4 not due → 2/3 done, 1/3 on time, delay median 0.5.
		c := k.Ideal[2]
		require.Equal(t, []int{3, 2, 1}, []int{c.Due, c.Done, c.OnTime})
		require.Equal(t, 0.3333, f(c.OnTimeShare))
		require.Equal(t, 0.5, f(c.MedianDelayDays))
		// Sponsor happy names no evidence.
		require.Equal(t, report.NotObservable, k.Ideal[3].Evidence)
		require.Nil(t, k.Ideal[3].DoneShare)
		// Conformance = (1/4 + 2/3 + 1/3)/3 = 0.4167; one occurrence of
		// four out of order; most missed: Handover (0.25); slowest:
		// Kickoff held (+0.5 d), owned by cs.
		require.Equal(t, 0.4167, f(k.Conformance.Conformance))
		require.Equal(t, 0.25, f(k.Conformance.OutOfOrderShare))
		require.Equal(t, "Handover", k.Conformance.MostMissed)
		require.Equal(t, "Kickoff held", k.Conformance.Slowest)
		require.Equal(t, "cs", k.Conformance.SlowestOwner)
		// Quality: csat_kickoff answers 5 and 3 → mean 4 (the csat_support
		// answer and the May one do not count); finished O1 and O2, O2
		// escalated → 1/2 without escalation; SLA 5d: O1 met (3 d), O2
		// missed (8 d), O3 missed (past 25 Jun), O4 not due → 1/3.
		require.Equal(t, 2, k.Quality.Answers)
		require.Equal(t, 4.0, f(k.Quality.Score))
		// CSAT 5 and 3: s = √2, t₀.₉₇₅,₁ = 12.706, so 4 ± 12.706 — off the
		// 1–5 scale on both sides: clipped to it.
		require.Equal(t, 1.0, f(k.Quality.ScoreLow))
		require.Equal(t, 5.0, f(k.Quality.ScoreHigh))
		require.Equal(t, 0.5, f(k.Quality.WithoutEscalation.Share))
		require.Equal(t, 0.0945, f(k.Quality.WithoutEscalation.Low))
		require.Equal(t, 0.3333, f(k.Quality.SLA.Share))
		// Cost: 60 × 4 = 240 planned, 30 + 45 = 75 recorded, 315 total,
		// 78.75 per occurrence.
		require.Equal(t, []int{240, 75, 315}, []int{k.Cost.Planned, k.Cost.Recorded, k.Cost.Total})
		require.Equal(t, 78.75, f(k.Cost.PerOccurrence))
		// Previous period: O0 alone, 3 days, every step on time, score 4.
		require.Equal(t, 1, k.Previous.Occurrences)
		require.Equal(t, 3.0, f(k.Previous.MedianDays))
		require.Equal(t, 1.0, f(k.Previous.Conformance))
		require.Equal(t, 3, k.Trend.Occurrences)
		require.Equal(t, 2.5, f(k.Trend.MedianDays))
		require.Equal(t, -0.6667, f(k.Trend.SLA))
		// Rank: kickoff 16/20 × (1 − 0.4167) = 0.4666; check-in: call due
		// twice, done once on time → gap 0.5, 4/20 × 0.5 = 0.1.
		require.Equal(t, 0.4666, f(k.Priority))
		require.Equal(t, 1, k.Rank)
		require.Equal(t, "checkin", rep.Moments[1].Moment)
		require.Equal(t, 0.1, f(rep.Moments[1].Priority))
		goldenJSON(t, "scorecards.golden.json", rep)

		// Funnel: f1 reaches all three steps (gaps 2, 2 days); f2 two (7;
		// its dashboard came 17 days after its first step, past the 10-day
		// window); f3 one (its report came before its connection); f4 three
		// (1, 0.5; its May connection is before the period); f5 never
		// entered. Conversion 4 → 3 → 2.
		fun, err := report.Funnel(ctx, st, m, report.FunnelRequest{Events: []string{"Integration Connected", "Report Created",
			"Dashboard Shared"}, Days: 30, WindowDays: 10, By: report.BySegment}, now)
		require.NoError(t, err)
		require.Equal(t, []int{4, 3, 2}, []int{fun.Steps[0].Accounts, fun.Steps[1].Accounts, fun.Steps[2].Accounts})
		require.Equal(t, 0.75, f(fun.Steps[1].Conversion))
		require.Equal(t, 0.5, f(fun.Steps[2].Conversion))
		require.Equal(t, 0.6667, f(fun.Steps[2].FromPrevious))
		require.Equal(t, 2.0, f(fun.Steps[1].MedianDays))  // median of 2, 7, 1
		require.Equal(t, 1.25, f(fun.Steps[2].MedianDays)) // median of 2, 0.5
		// By segment: smb (f1, f2) 2 → 2 → 1; enterprise (f3, f4) 2 → 1 → 1.
		require.Len(t, fun.Groups, 2)
		require.Equal(t, "enterprise", fun.Groups[0].Key)
		require.Equal(t, []int{2, 1, 1}, []int{fun.Groups[0].Steps[0].Accounts, fun.Groups[0].Steps[1].Accounts, fun.Groups[0].Steps[2].Accounts})
		require.Equal(t, []int{2, 2, 1}, []int{fun.Groups[1].Steps[0].Accounts, fun.Groups[1].Steps[1].Accounts, fun.Groups[1].Steps[2].Accounts})
		goldenJSON(t, "funnel.golden.json", fun)

		// Time to value on path main (target 10 days): the curve of
		// internal/stats' hand computation (2*, 3, 4*, 4*, 5, 7*, 9): share
		// reached 1 − 9/35 = 0.7429 by day 10, interval from the day-7
		// point [1 − 0.6560, 1 − 0.0126]; median 7 days. smb (b1–b3: 2*, 3,
		// 4*): S = 2/3 then 0 → median 4, all within target; enterprise
		// (b4–b7: 4*, 5, 7*, 9): S = 3/4 then 3/8 → median 7, 0.625 within.
		tv, err := report.TTV(ctx, st, m, "", report.BySegment, now)
		require.NoError(t, err)
		require.Equal(t, "value", tv.Milestone)
		require.Equal(t, 7, tv.All.Accounts)
		require.Equal(t, 4, tv.All.Reached)
		require.Equal(t, 0.7429, f(tv.All.WithinTarget))
		require.Equal(t, 0.344, f(tv.All.WithinTargetLow))
		require.Equal(t, 0.9874, f(tv.All.WithinTargetHigh))
		require.Equal(t, 7.0, f(tv.All.MedianDays))
		require.Equal(t, "enterprise", tv.Groups[0].Key)
		require.Equal(t, 7.0, f(tv.Groups[0].MedianDays))
		require.Equal(t, 0.625, f(tv.Groups[0].WithinTarget))
		require.Equal(t, 4.0, f(tv.Groups[1].MedianDays))
		require.Equal(t, 1.0, f(tv.Groups[1].WithinTarget))
		goldenJSON(t, "ttv.golden.json", tv)
	})
}

// TestScorecardCellsFollowChanges checks that the day cells a scorecard
// reads are cleared by every write that changes an occurrence's facts: a
// scorecard built from the kept cells equals one built from scratch, and
// shows the changes.
func TestScorecardCellsFollowChanges(t *testing.T) {
	t.Parallel()
	m := loadMap(t)
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		st.OnIngest(st.RecordAnalytics)
		script(t, st, m)
		ctx := context.Background()
		before, err := report.MomentScorecard(ctx, st, m, "kickoff", 30, now)
		require.NoError(t, err)
		require.Equal(t, 4, before.Occurrences)
		require.Equal(t, 2, before.Time.Measured)

		// O3 (a3): its handover task is done on 21 Jun with 20 minutes of
		// effort, the kickoff is held on 22 Jun, the run finishes;
		// O4 (a4) is escalated; a fifth occurrence starts on 29 Jun.
		h := &history{t: t, ctx: ctx, st: st, n: 1000}
		status := vocab.TaskDone
		_, err = st.UpdateTask(ctx, "o3-task", store.TaskChange{Status: &status}, day(6, 21, 0))
		require.NoError(t, err)
		require.NoError(t, st.RecordTaskEffort(ctx, "o3-task", 20, now))
		h.ingest(track("a3", "Kickoff Held", day(6, 22, 0), ""))
		require.NoError(t, st.UpdateRunTx(ctx, st.DB(), "o3", store.RunState{Status: store.RunDone}, day(6, 22, 0)))
		_, err = st.InsertEscalationTx(ctx, st.DB(), store.Escalation{ID: "e4", Key: "e4", RunID: "o4", AccountID: "a4",
			MomentID: "kickoff", Level: 1, Severity: "high", Reason: "late", Status: "pending", CreatedAt: day(6, 29, 0)})
		require.NoError(t, err)
		h.run("o5", "a4", "kickoff", day(6, 29, 0), nil)

		kept := keptEqualsFresh(t, st, m, "kickoff", 30, now)

		require.Equal(t, 5, kept.Occurrences)
		// O1, O2 and now O3 reached the kickoff: 3, 8 and 2 days.
		require.Equal(t, 3, kept.Time.Measured)
		require.Equal(t, 3.0, f(kept.Time.MedianDays))
		require.Equal(t, 30+45+20, kept.Cost.Recorded)
		require.Equal(t, 3, kept.Quality.WithoutEscalation.N)
	})
}

// keptEqualsFresh returns a moment's scorecard from the kept day cells and
// summaries, after checking that it equals one built fresh once they are
// dropped.
func keptEqualsFresh(t *testing.T, st *store.Store, m *journey.Map, momentID string, days int, at time.Time) report.Scorecard {
	t.Helper()
	ctx := context.Background()
	kept, err := report.MomentScorecard(ctx, st, m, momentID, days, at)
	require.NoError(t, err)
	_, err = st.DB().ExecContext(ctx, `DELETE FROM moment_days`)
	require.NoError(t, err)
	fresh, err := report.MomentScorecard(ctx, st, m, momentID, days, at)
	require.NoError(t, err)
	require.Equal(t, fresh, kept, "kept against built fresh")
	return kept
}

// TestScorecardPeriodCutsADay checks a period whose bounds fall inside a
// day: that day's occurrences are split between the periods at the exact
// time, whether the other days' summaries were kept or built fresh; and
// that summaries kept for an older map are not used once a target changes.
func TestScorecardPeriodCutsADay(t *testing.T) {
	t.Parallel()
	m := loadMap(t)
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		st.OnIngest(st.RecordAnalytics)
		script(t, st, m)
		ctx := context.Background()
		_, err := report.Scorecards(ctx, st, m, 30, now) // keeps the summary of every day
		require.NoError(t, err)

		// 27 days before 28 Jun 06:00: [1 Jun 06:00, 28 Jun 06:00), and
		// before it [5 May 06:00, 1 Jun 06:00).
		at := day(6, 28, 6)
		kept := keptEqualsFresh(t, st, m, "kickoff", 27, at)
		// O2 and O3; O1 (1 Jun 00:00) is before the period, O4 (28 Jun
		// 12:00) after it. O2 took 8 days; O3 has not reached the kickoff.
		require.Equal(t, 2, kept.Occurrences)
		require.Equal(t, 1, kept.Time.Measured)
		require.Equal(t, 8.0, f(kept.Time.MedianDays))
		require.Equal(t, 1, kept.Time.NotReached)
		// O0 and O1, 3 days each.
		require.Equal(t, 2, kept.Previous.Occurrences)
		require.Equal(t, 3.0, f(kept.Previous.MedianDays))

		// The kickoff's target moves from 5 to 10 days: O2's kickoff (8
		// days) is now on time, although nothing was written since the
		// summaries were kept.
		step := kept.Ideal[2]
		require.Equal(t, "5d", step.Within)
		require.Equal(t, 0, step.OnTime)
		m2 := loadMap(t)
		i := slices.IndexFunc(m2.Moments, func(mo journey.Moment) bool { return mo.ID == "kickoff" })
		m2.Moments[i].Ideal[2].Within = "10d"
		changed, err := report.MomentScorecard(ctx, st, m2, "kickoff", 27, at)
		require.NoError(t, err)
		require.Equal(t, 1, changed.Ideal[2].OnTime)
		require.Equal(t, 1.0, f(changed.Ideal[2].OnTimeShare))
	})
}

// TestScorecardTimeToValueFollowsHealth checks the time to value of a
// moment that ends at the value milestone: it is the median over the
// accounts reached that got there, and it follows when the health tracker
// writes an account's time to value after the scorecard kept its days.
func TestScorecardTimeToValueFollowsHealth(t *testing.T) {
	t.Parallel()
	m := loadMap(t)
	// The kickoff ends at the value milestone here.
	ms := &m.SuccessPaths[0].Milestones[1]
	require.True(t, ms.Value)
	ms.Events = append(ms.Events, "Kickoff Held")
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		st.OnIngest(st.RecordAnalytics)
		script(t, st, m)
		ctx := context.Background()
		card := func() report.Scorecard {
			t.Helper()
			sc, err := report.MomentScorecard(ctx, st, m, "kickoff", 30, now)
			require.NoError(t, err)
			return sc
		}
		require.Nil(t, card().Time.TimeToValueDays, "a1–a4 have no success path yet")

		// The tracker writes a1 reaching value in 10 days, a2 in 20 (a5's
		// occurrence is before the period and does not count).
		setTTV := func(ttv map[string]int) {
			t.Helper()
			tx, err := st.DB().BeginTx(ctx, nil)
			require.NoError(t, err)
			defer tx.Rollback() //nolint:errcheck // a no-op after Commit
			var ids []string
			for id := range ttv {
				ids = append(ids, id)
			}
			recs, err := st.HealthRecordsTx(ctx, tx, ids)
			require.NoError(t, err)
			var out []*store.HealthRecord
			for id, days := range ttv {
				r := recs[id]
				d := time.Duration(days) * 24 * time.Hour
				r.PathID, r.TimeToValue, r.Version, r.UpdatedAt = "main", &d, r.Version+1, now
				out = append(out, r)
			}
			require.NoError(t, st.SaveHealthRecordsTx(ctx, tx, out, store.DayOf(now)))
			require.NoError(t, tx.Commit())
		}
		setTTV(map[string]int{"a1": 10, "a2": 20, "a5": 1})
		kept := card()
		require.Equal(t, "main/value", kept.Time.Milestone)
		require.Equal(t, 2, kept.Time.MilestoneAccounts)
		require.Equal(t, 15.0, f(kept.Time.TimeToValueDays))

		setTTV(map[string]int{"a2": 40})
		kept = card()
		require.Equal(t, 25.0, f(kept.Time.TimeToValueDays))
		_, err := st.DB().ExecContext(ctx, `DELETE FROM moment_days`)
		require.NoError(t, err)
		require.Equal(t, card(), kept, "kept against built fresh")
	})
}
