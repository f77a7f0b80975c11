package health

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/moments-cs/moments/internal/vocab"
)

// Event is one customer event as health sees it: a Segment track, page or
// screen call, already normalised by ingest (its Timestamp corrected for
// clock skew) and attributed to an account.
type Event struct {
	Name string
	// Type is the Segment call type: "track", "page" or "screen". Other
	// types (identify, group) carry no behaviour and are ignored.
	Type   string
	UserID string
	// ContactRole is the role of the contact behind UserID (sponsor,
	// champion, admin, user), used to weigh survey answers.
	ContactRole string
	Timestamp   time.Time
	Properties  map[string]any
}

// Ticket kinds kept in the aggregate.
const (
	TicketOpened    = "opened"
	TicketEscalated = "escalated"
	TicketReopened  = "reopened"
)

// scale is the answer range of a survey kind.
type scale struct{ low, high float64 }

// scales are the answer ranges. CES uses the 7-point agreement scale where
// 7 means "it was very easy", so a higher answer is better for every kind
// and all three map onto 0–100 the same way.
var scales = map[string]scale{
	vocab.SurveyNPS:  {0, 10},
	vocab.SurveyCSAT: {1, 5},
	vocab.SurveyCES:  {1, 7},
}

// normalise maps a survey answer onto 0–100.
func normalise(kind string, score float64) float64 {
	s := scales[kind]
	return 100 * (score - s.low) / (s.high - s.low)
}

// MilestoneEvent returns the event that records reaching a milestone, for
// the caller to store beside the customer's own events.
func MilestoneEvent(milestoneID string, at time.Time) Event {
	return Event{
		Name:       vocab.EventMilestoneReached,
		Type:       "track",
		Timestamp:  at,
		Properties: map[string]any{"milestone_id": milestoneID},
	}
}

// isTracked reports whether an event of this call type is applied at all.
func isTracked(typ string) bool {
	switch typ {
	case "track", "page", "screen":
		return true
	}
	return false
}

// ticketKind maps a ticket event name to its kind.
func ticketKind(name string) (string, bool) {
	switch name {
	case vocab.EventTicketOpened:
		return TicketOpened, true
	case vocab.EventTicketEscalated:
		return TicketEscalated, true
	case vocab.EventTicketReopened:
		return TicketReopened, true
	}
	return "", false
}

// str returns a string property, or "" when it is missing or not a string.
func str(props map[string]any, key string) string {
	s, _ := props[key].(string)
	return s
}

// number reads a numeric property. Sources send survey scores as JSON
// numbers, as json.Number when decoded with UseNumber, or as strings.
func number(v any) (float64, bool) {
	var f float64
	switch n := v.(type) {
	case float64:
		f = n
	case float32:
		f = float64(n)
	case int:
		f = float64(n)
	case int64:
		f = float64(n)
	case int32:
		f = float64(n)
	case uint:
		f = float64(n)
	case uint64:
		f = float64(n)
	case uint32:
		f = float64(n)
	case json.Number:
		v, err := n.Float64()
		if err != nil {
			return 0, false
		}
		f = v
	case string:
		v, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
		if err != nil {
			return 0, false
		}
		f = v
	default:
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}
