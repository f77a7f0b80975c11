package journey

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Cron is a five-field cron expression (minute hour day-of-month month
// day-of-week), evaluated in UTC.
type Cron struct {
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

// ParseCron reads a five-field cron expression, such as "0 9 * * 1". Its
// errors name the field and say what the field accepts; the linter reports
// them as they are, so a map that lints starts the same schedule.
func ParseCron(expr string) (*Cron, error) {
	f := strings.Fields(expr)
	if len(f) != 5 {
		return nil, fmt.Errorf("every %q is not a calendar rule or a five-field cron expression", expr)
	}
	var c Cron
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

func (c *Cron) dayMatches(t time.Time) bool {
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

// Latest returns the last time in (after, through] the expression matches,
// looking back day by day (a tick's window is days, not years).
func (c *Cron) Latest(after, through time.Time) (time.Time, bool) {
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
