package health

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/vocab"
)

func TestApplyActivity(t *testing.T) {
	t.Parallel()
	m := testModel()
	a := build(m,
		track("Report Created", "u1", daysAgo(3)),
		track("Logged In", "u1", daysAgo(3).Add(time.Hour)),
		track("Logged In", "u2", daysAgo(1)),
		Event{Name: "Settings", Type: "page", UserID: "u3", Timestamp: daysAgo(1)},
		// A generic event naming the feature in a property.
		Event{Name: "Feature Used", Type: "track", UserID: "u2", Timestamp: daysAgo(2), Properties: map[string]any{"feature": "Alert Set"}},
		// Anonymous activity counts as activity but not as a user.
		track("Logged In", "", daysAgo(0.5)),
		// Not behaviour: identify calls, events without a time.
		Event{Name: "Logged In", Type: "identify", UserID: "u9", Timestamp: daysAgo(0)},
		Event{Name: "Logged In", Type: "track", UserID: "u9"},
	)

	require.Equal(t, daysAgo(0.5).Unix(), a.LastActivity)
	require.Equal(t, daysAgo(0.5).Unix(), a.Seen)
	require.Equal(t, []DayCount{
		{Day: dayOf(daysAgo(3).Unix()), Count: 2},
		{Day: dayOf(daysAgo(2).Unix()), Count: 1},
		{Day: dayOf(daysAgo(1).Unix()), Count: 2},
		{Day: dayOf(daysAgo(0.5).Unix()), Count: 1},
	}, a.Days)
	require.Len(t, a.Users, 3)
	require.Equal(t, map[string]int64{
		"Report Created": daysAgo(3).Unix(),
		"Alert Set":      daysAgo(2).Unix(),
	}, a.Features)
	require.Equal(t, []Activity{
		{Name: "Logged In", At: daysAgo(0.5).Unix()},
		{Name: "Logged In", At: daysAgo(1).Unix()},
		{Name: "Settings", At: daysAgo(1).Unix()},
		{Name: "Feature Used", At: daysAgo(2).Unix()},
		{Name: "Logged In", At: daysAgo(3).Add(time.Hour).Unix()},
	}, a.Recent)
	require.Equal(t, AggregateFormat, a.Format)
	require.Equal(t, daysAgo(0.5).Truncate(time.Second), a.LastActivityAt())
}

func TestApplyPrunesRelativeToLatestEvent(t *testing.T) {
	t.Parallel()
	m := testModel() // window 30: 90 days of counts, for the trend
	a := build(m,
		track("Logged In", "old", daysAgo(95)),
		track("Logged In", "mid", daysAgo(45)),
		track("Logged In", "new", daysAgo(0)),
		ticketEvent(vocab.EventTicketEscalated, daysAgo(100)),
		ticketEvent(vocab.EventTicketOpened, daysAgo(80)),
		surveyEvent(vocab.SurveyNPS, 9, "c1", "user", daysAgo(400)),
	)
	// Days older than 90 days before the latest event are gone.
	require.Equal(t, []DayCount{{Day: dayOf(daysAgo(45).Unix()), Count: 1}, {Day: dayOf(now.Unix()), Count: 1}}, a.Days)
	// Users older than the 30-day window are gone.
	require.Equal(t, []UserDay{{Hash: userHash("new"), Day: dayOf(now.Unix())}}, a.Users)
	// Tickets older than 90 days and answers older than 4 half-lives too.
	require.Equal(t, []Ticket{{Kind: TicketOpened, At: daysAgo(80).Unix()}}, a.Tickets)
	require.Nil(t, a.Responses)
}

