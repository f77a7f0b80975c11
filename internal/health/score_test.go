package health

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/vocab"
)

// component scores an aggregate and returns one component.
func component(t *testing.T, a *Aggregate, acct AccountInfo, m journey.HealthModel, at time.Time, name string) Component {
	t.Helper()
	c, ok := Score(a, acct, m, at).Component(name)
	require.True(t, ok, name)
	return c
}

var unknownProgress = AccountInfo{PathProgress: ProgressUnknown}

func TestRecency(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		last   float64 // days ago; negative for no activity
		want   float64
		reason string
	}{
		{"today", 0.25, 100, "last activity 6 hours ago"},
		{"at full days", 2, 100, "last activity 2 days ago"},
		{"between: (30-9)/(30-2)", 9, 75, "last activity 9 days ago"},
		{"between: (30-16)/(30-2)", 16, 50, "last activity 16 days ago"},
		{"at zero days", 30, 0, "last activity 30 days ago"},
		{"long ago", 200, 0, "last activity 200 days ago"},
		{"never", -1, 0, "no product activity recorded yet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var a *Aggregate
			if tt.last >= 0 {
				a = build(testModel(), track("Logged In", "u1", daysAgo(tt.last)))
			}
			c := component(t, a, unknownProgress, testModel(), now, ComponentRecency)
			require.True(t, c.Value.Known)
			require.InDelta(t, tt.want, c.Value.Score, 1e-9)
			require.Equal(t, tt.reason, c.Reason)
		})
	}
}

func TestFrequency(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		activeDaysAgo []int
		contractStart time.Time
		want          float64
		reason        string
	}{
		{"none", nil, time.Time{}, 0, "active on 0 of the last 30 days (full marks from 15 active days)"},
		{"6 of 30: 6/15", []int{0, 1, 2, 5, 10, 29}, time.Time{}, 40, "active on 6 of the last 30 days (full marks from 15 active days)"},
		{"day 30 is outside the window", []int{30, 31, 45}, time.Time{}, 0, "active on 0 of the last 30 days (full marks from 15 active days)"},
		{"capped", seq(20), time.Time{}, 100, "active on 20 of the last 30 days (full marks from 15 active days)"},
		{"new contract: 2 of 5 days, 2/2.5", []int{0, 3}, daysAgo(4), 80, "active on 2 of the 5 days since the contract started (full marks from 3 active days)"},
		{"old contract changes nothing", []int{0, 3}, daysAgo(400), 100 * 2.0 / 15, "active on 2 of the last 30 days (full marks from 15 active days)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var evs []Event
			for _, d := range tt.activeDaysAgo {
				// Several events on one day are one active day.
				evs = append(evs, track("Logged In", "u1", daysAgo(float64(d))), track("Logged In", "u2", daysAgo(float64(d))))
			}
			a := build(testModel(), evs...)
			c := component(t, a, AccountInfo{ContractStart: tt.contractStart, PathProgress: ProgressUnknown}, testModel(), now, ComponentFrequency)
			require.InDelta(t, tt.want, c.Value.Score, 1e-9)
			require.Equal(t, tt.reason, c.Reason)
		})
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func TestBreadth(t *testing.T) {
	t.Parallel()
	a := build(testModel(),
		track("Report Created", "u1", daysAgo(1)),
		track("Dashboard Shared", "u1", daysAgo(3)),
		track("Alert Set", "u1", daysAgo(29)),
		track("Export Downloaded", "u1", daysAgo(40)), // used, but not in the window
		track("Logged In", "u1", daysAgo(0)),
	)
	c := component(t, a, unknownProgress, testModel(), now, ComponentBreadth)
	require.Equal(t, Known(60), c.Value)
	require.Equal(t, "3 of 5 key features used in the last 30 days; not used: Integration Connected, Export Downloaded", c.Reason)
	require.Equal(t, []Moved{
		{Event: "Report Created", At: daysAgo(1), Detail: "key feature used"},
		{Event: "Dashboard Shared", At: daysAgo(3), Detail: "key feature used"},
		{Event: "Alert Set", At: daysAgo(29), Detail: "key feature used"},
	}, c.Events)

	// Without key features, breadth is judged against the features the
	// account has used (five, counting Logged In), or against what its
	// segment uses when the caller knows.
	bare := journey.HealthModel{}
	b := build(bare,
		track("Report Created", "u1", daysAgo(1)),
		track("Dashboard Shared", "u1", daysAgo(3)),
		track("Alert Set", "u1", daysAgo(29)),
		track("Export Downloaded", "u1", daysAgo(40)),
		track("Logged In", "u1", daysAgo(0)),
	)
	own := component(t, b, unknownProgress, bare, now, ComponentBreadth)
	require.Equal(t, Known(80), own.Value)
	require.Equal(t, "4 features used in the last 30 days, of the 5 it has ever used", own.Reason)
	seg := component(t, b, AccountInfo{SegmentFeatures: 8, PathProgress: ProgressUnknown}, bare, now, ComponentBreadth)
	require.Equal(t, Known(50), seg.Value)
	require.Equal(t, "4 features used in the last 30 days, of the 8 the broad users of its segment use", seg.Reason)

	noFeatures := component(t, build(bare), unknownProgress, bare, now, ComponentBreadth)
	require.False(t, noFeatures.Value.Known)
	require.Zero(t, noFeatures.Share)
}

