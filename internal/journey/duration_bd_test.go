package journey_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/journey"
)

// at is 09:30 UTC on a day; business days keep the clock time.
func at(y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 9, 30, 0, 0, time.UTC)
}

// TestBusinessDaysAddTo checks business-day arithmetic against dates worked
// out by hand. 2026-01-01 is a Thursday; 2028 is a leap year. Public
// holidays are not skipped: only Saturdays and Sundays.
func TestBusinessDaysAddTo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		d    string
		from time.Time
		want time.Time
	}{
		{"Monday + 1bd is Tuesday", "1bd", at(2026, 1, 5), at(2026, 1, 6)},
		{"Thursday + 1bd is Friday", "1bd", at(2026, 1, 8), at(2026, 1, 9)},
		{"Friday + 1bd is Monday", "1bd", at(2026, 1, 9), at(2026, 1, 12)},
		{"Saturday + 1bd is Monday", "1bd", at(2026, 1, 10), at(2026, 1, 12)},
		{"Sunday + 1bd is Monday", "1bd", at(2026, 1, 11), at(2026, 1, 12)},
		{"Friday + 2bd is Tuesday", "2bd", at(2026, 1, 9), at(2026, 1, 13)},
		{"Friday + 5bd is the next Friday", "5bd", at(2026, 1, 9), at(2026, 1, 16)},
		{"Saturday + 5bd is Friday", "+5bd", at(2026, 1, 10), at(2026, 1, 16)},
		{"Wednesday + 10bd is Wednesday two weeks on", "10bd", at(2026, 1, 7), at(2026, 1, 21)},
		{"260bd is 52 weeks", "260bd", at(2026, 1, 5), at(2027, 1, 4)},
		{"Saturday + 0bd stays Saturday", "0bd", at(2026, 1, 10), at(2026, 1, 10)},
		{"Sunday + 0bd stays Sunday", "0bd", at(2026, 1, 11), at(2026, 1, 11)},

		{"Monday - 1bd is Friday", "-1bd", at(2026, 1, 12), at(2026, 1, 9)},
		{"Saturday - 1bd is Friday", "-1bd", at(2026, 1, 10), at(2026, 1, 9)},
		{"Sunday - 1bd is Friday", "-1bd", at(2026, 1, 11), at(2026, 1, 9)},
		{"Tuesday - 2bd is Friday", "-2bd", at(2026, 1, 13), at(2026, 1, 9)},
		{"Sunday - 5bd is Monday", "-5bd", at(2026, 1, 11), at(2026, 1, 5)},
		{"Friday - 5bd is the Friday before", "-5bd", at(2026, 1, 16), at(2026, 1, 9)},
		{"-260bd is 52 weeks back", "-260bd", at(2027, 1, 4), at(2026, 1, 5)},

		{"across January's end", "1bd", at(2025, 1, 31), at(2025, 2, 3)},
		{"across October's end", "1bd", at(2025, 10, 31), at(2025, 11, 3)},
		{"from February's last day, a Saturday", "1bd", at(2026, 2, 28), at(2026, 3, 2)},
		{"back across February's end", "-1bd", at(2026, 3, 2), at(2026, 2, 27)},
		{"across July's end", "1bd", at(2026, 7, 31), at(2026, 8, 3)},
		{"from a month's last day, a Sunday", "1bd", at(2026, 5, 31), at(2026, 6, 1)},
		{"onto a leap day", "2bd", at(2028, 2, 25), at(2028, 2, 29)},
		{"from a leap day", "1bd", at(2028, 2, 29), at(2028, 3, 1)},

		{"New Year's Eve, a Wednesday", "1bd", at(2025, 12, 31), at(2026, 1, 1)},
		{"New Year's Eve, a Friday", "1bd", at(2027, 12, 31), at(2028, 1, 3)},
		{"back to New Year's Eve, a Friday", "-1bd", at(2028, 1, 3), at(2027, 12, 31)},
		{"a week across the year end", "5bd", at(2025, 12, 26), at(2026, 1, 2)},
		{"a week back across the year end", "-5bd", at(2026, 1, 2), at(2025, 12, 26)},
		{"from a Sunday back into the year before", "-3bd", at(2026, 1, 4), at(2025, 12, 31)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := journey.ParseDuration(tt.d)
			require.NoError(t, err)
			require.True(t, d.Business)
			require.Equal(t, tt.want, d.AddTo(tt.from), "%s from %s %s", tt.d, tt.from.Weekday(), tt.from.Format(time.DateOnly))
		})
	}
}