func TestApplySurveys(t *testing.T) {
	t.Parallel()
	m := testModel()
	jane := surveyEvent(vocab.SurveyNPS, 4.0, "u-jane", "Sponsor", daysAgo(20))
	jane.Properties["email"] = "jane@acme.example"
	a := build(m,
		surveyEvent(vocab.SurveyNPS, 9, "u-jane", "sponsor", daysAgo(40)), // replaced by the later answer
		jane,
		surveyEvent("NPS", "8", "u-bob", "user", daysAgo(5)), // kind and score as strings
		surveyEvent(vocab.SurveyCSAT, json.Number("5"), "u-bob", "user", daysAgo(4)),
		surveyEvent(vocab.SurveyCSAT, 2, "u-bob", "user", daysAgo(3)),
		surveyEvent(vocab.SurveyCES, 6, "u-ann", "admin", daysAgo(2)),
		// Ignored: out of range, unknown kind, no score.
		surveyEvent(vocab.SurveyNPS, 11, "u-x", "user", daysAgo(1)),
		surveyEvent(vocab.SurveyCSAT, 0, "u-x", "user", daysAgo(1)),
		surveyEvent("mood", 3, "u-x", "user", daysAgo(1)),
		surveyEvent(vocab.SurveyCES, nil, "u-x", "user", daysAgo(1)),
	)
	require.Equal(t, []Response{
		{Contact: "u-ann", Role: "admin", Kind: vocab.SurveyCES, Score: 6, At: daysAgo(2).Unix()},
		{Contact: "u-bob", Role: "user", Kind: vocab.SurveyCSAT, Score: 2, At: daysAgo(3).Unix()},
		{Contact: "u-bob", Role: "user", Kind: vocab.SurveyNPS, Score: 8, At: daysAgo(5).Unix()},
		{Contact: "u-jane", Label: "jane@acme.example", Role: "sponsor", Kind: vocab.SurveyNPS, Score: 4, At: daysAgo(20).Unix()},
	}, a.Responses)
	require.Equal(t, []Response{
		{Contact: "u-bob", Role: "user", Kind: vocab.SurveyCSAT, Score: 2, At: daysAgo(3).Unix()},
		{Contact: "u-bob", Role: "user", Kind: vocab.SurveyCSAT, Score: 5, At: daysAgo(4).Unix()},
	}, a.RecentCSAT)
	require.Len(t, a.RecentCES, 1)
	// Surveys are not product activity.
	require.Zero(t, a.LastActivity)
	require.Nil(t, a.Days)
}

func TestApplyTicketsAndMilestones(t *testing.T) {
	t.Parallel()
	a := build(testModel(),
		ticketEvent(vocab.EventTicketOpened, daysAgo(10)),
		ticketEvent(vocab.EventTicketEscalated, daysAgo(9)),
		ticketEvent(vocab.EventTicketReopened, daysAgo(2)),
		MilestoneEvent("first-report", daysAgo(5)),
		MilestoneEvent("first-report", daysAgo(8)), // the first reach counts
		MilestoneEvent("", daysAgo(1)),
	)
	require.Equal(t, []Ticket{
		{Kind: TicketReopened, At: daysAgo(2).Unix()},
		{Kind: TicketEscalated, At: daysAgo(9).Unix()},
		{Kind: TicketOpened, At: daysAgo(10).Unix()},
	}, a.Tickets)
	require.Equal(t, map[string]time.Time{"first-report": daysAgo(8).Truncate(time.Second)}, a.MilestoneTimes())
	require.Zero(t, a.LastActivity, "tickets and milestones are not product activity")
}

func TestAggregateBounds(t *testing.T) {
	t.Parallel()
	m := testModel()
	var evs []Event
	for i := range MaxUsers + 500 {
		at := daysAgo(1)
		if i%3 == 0 {
			at = daysAgo(0) // these are the most recent and must all be kept
		}
		evs = append(evs, track("Logged In", fmt.Sprintf("user-%d", i), at))
		evs = append(evs, surveyEvent(vocab.SurveyCSAT, 1+i%5, fmt.Sprintf("user-%d", i), "user", at.Add(time.Duration(i)*time.Second)))
		evs = append(evs, ticketEvent(vocab.EventTicketOpened, at.Add(time.Duration(i)*time.Second)))
	}
	for i := range MaxMilestones + 10 {
		evs = append(evs, MilestoneEvent(fmt.Sprintf("m%03d", i), daysAgo(float64(i))))
	}
	a := build(m, evs...)

	require.Len(t, a.Users, MaxUsers)
	today := 0
	for _, u := range a.Users {
		if u.Day == dayOf(now.Unix()) {
			today++
		}
	}
	require.Equal(t, (MaxUsers+500+2)/3, today)
	require.Len(t, a.Responses, MaxResponses)
	require.Len(t, a.RecentCSAT, MaxRecentSurveys)
	require.Len(t, a.Tickets, MaxTickets)
	require.Len(t, a.Milestones, MaxMilestones)
	// Milestone mNNN was reached NNN days ago: the earliest reached are kept.
	require.Contains(t, a.Milestones, fmt.Sprintf("m%03d", MaxMilestones+9))
	require.NotContains(t, a.Milestones, "m009")
	require.Contains(t, a.Milestones, "m010")
	require.Len(t, a.Recent, MaxRecentActivity)

	b, err := json.Marshal(a)
	require.NoError(t, err)
	require.Less(t, len(b), 40_000, "a full aggregate stays small")
}

