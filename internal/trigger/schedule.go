package trigger

import (
	"fmt"
	"strconv"
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
	cron       *cronSpec
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
		switch out.every {
		case "daily", "weekly", "monthly", "quarterly", "yearly":
			out.key = out.every
		default:
			c, err := parseCron(out.every)
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
		if p, ok = s.cron.latest(after, through); !ok {
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

// cronSpec is a five-field cron expression (minute hour day-of-month month
// day-of-week), evaluated in UTC.
type cronSpec struct {
	minute, hour, dom, month, dow uint64
	domAny, dowAny                bool
}

// cronNames are the names a field accepts besides numbers: month names only
// in the month field and day names only in the day-of-week field, so "jan"
// as a weekday is an error rather than Monday.
type cronNames struct {
	values map[string]int
	what   string // for errors, such as "a month name (jan, feb, …, dec)"
}

var (
	cronMonths = &cronNames{map[string]int{
		"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
	}, "a month name (jan, feb, …, dec)"}
	cronDays = &cronNames{map[string]int{
		"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6,
	}, "a day name (sun, mon, …, sat)"}
)

func parseCron(expr string) (*cronSpec, error) {
	f := strings.Fields(expr)
	if len(f) != 5 {
		return nil, fmt.Errorf("every %q is not a calendar rule or a five-field cron expression", expr)
	}
	var c cronSpec
	var err error
	bounds := [5][2]int{{0, 59}, {0, 23}, {1, 31}, {1, 12}, {0, 7}}
	dst := [5]*uint64{&c.minute, &c.hour, &c.dom, &c.month, &c.dow}
	names := [5]string{"minute", "hour", "day of month", "month", "day of week"}
	words := [5]*cronNames{nil, nil, nil, cronMonths, cronDays}
	for i := range f {
		if *dst[i], err = cronField(f[i], bounds[i][0], bounds[i][1], words[i]); err != nil {
			return nil, fmt.Errorf("cron %q, %s field: %w", expr, names[i], err)
		}
	}
	if c.dow&(1<<7) != 0 { // 7 is Sunday too
		c.dow |= 1
	}
	c.domAny, c.dowAny = f[2] == "*" || f[2] == "?", f[4] == "*" || f[4] == "?"
	return &c, nil
}

func cronField(s string, lo, hi int, words *cronNames) (uint64, error) {
	var set uint64
	for _, part := range strings.Split(s, ",") {
		rng, stepText, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 {
				return 0, fmt.Errorf("step %q is not a positive number", stepText)
			}
			step = n
		}
		a, b := lo, hi
		switch {
		case rng == "*" || rng == "?":
		case strings.Contains(rng, "-"):
			x, y, _ := strings.Cut(rng, "-")
			var err error
			if a, err = cronValue(x, words); err != nil {
				return 0, err
			}
			if b, err = cronValue(y, words); err != nil {
				return 0, err
			}
		default:
			v, err := cronValue(rng, words)
			if err != nil {
				return 0, err
			}
			a, b = v, v
			if hasStep {
				b = hi
			}
		}
		if a < lo || b > hi {
			return 0, fmt.Errorf("%q is outside %d–%d", part, lo, hi)
		}
		if a > b {
			return 0, fmt.Errorf("%q runs backwards; write the smaller value first", part)
		}
		for v := a; v <= b; v += step {
			set |= 1 << v
		}
	}
	return set, nil
}

func cronValue(s string, words *cronNames) (int, error) {
	if words != nil {
		if v, ok := words.values[strings.ToLower(s)]; ok {
			return v, nil
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		if words != nil && s != "" {
			return 0, fmt.Errorf("%q is not a number or %s", s, words.what)
		}
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return v, nil
}

func (c *cronSpec) dayMatches(t time.Time) bool {
	if c.month&(1<<uint(t.Month())) == 0 {
		return false
	}
	dom := c.dom&(1<<uint(t.Day())) != 0
	dow := c.dow&(1<<uint(t.Weekday())) != 0
	switch {
	case c.domAny && c.dowAny:
		return true
	case c.domAny:
		return dow
	case c.dowAny:
		return dom
	}
	// Cron's rule: when both are restricted, either matches.
	return dom || dow
}

// latest returns the last time in (after, through] the expression matches,
// looking back day by day (a tick's window is days, not years).
func (c *cronSpec) latest(after, through time.Time) (time.Time, bool) {
	y, m, d := through.Date()
	for day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC); !day.Add(24 * time.Hour).Before(after); day = day.AddDate(0, 0, -1) {
		if !c.dayMatches(day) {
			continue
		}
		for h := 23; h >= 0; h-- {
			if c.hour&(1<<uint(h)) == 0 {
				continue
			}
			for mi := 59; mi >= 0; mi-- {
				if c.minute&(1<<uint(mi)) == 0 {
					continue
				}
				t := day.Add(time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute)
				if t.After(through) {
					continue
				}
				return t, t.After(after)
			}
		}
	}
	return time.Time{}, false
}