// TestBusinessDaysLandOnWeekdays checks, for every start over eight weeks
// and offsets of up to ±12 business days, that the result is a weekday and
// that exactly |n| weekdays lie between the start and it (the start not
// counted, the result counted), and that going back undoes going forward
// from a weekday.
func TestBusinessDaysLandOnWeekdays(t *testing.T) {
	t.Parallel()
	weekday := func(t time.Time) bool { return t.Weekday() != time.Saturday && t.Weekday() != time.Sunday }
	start := at(2025, 12, 1)
	for i := 0; i < 56; i++ {
		from := start.AddDate(0, 0, i)
		for n := -12; n <= 12; n++ {
			if n == 0 {
				continue
			}
			got := journey.Duration{Amount: n, Unit: journey.UnitBusinessDay, Business: true}.AddTo(from)
			require.True(t, weekday(got), "%dbd from %s lands on %s", n, from, got)
			step, count := 1, 0
			if n < 0 {
				step = -1
			}
			for day := from; !day.Equal(got); {
				day = day.AddDate(0, 0, step)
				if weekday(day) {
					count++
				}
				require.LessOrEqual(t, count, 12, "%dbd from %s overshoots", n, from)
			}
			require.Equal(t, max(n, -n), count, "%dbd from %s lands on %s", n, from, got)
			if weekday(from) {
				back := journey.Duration{Amount: -n, Unit: journey.UnitBusinessDay, Business: true}.AddTo(got)
				require.Equal(t, from, back, "%dbd from %s and back", n, from)
			}
		}
	}
}

// TestBusinessDaysKeepClockTimeAcrossDST checks that business days count
// calendar days in the time's own zone, so 09:00 stays 09:00 across the
// weekend on which the clocks change.
func TestBusinessDaysKeepClockTimeAcrossDST(t *testing.T) {
	t.Parallel()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no time zone database")
	}
	d, err := journey.ParseDuration("1bd")
	require.NoError(t, err)
	// Summer time started on Sunday 30 March 2025 and ended on Sunday
	// 26 October 2025 in Paris.
	require.Equal(t, time.Date(2025, 3, 31, 9, 0, 0, 0, paris), d.AddTo(time.Date(2025, 3, 28, 9, 0, 0, 0, paris)))
	require.Equal(t, time.Date(2025, 10, 27, 9, 0, 0, 0, paris), d.AddTo(time.Date(2025, 10, 24, 9, 0, 0, 0, paris)))
	back, err := journey.ParseDuration("-1bd")
	require.NoError(t, err)
	require.Equal(t, time.Date(2025, 3, 28, 9, 0, 0, 0, paris), back.AddTo(time.Date(2025, 3, 31, 9, 0, 0, 0, paris)))
}

func TestParseBusinessDays(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		want   journey.Duration
		approx time.Duration
	}{
		{"1bd", journey.Duration{Amount: 1, Unit: journey.UnitBusinessDay, Business: true}, 24 * time.Hour * 7 / 5},
		{"-3bd", journey.Duration{Amount: -3, Unit: journey.UnitBusinessDay, Business: true}, -3 * 24 * time.Hour * 7 / 5},
		{"+10bd", journey.Duration{Amount: 10, Unit: journey.UnitBusinessDay, Business: true}, 14 * 24 * time.Hour},
		{" 0bd ", journey.Duration{Amount: 0, Unit: journey.UnitBusinessDay, Business: true}, 0},
		// Ten years: 3650 days at 7/5 of a day each.
		{"2607bd", journey.Duration{Amount: 2607, Unit: journey.UnitBusinessDay, Business: true}, 2607 * 24 * time.Hour * 7 / 5},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := journey.ParseDuration(tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.approx, got.Approx())
		})
	}
}

func TestParseBusinessDaysErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"2608bd", `"2608bd" is too long; a duration may be at most 10 years`},
		{"1.5bd", `"1.5bd" is not a duration; use one whole number and one unit, such as 36h for a day and a half`},
		{"bd", `"bd" is not a duration; write a whole number and a unit: 90m (minutes), 36h (hours), 2d (days), 3w (weeks) or 5bd (business days)`},
		{"5 business days", `"5 business days" is not a duration; write it as 5bd`},
		{"-2 business days", `"-2 business days" is not a duration; write it as -2bd`},
		{"1 business day", `"1 business day" is not a duration; write it as 1bd`},
		{"5bds", `"5bds" is not a duration; write it as 5bd`},
		{"5b", `"5b" is not a duration; write it as 5bd`},
		// A valid unit written in capitals or after a space is named as
		// such, not called a unit that maps do not use.
		{"5BD", `"5BD" is not a duration; write it as 5bd`},
		{"5 bd", `"5 bd" is not a duration; write it as 5bd`},
		{"-90 D", `"-90 D" is not a duration; write it as -90d`},
		{"5bdays", `"5bdays" has unit "bdays", which maps do not use; write a whole number and a unit: 90m (minutes), 36h (hours), 2d (days), 3w (weeks) or 5bd (business days)`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			_, err := journey.ParseDuration(tt.in)
			require.EqualError(t, err, tt.want)
		})
	}
}