func TestDepth(t *testing.T) {
	t.Parallel()
	var evs []Event
	for i := range 10 {
		evs = append(evs, track("Logged In", fmt.Sprintf("u%d", i), daysAgo(float64(i))))
	}
	evs = append(evs, track("Logged In", "u-old", daysAgo(31)))
	a := build(testModel(), evs...)

	c := component(t, a, AccountInfo{Seats: 40, PathProgress: ProgressUnknown}, testModel(), now, ComponentDepth)
	require.Equal(t, Known(25), c.Value)
	require.Equal(t, "10 active users in the last 30 days for 40 seats", c.Reason)

	c = component(t, a, AccountInfo{Seats: 5, PathProgress: ProgressUnknown}, testModel(), now, ComponentDepth)
	require.Equal(t, Known(100), c.Value, "capped")

	c = component(t, a, unknownProgress, testModel(), now, ComponentDepth)
	require.False(t, c.Value.Known)
	require.Equal(t, `seat count unknown: set the account trait "seats"`, c.Reason)
}

func TestProgress(t *testing.T) {
	t.Parallel()
	a := build(testModel(), MilestoneEvent("kickoff", daysAgo(20)), MilestoneEvent("first-report", daysAgo(5)))
	c := component(t, a, AccountInfo{PathProgress: 0.4}, testModel(), now, ComponentProgress)
	require.Equal(t, Known(40), c.Value)
	require.Equal(t, "40% of the success path reached", c.Reason)
	require.Equal(t, []Moved{
		{Event: vocab.EventMilestoneReached, At: daysAgo(5), Detail: "first-report"},
		{Event: vocab.EventMilestoneReached, At: daysAgo(20), Detail: "kickoff"},
	}, c.Events)

	c = component(t, a, AccountInfo{PathProgress: 0}, testModel(), now, ComponentProgress)
	require.Equal(t, Known(0), c.Value, "zero progress is known")
	c = component(t, a, unknownProgress, testModel(), now, ComponentProgress)
	require.False(t, c.Value.Known)
}

func TestBehaviouralWeighsKnownComponents(t *testing.T) {
	t.Parallel()
	var evs []Event
	// Recency 50 (16 days ago), frequency 40 (6 active days), breadth 60
	// (3 of 5), depth 25 (10 users of 40 seats).
	for i, d := range []float64{16, 17, 18, 19, 20, 21} {
		evs = append(evs, track("Logged In", fmt.Sprintf("u%d", i), daysAgo(d)))
	}
	for i, f := range keyFeatures[:3] {
		evs = append(evs, track(f, fmt.Sprintf("u%d", 6+i), daysAgo(20)))
	}
	evs = append(evs, track("Logged In", "u9", daysAgo(20)))
	a := build(testModel(), evs...)

	all := Score(a, AccountInfo{Seats: 40, PathProgress: 0.4}, testModel(), now)
	// (25×50 + 25×40 + 20×60 + 15×25 + 15×40) ÷ 100
	require.InDelta(t, 44.25, all.Behavioural.Score, 1e-9)
	c, _ := all.Component(ComponentBreadth)
	require.InDelta(t, 0.2, c.Share, 1e-12)

	// Without seats and path, the weights are normalised over the three
	// known components: (25×50 + 25×40 + 20×60) ÷ 70.
	some := Score(a, unknownProgress, testModel(), now)
	require.InDelta(t, 3450.0/70, some.Behavioural.Score, 1e-9)
	c, _ = some.Component(ComponentDepth)
	require.Zero(t, c.Share)
	c, _ = some.Component(ComponentRecency)
	require.InDelta(t, 25.0/70, c.Share, 1e-12)
}

