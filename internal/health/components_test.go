package health

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/vocab"
)

func TestIntensity(t *testing.T) {
	t.Parallel()
	var evs []Event
	// 40 events in the last 30 days by 4 users, 10 more 40 days ago.
	for i := range 40 {
		evs = append(evs, track("Report Created", fmt.Sprintf("u%d", i%4), daysAgo(float64(i%29))))
	}
	for range 10 {
		evs = append(evs, track("Report Created", "u9", daysAgo(40)))
	}
	a := build(testModel(), evs...)

	// 40 events ÷ 5 seats = 8 per seat: half marks.
	c := component(t, a, AccountInfo{Seats: 5, PathProgress: ProgressUnknown}, testModel(), now, ComponentIntensity)
	require.InDelta(t, 50, c.Value.Score, 1e-9)
	require.Equal(t, "8.0 activity events per seat in 30 days (half marks at 8)", c.Reason)

	// 40 ÷ 1 seat = 40: 100 × 40 ÷ 48, never capped.
	c = component(t, a, AccountInfo{Seats: 1, PathProgress: ProgressUnknown}, testModel(), now, ComponentIntensity)
	require.InDelta(t, 100*40.0/48, c.Value.Score, 1e-9)

	// Without seats, per active user: 40 ÷ 4 = 10 → 100 × 10 ÷ 18.
	c = component(t, a, unknownProgress, testModel(), now, ComponentIntensity)
	require.InDelta(t, 100*10.0/18, c.Value.Score, 1e-9)
	require.Contains(t, c.Reason, "per active user")

	c = component(t, build(testModel()), unknownProgress, testModel(), now, ComponentIntensity)
	require.Equal(t, Known(0), c.Value)
}

func TestTrend(t *testing.T) {
	t.Parallel()
	var evs []Event
	// 60 events in the 60 days before the last 30 (1 a day; days 31 to 89
	// ago, two on day 89), 15 in the last 30 (0.5 a day): half the rate.
	for d := range 60 {
		evs = append(evs, track("Report Created", "u1", daysAgo(float64(31+min(d, 58)))))
	}
	for d := range 15 {
		evs = append(evs, track("Report Created", "u1", daysAgo(float64(2*d))))
	}
	a := build(testModel(), evs...)
	c := component(t, a, unknownProgress, testModel(), now, ComponentTrend)
	require.InDelta(t, 50, c.Value.Score, 1e-9)
	require.Equal(t, "daily activity in the last 30 days is 50% of the 60 days before (15 against 60 events)", c.Reason)

	growing := build(testModel(), append(evs[:60:60], evs[60:]...)...)
	for d := range 60 {
		growing.Apply(track("Dashboard Shared", "u2", daysAgo(float64(d)/2)), testModel())
	}
	c = component(t, growing, unknownProgress, testModel(), now, ComponentTrend)
	require.Equal(t, Known(100), c.Value, "growth is full marks")

	young := AccountInfo{ContractStart: daysAgo(60), PathProgress: ProgressUnknown}
	c = component(t, a, young, testModel(), now, ComponentTrend)
	require.False(t, c.Value.Known)
	require.Equal(t, "the contract is younger than 90 days", c.Reason)

	c = component(t, build(testModel(), track("Login", "u1", daysAgo(40))), unknownProgress, testModel(), now, ComponentTrend)
	require.False(t, c.Value.Known, "one event before is too little to see a trend")
}

