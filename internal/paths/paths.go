// Package paths follows accounts along their success paths: which path an
// account follows, which milestones it has reached and when, whether it is
// on time, and its time to value. It is pure: the caller supplies the
// milestone reach times (kept in the account's health aggregate) and a CEL
// evaluator, so the package depends on neither storage nor the rules
// engine.
package paths

import (
	"slices"
	"time"

	"github.com/moments-cs/moments/internal/journey"
)

// day is a milestone's unit of target time. Target days are counted as
// 24-hour periods from the contract start, so a due time does not shift
// with daylight saving in the viewer's time zone.
const day = 24 * time.Hour

// MilestoneStatus is one milestone of an account's path.
type MilestoneStatus struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	TargetDays int        `json:"target_days"`
	ReachedAt  *time.Time `json:"reached_at,omitempty"`
	// Due is contract start + target days; zero when the contract start is
	// unknown.
	Due time.Time `json:"due"`
	// Late is set when the milestone was reached after Due, or is still
	// unreached and Due has passed.
	Late bool `json:"late"`
}

// Progress is an account's progress along its success path.
type Progress struct {
	PathID   string  `json:"path_id"`
	Reached  int     `json:"reached"`
	Total    int     `json:"total"`
	Fraction float64 `json:"fraction"`
	// Next is the first milestone of the path, in map order, not yet
	// reached; nil when all are reached.
	Next *journey.Milestone `json:"next,omitempty"`
	// DaysBehind counts the whole days Next is past its due time; 0 when it
	// is on time or the contract start is unknown.
	DaysBehind int `json:"days_behind"`
	// TimeToValue runs from the contract start to the first value milestone
	// reached; nil until one is reached, or when the contract start is
	// unknown or the path marks no milestone as value.
	TimeToValue *time.Duration `json:"time_to_value,omitempty"`
	// TimeToImplementation runs from the contract start until every
	// milestone marked implemented is reached; nil until then.
	TimeToImplementation *time.Duration    `json:"time_to_implementation,omitempty"`
	Milestones           []MilestoneStatus `json:"milestones"`
}

// Compute returns the progress of an account along path, given the first
// time each milestone was reached (by milestone id), the contract start
// (zero when unknown) and the current time.
//
// Milestones reached out of order all count towards Reached. A milestone
// reached before the contract started (during a trial, say) gives a time to
// value of zero rather than a negative one.
func Compute(path journey.SuccessPath, reached map[string]time.Time, contractStart, now time.Time) Progress {
	p := Progress{PathID: path.ID, Total: len(path.Milestones)}
	known := !contractStart.IsZero()

	var firstValue, implemented time.Time
	implementedAll, anyImplemented := true, false
	for i, m := range path.Milestones {
		st := MilestoneStatus{ID: m.ID, Name: m.Name, TargetDays: m.TargetDays}
		if known {
			st.Due = contractStart.Add(time.Duration(m.TargetDays) * day)
		}
		at, ok := reached[m.ID]
		ok = ok && !at.IsZero()
		if ok {
			st.ReachedAt = &at
			st.Late = known && at.After(st.Due)
			p.Reached++
		} else {
			st.Late = known && now.After(st.Due)
			if p.Next == nil {
				next := path.Milestones[i]
				p.Next = &next
				if st.Late {
					p.DaysBehind = int(now.Sub(st.Due) / day)
				}
			}
		}
		if m.Value && ok && (firstValue.IsZero() || at.Before(firstValue)) {
			firstValue = at
		}
		if m.Implemented {
			anyImplemented = true
			if !ok {
				implementedAll = false
			} else if at.After(implemented) {
				implemented = at
			}
		}
		p.Milestones = append(p.Milestones, st)
	}
	if p.Total > 0 {
		p.Fraction = float64(p.Reached) / float64(p.Total)
	}
	if known && !firstValue.IsZero() {
		p.TimeToValue = since(contractStart, firstValue)
	}
	if known && anyImplemented && implementedAll {
		p.TimeToImplementation = since(contractStart, implemented)
	}
	return p
}

func since(start, at time.Time) *time.Duration {
	d := max(at.Sub(start), 0)
	return &d
}

// Choose returns the path the account follows: the first, in map order,
// whose When condition holds for it, or nil when none does. An empty When
// matches every account. A condition that fails to evaluate (or a nil
// evaluator) does not match, so a broken condition sends the account on to
// the next path instead of stopping the choice; map lint reports such
// conditions. The result points into paths.
func Choose(paths []journey.SuccessPath, account map[string]any, eval func(expr string, account map[string]any) (bool, error)) *journey.SuccessPath {
	for i := range paths {
		when := paths[i].When
		if when == "" {
			return &paths[i]
		}
		if eval == nil {
			continue
		}
		if ok, err := eval(when, account); err == nil && ok {
			return &paths[i]
		}
	}
	return nil
}

// Reached reports whether an event of the given name reaches an
// event-driven milestone. Names are compared exactly, as Segment does.
func Reached(m journey.Milestone, eventName string) bool {
	return eventName != "" && slices.Contains(m.Events, eventName)
}

// ReachedBy returns the milestones of path that an event of the given name
// reaches, in map order.
func ReachedBy(path journey.SuccessPath, eventName string) []journey.Milestone {
	var out []journey.Milestone
	for _, m := range path.Milestones {
		if Reached(m, eventName) {
			out = append(out, m)
		}
	}
	return out
}