func TestAggregateJSONRoundTrip(t *testing.T) {
	t.Parallel()
	m := testModel()
	jane := surveyEvent(vocab.SurveyNPS, 4, "u-jane", "sponsor", daysAgo(20))
	jane.Properties["email"] = "jane@acme.example"
	a := build(m,
		track("Report Created", "u1", daysAgo(3)),
		jane,
		surveyEvent(vocab.SurveyCES, 6.5, "u-ann", "admin", daysAgo(2)),
		ticketEvent(vocab.EventTicketReopened, daysAgo(2)),
		MilestoneEvent("first-report", daysAgo(3)),
		role("u-jane", nil, daysAgo(1)),
		role("u-cid", "champion", daysAgo(4)),
	)
	require.Len(t, a.KeyContacts, 2)
	b, err := json.Marshal(a)
	require.NoError(t, err)
	var back Aggregate
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, *a, back)
	require.Equal(t, Score(a, AccountInfo{Seats: 5}, m, now), Score(&back, AccountInfo{Seats: 5}, m, now))
}

func TestApplyIsOrderIndependent(t *testing.T) {
	t.Parallel()
	m := journey.HealthModel{Behavioural: journey.BehaviouralModel{KeyFeatures: keyFeatures, WindowDays: 7}, UsageDrop: journey.UsageDropModel{WindowDays: 7}}
	// Same-second ties with different content, and events that fall out of
	// the retention only once later events arrive.
	evs := []Event{
		surveyEvent(vocab.SurveyNPS, 3, "c1", "user", daysAgo(1)),
		surveyEvent(vocab.SurveyNPS, 7, "c1", "user", daysAgo(1)),
		surveyEvent(vocab.SurveyNPS, 7, "c2", "user", daysAgo(1)),
		surveyEvent(vocab.SurveyNPS, 7, "c2", "sponsor", daysAgo(1)),
		track("A", "u1", daysAgo(20)),
		track("B", "u1", daysAgo(20)),
		track("A", "u2", daysAgo(10)),
		track("Report Created", "u3", daysAgo(0)),
		ticketEvent(vocab.EventTicketOpened, daysAgo(95)),
		ticketEvent(vocab.EventTicketOpened, daysAgo(5)),
	}
	want := build(m, evs...)
	perm := make([]Event, len(evs))
	for i := range len(evs) {
		// Rotations and reversal cover arrivals both before and after the
		// event that prunes.
		for j := range evs {
			perm[j] = evs[(i+j)%len(evs)]
		}
		require.Equal(t, want, build(m, perm...), "rotation %d", i)
		for j := range evs {
			perm[j] = evs[(i+len(evs)-j)%len(evs)]
		}
		require.Equal(t, want, build(m, perm...), "reversed rotation %d", i)
	}
	require.Equal(t, []Response{
		{Contact: "c1", Role: "user", Kind: vocab.SurveyNPS, Score: 3, At: daysAgo(1).Unix()},
		{Contact: "c2", Role: "sponsor", Kind: vocab.SurveyNPS, Score: 7, At: daysAgo(1).Unix()},
	}, want.Responses, "a tie in time keeps the lower score, then the first role by name")
}