func TestNPS(t *testing.T) {
	t.Parallel()
	jane := surveyEvent(vocab.SurveyNPS, 4, "u-jane", "sponsor", daysAgo(0))
	jane.Properties["email"] = "jane@acme.example"
	a := build(testModel(), jane, surveyEvent(vocab.SurveyNPS, 10, "u-bob", "user", daysAgo(90)))

	c := component(t, a, unknownProgress, testModel(), now, ComponentNPS)
	// Sponsor: weight 3 × 0.5^0 on 40; user: weight 1 × 0.5^1 on 100.
	require.InDelta(t, (3*40+0.5*100)/3.5, c.Value.Score, 1e-9)
	require.Equal(t, "NPS 4 from sponsor jane@…, within the last hour; 2 contacts' latest answers weighted by role and age", c.Reason)
	require.Equal(t, []Moved{
		{Event: vocab.EventSurveyResponded, At: daysAgo(0), Detail: "NPS 4 from sponsor jane@…"},
		{Event: vocab.EventSurveyResponded, At: daysAgo(90), Detail: "NPS 10 from user u-bob"},
	}, c.Events)

	// 20 days later the headline says so.
	c = component(t, a, unknownProgress, testModel(), now.Add(20*24*time.Hour), ComponentNPS)
	require.Equal(t, "NPS 4 from sponsor jane@…, 20 days ago; 2 contacts' latest answers weighted by role and age", c.Reason)

	// A role the model does not know weighs like a user; a role weighted 0
	// does not count.
	m := testModel()
	m.Emotional.RoleWeights = map[string]float64{"user": 0}
	b := build(m, surveyEvent(vocab.SurveyNPS, 2, "u1", "user", daysAgo(1)), surveyEvent(vocab.SurveyNPS, 6, "u2", "intern", daysAgo(1)))
	c = component(t, b, unknownProgress, m, now, ComponentNPS)
	require.Equal(t, Known(60), c.Value)
}

// TestDecay runs one aggregate against a moving clock. Decay weighs answers
// against each other by their ages, so the NPS mix stays put while both
// answers age; an answer leaves the score once it is StaleHalfLives
// half-lives old.
func TestDecay(t *testing.T) {
	t.Parallel()
	m := testModel()
	t0 := daysAgo(0)
	answers := build(m,
		surveyEvent(vocab.SurveyNPS, 0, "u-sponsor", "sponsor", t0),
		surveyEvent(vocab.SurveyNPS, 10, "u-user", "user", t0.Add(90*24*time.Hour)),
	)
	// Tickets apart: the aggregate keeps 90 days of tickets before its
	// latest event, the user's answer above.
	tickets := build(m, ticketEvent(vocab.EventTicketEscalated, t0))
	day := func(n int) time.Time { return t0.Add(time.Duration(n) * 24 * time.Hour) }
	tests := []struct {
		at      time.Time
		nps     Value
		support Value
	}{
		{day(0), Known(0), Known(100 - 25)}, // the user's answer lies in the future
		{day(30), Known(0), Known(100 - 12.5)},
		{day(60), Known(0), Known(100 - 6.25)},
		// Sponsor 3 × 0.5 against user 1 × 1: (1.5×0 + 1×100) ÷ 2.5.
		{day(90), Known(40), Value{}},
		{day(200), Known(40), Value{}},
		{day(359), Known(40), Value{}},
		{day(360), Known(100), Value{}},
		{day(450), Value{}, Value{}},
	}
	for _, tt := range tests {
		t.Run(tt.at.Format(time.DateOnly), func(t *testing.T) {
			t.Parallel()
			nps := component(t, answers, unknownProgress, m, tt.at, ComponentNPS)
			require.Equal(t, tt.nps.Known, nps.Value.Known)
			require.InDelta(t, tt.nps.Score, nps.Value.Score, 1e-9)
			support := component(t, tickets, unknownProgress, m, tt.at, ComponentSupport)
			require.Equal(t, tt.support.Known, support.Value.Known)
			require.InDelta(t, tt.support.Score, support.Value.Score, 1e-9)
		})
	}
}

