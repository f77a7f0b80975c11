package health_test

import (
	"fmt"
	"time"

	"github.com/moments-cs/moments/internal/health"
	"github.com/moments-cs/moments/internal/journey"
)

func ExampleScore() {
	model := journey.HealthModel{Behavioural: journey.BehaviouralModel{
		KeyFeatures: []string{"Report Created", "Dashboard Shared", "Alert Set"},
	}}
	now := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
	day := func(n int) time.Time { return now.AddDate(0, 0, -n) }

	var agg health.Aggregate
	for _, ev := range []health.Event{
		{Name: "Report Created", Type: "track", UserID: "u-ann", Timestamp: day(12)},
		{Name: "Logged In", Type: "track", UserID: "u-bob", Timestamp: day(14)},
		{Name: "Dashboard Shared", Type: "track", UserID: "u-ann", Timestamp: day(12)},
		{Name: "Survey Responded", Type: "track", UserID: "u-jane", ContactRole: "sponsor", Timestamp: day(20),
			Properties: map[string]any{"kind": "nps", "score": 4, "email": "jane@acme.example"}},
		{Name: "Ticket Escalated", Type: "track", Timestamp: day(30)},
	} {
		agg.Apply(ev, model)
	}

	// Behavioural, with the default weights over the known components:
	// (10×64.3 + 5×13.3 + 10×66.7 + 15×20 + 10×50 + 25×3.6 + 10×100 + 10×100)
	// ÷ 95 = 44.9 (the trend is unknown: too little history);
	// emotional (50×40 + 15×87.5) ÷ 65 = 51.0.
	r := health.Score(&agg, health.AccountInfo{Seats: 10, PathProgress: 0.5}, model, now)
	fmt.Printf("behavioural %s, emotional %s, combined %s: %s\n", r.Behavioural, r.Emotional, r.Combined, r.Quadrant.Label())
	for _, c := range r.Components {
		fmt.Printf("%-12s %7s  %s\n", c.Name, c.Value, c.Reason)
	}
	// Output:
	// behavioural 45, emotional 51, combined 48: at risk
	// recency           64  last activity 12 days ago
	// frequency         13  active on 2 of the last 30 days (full marks from 15 active days)
	// breadth           67  2 of 3 key features used in the last 30 days; not used: Alert Set
	// depth             20  2 active users in the last 30 days for 10 seats
	// progress          50  50% of the success path reached
	// intensity          4  0.3 activity events per seat in 30 days (half marks at 8)
	// trend        unknown  too little activity before the last 30 days to see a trend (0 events, 10 needed)
	// relationship     100  a sponsor or champion last acted 20 days ago
	// support_load     100  0 tickets opened in the last 90 days: 0.0 per 10 seats a month (half marks at 1)
	// nps               40  NPS 4 from sponsor jane@…, 20 days ago
	// csat         unknown  no CSAT answer in the last 360 days
	// ces          unknown  no CES answer in the last 360 days
	// support           88  0 tickets opened, 1 escalated, 0 reopened in the last 90 days
}
