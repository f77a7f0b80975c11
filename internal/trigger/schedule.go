package trigger

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/moments-cs/moments/internal/journey"
)

// schedule is a compiled journey.Schedule: relative to a date trait, or a
// calendar rule. Dates are days in UTC: a date trait of 2027-03-31 with
// offset -90d is due at 2026-12-31T00:00Z, and fires on the first tick of
// that day.
type schedule struct {
	relativeTo string
	offset     journey.Duration
	every      string
	cron       *journey.Cron
	// key names the rule in occurrence keys and watermarks, such as
	// "renewal_date-90d", "monthly" or "cron(0 9 * * 1)".
	key string
}

func parseSchedule(s journey.Schedule) (*schedule, error) {
	out := &schedule{relativeTo: s.RelativeTo, every: strings.TrimSpace(s.Every)}
	switch {
	case s.RelativeTo != "" && s.Every != "":
		return nil, fmt.Errorf("a schedule is either relative_to a date or every, not both")
	case s.RelativeTo != "":
		if s.Offset != "" {
			d, err := journey.ParseDuration(s.Offset)
			if err != nil {
				return nil, fmt.Errorf("offset: %w", err)
			}
			out.offset = d
		}
		out.key = s.RelativeTo
		if !out.offset.IsZero() {
			if !out.offset.Negative() {
				out.key += "+"
			}
			out.key += out.offset.String()
		}
	case out.every != "":
		switch {
		case slices.Contains(journey.CalendarRules, out.every):
			out.key = out.every
		default:
			c, err := journey.ParseCron(out.every)
			if err != nil {
				return nil, err
			}
			out.cron = c
			out.key = "cron(" + strings.Join(strings.Fields(out.every), " ") + ")"
		}
	default:
		return nil, fmt.Errorf("a schedule needs relative_to or every")
	}
	return out, nil
}

// relative reports whether the schedule counts from a date trait.
func (s *schedule) relative() bool { return s.relativeTo != "" }

// dueAt is when the occurrence for a date (YYYY-MM-DD) falls due.
func (s *schedule) dueAt(date string) (time.Time, bool) {
	d, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return time.Time{}, false
	}
	return s.offset.AddTo(d), true
}

// dateWindow returns the dates (exclusive, inclusive) whose due time may
// fall in (after, through]; callers check each date with dueAt, because
// business-day offsets are not a fixed length.
func (s *schedule) dateWindow(after, through time.Time) (string, string) {
	margin := time.Duration(0)
	if s.offset.Business {
		margin = 4 * 24 * time.Hour
	}
	back := s.offset.Approx()
	lo := after.Add(-back - margin)
	hi := through.Add(-back + margin)
	return lo.UTC().Format(time.DateOnly), hi.UTC().Format(time.DateOnly)
}

// latest returns the calendar rule's latest occurrence in (after, through].
// After an outage that missed several occurrences only the latest fires: a
// monthly check-in missed twice is one check-in to hold, not two.
func (s *schedule) latest(after, through time.Time) (time.Time, bool) {
	through = through.UTC()
	var p time.Time
	y, m, d := through.Date()
	switch s.every {
	case "daily":
		p = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	case "weekly":
		day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		back := (int(day.Weekday()) + 6) % 7 // days since Monday
		p = day.AddDate(0, 0, -back)
	case "monthly":
		p = time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	case "quarterly":
		p = time.Date(y, m-(m-1)%3, 1, 0, 0, 0, 0, time.UTC)
	case "yearly":
		p = time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
	default:
		if s.cron == nil {
			return time.Time{}, false
		}
		var ok bool
		if p, ok = s.cron.Latest(after, through); !ok {
			return time.Time{}, false
		}
	}
	return p, p.After(after)
}

// occurrence names one occurrence: the rule and when it fell due.
func (s *schedule) occurrence(due time.Time) string {
	due = due.UTC()
	if due.Hour() == 0 && due.Minute() == 0 {
		return s.key + ":" + due.Format(time.DateOnly)
	}
	return s.key + ":" + due.Format("2006-01-02T15:04")
}