func TestCSATAndCES(t *testing.T) {
	t.Parallel()
	a := build(testModel(),
		surveyEvent(vocab.SurveyCSAT, 5, "u1", "user", daysAgo(3)),
		surveyEvent(vocab.SurveyCSAT, 2, "u1", "user", daysAgo(3)),
		surveyEvent(vocab.SurveyCES, 7, "u2", "admin", daysAgo(10)),
		surveyEvent(vocab.SurveyCES, 1, "u3", "admin", daysAgo(10)),
		surveyEvent(vocab.SurveyCES, 4, "u4", "admin", daysAgo(10)),
	)
	csat := component(t, a, unknownProgress, testModel(), now, ComponentCSAT)
	// 5 → 100 and 2 → 25 with equal weights.
	require.Equal(t, Known(62.5), csat.Value)
	require.Equal(t, "CSAT 3.5 of 5, weighted average of 2 answers, latest 3 days ago", csat.Reason)

	ces := component(t, a, unknownProgress, testModel(), now, ComponentCES)
	// 7 (very easy) → 100, 1 → 0, 4 → 50.
	require.Equal(t, Known(50), ces.Value)
	require.Equal(t, "CES 4 of 7 (7 = very easy), weighted average of 3 answers, latest 10 days ago", ces.Reason)
}

func TestSupport(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		evs    []Event
		want   Value
		reason string
	}{
		{"no tickets", nil, Value{}, "no support tickets in the last 90 days"},
		{"tickets outside the window", []Event{ticketEvent(vocab.EventTicketEscalated, daysAgo(91)), track("Logged In", "u1", daysAgo(0))}, Value{}, "no support tickets in the last 90 days"},
		{"opened only", []Event{ticketEvent(vocab.EventTicketOpened, daysAgo(1)), ticketEvent(vocab.EventTicketOpened, daysAgo(2))}, Known(100), "2 tickets opened, 0 escalated, 0 reopened in the last 90 days"},
		{
			"escalated 30 days ago and reopened today: 100 − 25×½ − 15",
			[]Event{ticketEvent(vocab.EventTicketOpened, daysAgo(31)), ticketEvent(vocab.EventTicketEscalated, daysAgo(30)), ticketEvent(vocab.EventTicketReopened, daysAgo(0))},
			Known(72.5), "1 ticket opened, 1 escalated, 1 reopened in the last 90 days",
		},
		{
			"floored at zero",
			[]Event{ticketEvent(vocab.EventTicketEscalated, daysAgo(0)), ticketEvent(vocab.EventTicketEscalated, daysAgo(0.1)), ticketEvent(vocab.EventTicketEscalated, daysAgo(0.2)), ticketEvent(vocab.EventTicketEscalated, daysAgo(0.3)), ticketEvent(vocab.EventTicketEscalated, daysAgo(0.4))},
			Known(0), "0 tickets opened, 5 escalated, 0 reopened in the last 90 days",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := component(t, build(testModel(), tt.evs...), unknownProgress, testModel(), now, ComponentSupport)
			require.Equal(t, tt.want.Known, c.Value.Known)
			require.InDelta(t, tt.want.Score, c.Value.Score, 1e-9)
			require.Equal(t, tt.reason, c.Reason)
		})
	}
}