func TestRelationship(t *testing.T) {
	t.Parallel()
	meeting := func(user string, at time.Time) Event {
		return Event{Name: vocab.EventExecutiveMeetingHeld, Type: "track", UserID: user, Timestamp: at}
	}
	tests := []struct {
		name   string
		evs    []Event
		acct   AccountInfo
		want   Value
		reason string
	}{
		{"no executive seen", []Event{track("Login", "u1", daysAgo(1))}, unknownProgress, Value{},
			"no sponsor or champion seen: give contacts the role trait sponsor or champion"},
		{"sponsor met 10 days ago", []Event{meeting("s1", daysAgo(10))}, unknownProgress, Known(100),
			"a sponsor or champion last acted 10 days ago"},
		// 75 days: 100 × (120 − 75) ÷ 90 = 50.
		{"champion answered 75 days ago", []Event{surveyEvent(vocab.SurveyNPS, 8, "c1", "champion", daysAgo(75))}, unknownProgress, Known(50),
			"a sponsor or champion last acted 75 days ago"},
		{"a user's answer is not executive contact", []Event{surveyEvent(vocab.SurveyNPS, 8, "u1", "user", daysAgo(5))}, unknownProgress, Value{},
			"no sponsor or champion seen: give contacts the role trait sponsor or champion"},
		// A new sponsor 20 days ago, after the old one was last seen 60
		// days ago: contact is recent (100) but halved.
		{"sponsor replaced", []Event{meeting("s1", daysAgo(200)), meeting("s1", daysAgo(60)), meeting("s2", daysAgo(20))}, unknownProgress, Known(50),
			"a sponsor or champion last acted 20 days ago; a sponsor or champion left or changed on 2026-02-23 (halved for 180 days)"},
		{"sponsor left, from the contact's traits", []Event{meeting("s1", daysAgo(5))},
			AccountInfo{SponsorLeft: daysAgo(3), PathProgress: ProgressUnknown}, Known(50),
			"a sponsor or champion last acted 5 days ago; a sponsor or champion left or changed on 2026-03-12 (halved for 180 days)"},
		// now is 2026-03-15: 10 days ago is 2026-03-05.
		{"sponsor's role removed by an identify call", []Event{meeting("s1", daysAgo(5)), role("s1", nil, daysAgo(10))}, unknownProgress, Known(50),
			"a sponsor or champion last acted 5 days ago; a sponsor or champion left or changed on 2026-03-05 (halved for 180 days)"},
		{"champion named, then made a user", []Event{meeting("s1", daysAgo(5)), role("c1", "Champion", daysAgo(90)), role("c1", "user", daysAgo(10))},
			unknownProgress, Known(50),
			"a sponsor or champion last acted 5 days ago; a sponsor or champion left or changed on 2026-03-05 (halved for 180 days)"},
		{"named again after losing the role", []Event{meeting("s1", daysAgo(5)), role("s1", "", daysAgo(20)), role("s1", "sponsor", daysAgo(10))},
			unknownProgress, Known(100), "a sponsor or champion last acted 5 days ago"},
		{"a user's role change is nothing", []Event{meeting("s1", daysAgo(5)), role("u1", "admin", daysAgo(10))}, unknownProgress, Known(100),
			"a sponsor or champion last acted 5 days ago"},
		{"an identify call without the role trait is nothing", []Event{meeting("s1", daysAgo(5)),
			{Type: "identify", UserID: "s1", Timestamp: daysAgo(3), Properties: map[string]any{"title": "CFO"}}}, unknownProgress, Known(100),
			"a sponsor or champion last acted 5 days ago"},
		{"a change long ago no longer counts", []Event{meeting("s1", daysAgo(300)), meeting("s2", daysAgo(200)), meeting("s2", daysAgo(1))}, unknownProgress, Known(100),
			"a sponsor or champion last acted 1 day ago"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := component(t, build(testModel(), tt.evs...), tt.acct, testModel(), now, ComponentRelationship)
			require.Equal(t, tt.want.Known, c.Value.Known)
			require.InDelta(t, tt.want.Score, c.Value.Score, 1e-9)
			require.Equal(t, tt.reason, c.Reason)
		})
	}
}

// role is an identify call setting the role trait (nil: set to null).
func role(user string, r any, at time.Time) Event {
	return Event{Type: "identify", UserID: user, Timestamp: at, Properties: map[string]any{"role": r}}
}

