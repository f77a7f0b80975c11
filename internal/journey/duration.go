package journey

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Unit is the unit of a map duration.
type Unit string

// Duration units, as written in a map.
const (
	UnitMinute      Unit = "m"
	UnitHour        Unit = "h"
	UnitDay         Unit = "d"
	UnitWeek        Unit = "w"
	UnitBusinessDay Unit = "bd"
)

// maxDuration is the longest duration a map may hold: ten years is past any
// SLA, wait or renewal offset, and keeps every unit inside time.Duration.
const maxDuration = 10 * 365 * 24 * time.Hour

var unitLength = map[Unit]time.Duration{
	UnitMinute: time.Minute,
	UnitHour:   time.Hour,
	UnitDay:    24 * time.Hour,
	UnitWeek:   7 * 24 * time.Hour,
	// A business day is a calendar day that is not a Saturday or Sunday;
	// on average 7/5 of a day passes per business day.
	UnitBusinessDay: 24 * time.Hour * 7 / 5,
}

// Duration is a length of time as a map writes it: a whole number and a unit,
// such as 90m, 36h, 2d, 3w or 5bd (business days). Offsets may be negative
// (-90d, ninety days before a date).
type Duration struct {
	// Amount is the signed number of units.
	Amount int
	Unit   Unit
	// Business is true for business days (bd), which skip Saturdays and
	// Sundays; use AddTo rather than Approx to schedule them.
	Business bool
}

// unitWords are units spelt out, for the suggestion in an error.
var unitWords = map[string]Unit{
	"min": UnitMinute, "mins": UnitMinute, "minute": UnitMinute, "minutes": UnitMinute,
	"hr": UnitHour, "hrs": UnitHour, "hour": UnitHour, "hours": UnitHour,
	"day": UnitDay, "days": UnitDay,
	"wk": UnitWeek, "wks": UnitWeek, "week": UnitWeek, "weeks": UnitWeek,
	"business day": UnitBusinessDay, "business days": UnitBusinessDay, "b": UnitBusinessDay, "bds": UnitBusinessDay,
}

// durationHelp is appended to every duration error.
const durationHelp = "write a whole number and a unit: 90m (minutes), 36h (hours), 2d (days), 3w (weeks) or 5bd (business days)"

// ParseDuration reads a map duration: a whole number, optionally signed,
// followed by m, h, d, w or bd. It rejects other units (Go's "s", "ms"),
// fractions and combinations ("1d12h"): write 36h instead.
func ParseDuration(s string) (Duration, error) {
	text := strings.TrimSpace(s)
	if text == "" {
		return Duration{}, fmt.Errorf("the duration is empty; %s", durationHelp)
	}
	i := 0
	if text[0] == '-' || text[0] == '+' {
		i = 1
	}
	j := i
	for j < len(text) && text[j] >= '0' && text[j] <= '9' {
		j++
	}
	if j == i {
		return Duration{}, fmt.Errorf("%q is not a duration; %s", s, durationHelp)
	}
	if j-i > 7 {
		return Duration{}, fmt.Errorf("%q is too long; a duration may be at most 10 years", s)
	}
	n, err := strconv.Atoi(text[i:j])
	if err != nil {
		return Duration{}, fmt.Errorf("%q is not a duration; %s", s, durationHelp)
	}
	if text[0] == '-' {
		n = -n
	}
	unit := Unit(text[j:])
	length, ok := unitLength[unit]
	if !ok {
		switch {
		case unit == "":
			return Duration{}, fmt.Errorf("%q has no unit; %s", s, durationHelp)
		case strings.ContainsAny(string(unit), "0123456789."):
			return Duration{}, fmt.Errorf("%q is not a duration; use one whole number and one unit, such as 36h for a day and a half", s)
		}
		word := strings.ToLower(strings.TrimSpace(string(unit)))
		short, ok := unitWords[word]
		if _, valid := unitLength[Unit(word)]; valid { // "5BD", "5 bd"
			short, ok = Unit(word), true
		}
		if ok {
			return Duration{}, fmt.Errorf("%q is not a duration; write it as %d%s", s, n, short)
		}
		return Duration{}, fmt.Errorf("%q has unit %q, which maps do not use; %s", s, word, durationHelp)
	}
	if time.Duration(abs(n))*length > maxDuration {
		return Duration{}, fmt.Errorf("%q is too long; a duration may be at most 10 years", s)
	}
	return Duration{Amount: n, Unit: unit, Business: unit == UnitBusinessDay}, nil
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// String renders the duration as a map writes it, such as "-90d".
func (d Duration) String() string {
	if d.Unit == "" {
		return "0m"
	}
	return strconv.Itoa(d.Amount) + string(d.Unit)
}

// IsZero reports whether the duration is empty or of length zero.
func (d Duration) IsZero() bool { return d.Amount == 0 }

// Negative reports whether the duration points back in time.
func (d Duration) Negative() bool { return d.Amount < 0 }

// Approx returns the length of the duration. It is exact for minutes, hours,
// days and weeks; for business days it is the average of 7/5 of a calendar
// day per business day, good for sorting and estimates but not scheduling.
func (d Duration) Approx() time.Duration {
	return time.Duration(d.Amount) * unitLength[d.Unit]
}

// AddTo returns t moved by the duration. Days and weeks are calendar days in
// t's location (so a day across a daylight-saving change keeps the clock
// time); business days step over Saturdays and Sundays, and adding one
// business day to a Friday or a Saturday lands on Monday.
func (d Duration) AddTo(t time.Time) time.Time {
	switch d.Unit {
	case UnitMinute, UnitHour:
		return t.Add(d.Approx())
	case UnitDay:
		return t.AddDate(0, 0, d.Amount)
	case UnitWeek:
		return t.AddDate(0, 0, 7*d.Amount)
	case UnitBusinessDay:
		step, left := 1, d.Amount
		if left < 0 {
			step, left = -1, -left
		}
		for left > 0 {
			t = t.AddDate(0, 0, step)
			if wd := t.Weekday(); wd != time.Saturday && wd != time.Sunday {
				left--
			}
		}
		return t
	}
	return t
}
