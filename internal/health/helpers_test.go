package health

import (
	"time"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/vocab"
)

// now is the fixed clock of the tests: a Sunday noon, UTC.
var now = time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)

// daysAgo returns now minus n days.
func daysAgo(n float64) time.Time {
	return now.Add(-time.Duration(n * float64(24*time.Hour)))
}

var keyFeatures = []string{"Report Created", "Dashboard Shared", "Integration Connected", "Export Downloaded", "Alert Set"}

// testModel lists key features and sets the five classic behavioural
// weights explicitly, so that the tests of those components keep their
// hand-computed figures; the components added for prediction are tested
// on their own (components_test.go) and on planted data.
func testModel() journey.HealthModel {
	return journey.HealthModel{Behavioural: journey.BehaviouralModel{KeyFeatures: keyFeatures, Weights: classicWeights}}
}

// classicWeights are the behavioural weights before intensity, trend,
// relationship and support load existed.
var classicWeights = journey.BehaviouralWeights{Recency: 25, Frequency: 25, Breadth: 20, Depth: 15, Progress: 15}

func track(name, user string, at time.Time) Event {
	return Event{Name: name, Type: "track", UserID: user, Timestamp: at}
}

func surveyEvent(kind string, score any, user, role string, at time.Time) Event {
	return Event{
		Name: vocab.EventSurveyResponded, Type: "track", UserID: user, ContactRole: role, Timestamp: at,
		Properties: map[string]any{"kind": kind, "score": score},
	}
}

func ticketEvent(name string, at time.Time) Event {
	return Event{Name: name, Type: "track", UserID: "support-bot", Timestamp: at}
}

func build(m journey.HealthModel, evs ...Event) *Aggregate {
	return Recompute(evs, m)
}