func TestSupportLoad(t *testing.T) {
	t.Parallel()
	var evs []Event
	for d := range 6 {
		evs = append(evs, ticketEvent(vocab.EventTicketOpened, daysAgo(float64(10*d+1))))
	}
	evs = append(evs, ticketEvent(vocab.EventTicketEscalated, daysAgo(3)), ticketEvent(vocab.EventTicketOpened, daysAgo(100)))
	a := build(testModel(), evs...)
	// 6 opened in 90 days for 20 seats: 6 ÷ 20 × 10 × 30 ÷ 90 = 1 per 10
	// seats a month → 100 ÷ 2.
	c := component(t, a, AccountInfo{Seats: 20, PathProgress: ProgressUnknown}, testModel(), now, ComponentSupportLoad)
	require.InDelta(t, 50, c.Value.Score, 1e-9)
	require.Equal(t, "6 tickets opened in the last 90 days: 1.0 per 10 seats a month (half marks at 1)", c.Reason)

	c = component(t, a, unknownProgress, testModel(), now, ComponentSupportLoad)
	require.False(t, c.Value.Known, "no seats and no active users")
}

func TestWarnings(t *testing.T) {
	t.Parallel()
	var evs []Event
	for d := range 60 {
		evs = append(evs, track("Report Created", "u1", daysAgo(float64(31+d))))
	}
	evs = append(evs, track("Report Created", "u1", daysAgo(20)),
		Event{Name: vocab.EventExecutiveMeetingHeld, Type: "track", UserID: "s1", Timestamp: daysAgo(150)},
		Event{Name: vocab.EventExecutiveMeetingHeld, Type: "track", UserID: "s2", Timestamp: daysAgo(40)})
	r := Score(build(journey.HealthModel{}, evs...), AccountInfo{Seats: 30, PathProgress: ProgressUnknown}, journey.HealthModel{}, now)
	var codes []string
	for _, w := range Warnings(r) {
		codes = append(codes, w.Code)
	}
	require.Equal(t, []string{WarningLowHealth, WarningDecliningUsage, WarningSponsorLeft}, codes)

	// Reweigh with the model's own weights gives the score back.
	require.InDelta(t, r.Combined.Score, Reweigh(r, journey.HealthModel{}).Score, 1e-9)
	trendOnly := journey.HealthModel{Behavioural: journey.BehaviouralModel{Weights: journey.BehaviouralWeights{Trend: 1}}}
	c, _ := r.Component(ComponentTrend)
	require.InDelta(t, c.Value.Score, Reweigh(r, trendOnly).Score, 1e-9)
}

func TestFeatureReference(t *testing.T) {
	t.Parallel()
	var aggs []*Aggregate
	for n := range 10 {
		var evs []Event
		for f := range n + 1 {
			evs = append(evs, track(fmt.Sprintf("Feature %d", f), "u1", daysAgo(1)))
		}
		aggs = append(aggs, build(journey.HealthModel{}, evs...))
	}
	// Accounts use 1 to 10 features; the 90th percentile (9th of 10) is 9.
	require.Equal(t, 9, FeatureReference(aggs, journey.HealthModel{}, now))
	require.Equal(t, 0, FeatureReference(nil, journey.HealthModel{}, now))
}

func TestExecutivesRoundTrip(t *testing.T) {
	t.Parallel()
	a := build(journey.HealthModel{},
		Event{Name: vocab.EventExecutiveMeetingHeld, Type: "track", UserID: "s1", Timestamp: daysAgo(150)},
		surveyEvent(vocab.SurveyNPS, 9, "c1", "champion", daysAgo(20)),
		track("Report Created", "u1", daysAgo(1)))
	require.Len(t, a.Executives, 2)
	b, err := a.MarshalJSON()
	require.NoError(t, err)
	require.Contains(t, string(b), `"executives":[[`)
	var back Aggregate
	require.NoError(t, back.UnmarshalJSON(b))
	require.Equal(t, a, &back)
}