func TestScoreCombinedAndQuadrant(t *testing.T) {
	t.Parallel()
	m := testModel()
	m.Quadrant.Plays = map[string]string{"captive": "service-recovery"}
	active := []Event{}
	for d := range 20 {
		active = append(active, track("Logged In", "u1", daysAgo(float64(d))))
	}
	for _, f := range keyFeatures {
		active = append(active, track(f, "u1", daysAgo(1)))
	}

	t.Run("behaviour only when emotion is unknown", func(t *testing.T) {
		t.Parallel()
		r := Score(build(m, active...), AccountInfo{Seats: 1, PathProgress: 1}, m, now)
		require.Equal(t, Known(100), r.Behavioural)
		require.False(t, r.Emotional.Known)
		require.Equal(t, r.Behavioural, r.Combined)
		require.True(t, r.BehaviourOnly)
		require.Equal(t, QuadrantUnknown, r.Quadrant)
		require.Equal(t, "behaviour only: no survey answers or support tickets to judge how they feel", r.QuadrantReason)
		require.Equal(t, defaultPlays[QuadrantUnknown], r.Play)

		b, err := json.Marshal(r)
		require.NoError(t, err)
		require.Contains(t, string(b), `"emotional":null`, "an unknown score is never a number")
	})

	t.Run("captive: uses it, does not like it", func(t *testing.T) {
		t.Parallel()
		evs := append(active[:len(active):len(active)], surveyEvent(vocab.SurveyNPS, 2, "u-s", "sponsor", daysAgo(5)))
		r := Score(build(m, evs...), AccountInfo{Seats: 1, PathProgress: 1}, m, now)
		require.Equal(t, Known(20), r.Emotional)
		require.InDelta(t, 0.5*100+0.5*20, r.Combined.Score, 1e-9)
		require.False(t, r.BehaviourOnly)
		require.Equal(t, QuadrantCaptive, r.Quadrant)
		require.Equal(t, "behaviour high (100, threshold 60), emotion low (20, threshold 60)", r.QuadrantReason)
		require.Equal(t, "service-recovery", r.Play)
		require.Len(t, r.Components, 13)
	})

	t.Run("combined weight from the model", func(t *testing.T) {
		t.Parallel()
		m := m
		m.Combined = 0.8
		r := Score(build(m, surveyEvent(vocab.SurveyNPS, 10, "u-s", "sponsor", daysAgo(5))), unknownProgress, m, now)
		require.Equal(t, Known(0), r.Behavioural)
		require.InDelta(t, 0.2*100, r.Combined.Score, 1e-9)
		require.Equal(t, QuadrantDormantFan, r.Quadrant)
	})

	t.Run("nil aggregate", func(t *testing.T) {
		t.Parallel()
		r := Score(nil, unknownProgress, m, now)
		require.Equal(t, Known(0), r.Behavioural)
		require.Equal(t, QuadrantUnknown, r.Quadrant)
	})
}

func TestValueJSON(t *testing.T) {
	t.Parallel()
	for _, v := range []Value{{}, Known(0), Known(62.5)} {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		var back Value
		require.NoError(t, json.Unmarshal(b, &back))
		require.Equal(t, v, back)
	}
	require.Equal(t, "unknown", Value{}.String())
	require.Equal(t, "63", Known(62.5).String())
}

// TestScoresMatchesScore: the ingestion path's quiet scoring gives exactly
// Score's numbers, without the texts.
func TestScoresMatchesScore(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 7))
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	m := Defaults(journey.HealthModel{Behavioural: journey.BehaviouralModel{KeyFeatures: []string{"Report Created", "Export Run"}}})
	for i := 0; i < 200; i++ {
		agg := &Aggregate{}
		for j := 0; j < rng.IntN(60); j++ {
			ev := Event{Name: []string{"Report Created", "Export Run", "Login", vocab.EventSurveyResponded, vocab.EventTicketEscalated}[rng.IntN(5)],
				Type: "track", UserID: fmt.Sprint("u", rng.IntN(5)), ContactRole: "sponsor",
				Timestamp: now.Add(-time.Duration(rng.IntN(90*24)) * time.Hour)}
			if ev.Name == vocab.EventSurveyResponded {
				ev.Properties = map[string]any{"kind": "nps", "score": float64(rng.IntN(11))}
			}
			agg.Apply(ev, m)
		}
		info := AccountInfo{Seats: 10, PathProgress: ProgressUnknown}
		full, quiet := Score(agg, info, m, now), Scores(agg, info, m, now)
		require.Equal(t, full.Behavioural, quiet.Behavioural)
		require.Equal(t, full.Emotional, quiet.Emotional)
		require.Equal(t, full.Combined, quiet.Combined)
		require.Equal(t, full.Quadrant, quiet.Quadrant)
		require.Equal(t, full.Play, quiet.Play)
		require.Empty(t, quiet.QuadrantReason)
		for k, c := range quiet.Components {
			require.Equal(t, full.Components[k].Value, c.Value)
			require.Equal(t, full.Components[k].Weight, c.Weight)
		}
	}
}
