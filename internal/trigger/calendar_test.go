package trigger

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/journey"
)

func utc(y int, m time.Month, d, h, mi int) time.Time {
	return time.Date(y, m, d, h, mi, 0, 0, time.UTC)
}

// TestScheduleCronErrors checks that a scheduled trigger refuses a cron
// expression with the parser's own error, the one lint reports.
func TestScheduleCronErrors(t *testing.T) {
	t.Parallel()
	for _, expr := range []string{"0 9 * *", "fortnightly", "60 9 * * *", "0 9 * * jan", "0 9 * nov-feb *", "*/0 9 * * *"} {
		t.Run(expr, func(t *testing.T) {
			t.Parallel()
			_, want := journey.ParseCron(expr)
			require.Error(t, want)
			_, err := parseSchedule(journey.Schedule{Every: expr})
			require.EqualError(t, err, want.Error())
		})
	}
	_, err := parseSchedule(journey.Schedule{})
	require.EqualError(t, err, "a schedule needs relative_to or every")
}

// TestCronLatest checks the latest occurrence in (after, through] against
// dates worked out by hand (2026-01-01 is a Thursday; 2028 is a leap year).
func TestCronLatest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, expr     string
		after, through time.Time
		want           time.Time // zero: no occurrence in the window
	}{
		{"weekly Monday 9:00", "0 9 * * 1",
			utc(2025, 12, 31, 0, 0), utc(2026, 1, 7, 12, 0), utc(2026, 1, 5, 9, 0)},
		{"through is inclusive", "0 9 * * 1",
			utc(2026, 1, 5, 8, 59), utc(2026, 1, 5, 9, 0), utc(2026, 1, 5, 9, 0)},
		{"after is exclusive", "0 9 * * 1",
			utc(2026, 1, 5, 9, 0), utc(2026, 1, 11, 23, 59), time.Time{}},
		{"earlier on the day it is due", "0 9 * * 1",
			utc(2026, 1, 5, 0, 0), utc(2026, 1, 5, 8, 59), time.Time{}},
		{"across the year end", "0 9 * * 1",
			utc(2025, 12, 26, 0, 0), utc(2026, 1, 2, 0, 0), utc(2025, 12, 29, 9, 0)},
		{"only the latest of several", "0 9 * * 1",
			utc(2025, 11, 1, 0, 0), utc(2026, 1, 10, 0, 0), utc(2026, 1, 5, 9, 0)},
		{"first of the month across the year end", "0 0 1 * *",
			utc(2025, 12, 15, 0, 0), utc(2026, 1, 10, 0, 0), utc(2026, 1, 1, 0, 0)},
		{"31st skips April", "0 9 31 * *",
			utc(2026, 1, 1, 0, 0), utc(2026, 5, 15, 0, 0), utc(2026, 3, 31, 9, 0)},
		{"31st skips February", "0 9 31 * *",
			utc(2026, 1, 15, 0, 0), utc(2026, 3, 1, 0, 0), utc(2026, 1, 31, 9, 0)},
		{"no 31st in April", "0 9 31 * *",
			utc(2026, 4, 1, 0, 0), utc(2026, 4, 30, 23, 59), time.Time{}},
		{"leap day", "0 0 29 2 *",
			utc(2027, 1, 1, 0, 0), utc(2029, 1, 1, 0, 0), utc(2028, 2, 29, 0, 0)},
		{"no leap day in 2025 to 2027", "0 0 29 2 *",
			utc(2025, 1, 1, 0, 0), utc(2027, 12, 31, 23, 59), time.Time{}},
		{"day of month or day of week: the 13th", "0 0 13 * 5",
			utc(2026, 1, 12, 0, 0), utc(2026, 1, 13, 12, 0), utc(2026, 1, 13, 0, 0)},
		{"day of month or day of week: a Friday", "0 0 13 * 5",
			utc(2026, 1, 5, 0, 0), utc(2026, 1, 12, 12, 0), utc(2026, 1, 9, 0, 0)},
		{"stepped day of month is restricted, so either matches", "0 0 */10 * 1",
			utc(2026, 1, 10, 0, 0), utc(2026, 1, 12, 12, 0), utc(2026, 1, 12, 0, 0)},
		{"stepped day of month matches on the 11th, a Sunday", "0 0 */10 * 1",
			utc(2026, 1, 6, 0, 0), utc(2026, 1, 11, 12, 0), utc(2026, 1, 11, 0, 0)},
		{"day of week only", "0 0 * * 5",
			utc(2026, 1, 10, 0, 0), utc(2026, 1, 13, 12, 0), time.Time{}},
		{"every quarter hour", "*/15 * * * *",
			utc(2026, 1, 1, 9, 0), utc(2026, 1, 1, 10, 7), utc(2026, 1, 1, 10, 0)},
		{"every quarter hour, on the mark", "*/15 * * * *",
			utc(2026, 1, 1, 9, 0), utc(2026, 1, 1, 10, 15), utc(2026, 1, 1, 10, 15)},
		{"hour list", "0 6,18 * * *",
			utc(2025, 12, 31, 0, 0), utc(2026, 1, 1, 5, 0), utc(2025, 12, 31, 18, 0)},
		{"stepped hour range on weekdays, seen on Saturday", "30 8-17/3 * * mon-fri",
			utc(2026, 1, 8, 0, 0), utc(2026, 1, 10, 12, 0), utc(2026, 1, 9, 17, 30)},
		{"Sunday written 7", "0 0 * * 7",
			utc(2025, 12, 30, 0, 0), utc(2026, 1, 6, 0, 0), utc(2026, 1, 4, 0, 0)},
		{"Sunday written 0", "0 0 * * 0",
			utc(2025, 12, 30, 0, 0), utc(2026, 1, 6, 0, 0), utc(2026, 1, 4, 0, 0)},
		{"month list", "0 0 1 jan,jul *",
			utc(2025, 6, 1, 0, 0), utc(2026, 6, 30, 0, 0), utc(2026, 1, 1, 0, 0)},
		{"last minute of the year", "59 23 31 12 *",
			utc(2025, 12, 31, 0, 0), utc(2026, 1, 1, 0, 0), utc(2025, 12, 31, 23, 59)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := parseSchedule(journey.Schedule{Every: tt.expr})
			require.NoError(t, err)
			got, ok := s.latest(tt.after, tt.through)
			if tt.want.IsZero() {
				require.False(t, ok, "got %s", got)
				return
			}
			require.True(t, ok)
			require.Equal(t, tt.want, got)
		})
	}
}

// TestCronLatestInUTC checks that a cron expression is read in UTC whatever
// the zone of the clock: 01:00 on Monday at +02:00 is still Sunday in UTC.
func TestCronLatestInUTC(t *testing.T) {
	t.Parallel()
	s, err := parseSchedule(journey.Schedule{Every: "0 9 * * 1"})
	require.NoError(t, err)
	zone := time.FixedZone("UTC+2", 2*60*60)
	got, ok := s.latest(utc(2025, 12, 20, 0, 0), time.Date(2026, 1, 5, 1, 0, 0, 0, zone))
	require.True(t, ok)
	require.Equal(t, utc(2025, 12, 29, 9, 0), got)
	got, ok = s.latest(utc(2025, 12, 20, 0, 0), time.Date(2026, 1, 5, 11, 0, 0, 0, zone))
	require.True(t, ok)
	require.Equal(t, utc(2026, 1, 5, 9, 0), got)
}

// TestCalendarRuleLatest checks the named rules: each falls due at 00:00 UTC
// on the first day of its period (weeks start on Monday).
func TestCalendarRuleLatest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		every          string
		after, through time.Time
		want           time.Time // zero: no occurrence in the window
	}{
		{"daily", utc(2025, 12, 31, 18, 0), utc(2026, 1, 1, 6, 0), utc(2026, 1, 1, 0, 0)},
		{"daily", utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 23, 59), time.Time{}},
		{"daily", utc(2025, 12, 31, 23, 59), utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 0, 0)},
		{"weekly", utc(2025, 12, 28, 0, 0), utc(2026, 1, 2, 6, 0), utc(2025, 12, 29, 0, 0)},
		{"weekly", utc(2025, 12, 29, 0, 0), utc(2026, 1, 4, 23, 59), time.Time{}},
		{"weekly", utc(2025, 12, 29, 0, 0), utc(2026, 1, 5, 0, 0), utc(2026, 1, 5, 0, 0)},
		{"monthly", utc(2025, 12, 20, 0, 0), utc(2026, 1, 15, 0, 0), utc(2026, 1, 1, 0, 0)},
		{"monthly", utc(2025, 9, 15, 0, 0), utc(2026, 1, 15, 0, 0), utc(2026, 1, 1, 0, 0)},
		{"monthly", utc(2026, 1, 1, 0, 0), utc(2026, 1, 31, 23, 59), time.Time{}},
		{"monthly", utc(2028, 2, 28, 0, 0), utc(2028, 2, 29, 12, 0), time.Time{}},
		{"monthly", utc(2028, 2, 29, 12, 0), utc(2028, 3, 1, 0, 0), utc(2028, 3, 1, 0, 0)},
		{"quarterly", utc(2025, 12, 1, 0, 0), utc(2026, 2, 10, 0, 0), utc(2026, 1, 1, 0, 0)},
		{"quarterly", utc(2025, 9, 30, 0, 0), utc(2025, 12, 31, 23, 59), utc(2025, 10, 1, 0, 0)},
		{"quarterly", utc(2025, 10, 1, 0, 0), utc(2025, 12, 31, 23, 59), time.Time{}},
		{"yearly", utc(2025, 12, 31, 0, 0), utc(2026, 3, 1, 0, 0), utc(2026, 1, 1, 0, 0)},
		{"yearly", utc(2026, 1, 1, 0, 0), utc(2026, 12, 31, 23, 59), time.Time{}},
		{"yearly", utc(2020, 6, 1, 0, 0), utc(2026, 12, 31, 23, 59), utc(2026, 1, 1, 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.every+" through "+tt.through.Format(time.RFC3339), func(t *testing.T) {
			t.Parallel()
			s, err := parseSchedule(journey.Schedule{Every: tt.every})
			require.NoError(t, err)
			require.Nil(t, s.cron)
			got, ok := s.latest(tt.after, tt.through)
			if tt.want.IsZero() {
				require.False(t, ok, "got %s", got)
				return
			}
			require.True(t, ok)
			require.Equal(t, tt.want, got)
		})
	}
}

// TestQuarterStarts checks every month maps to the first day of its quarter.
func TestQuarterStarts(t *testing.T) {
	t.Parallel()
	s, err := parseSchedule(journey.Schedule{Every: "quarterly"})
	require.NoError(t, err)
	starts := map[time.Month]time.Month{
		1: 1, 2: 1, 3: 1, 4: 4, 5: 4, 6: 4, 7: 7, 8: 7, 9: 7, 10: 10, 11: 10, 12: 10,
	}
	for m, start := range starts {
		got, ok := s.latest(utc(2025, 1, 1, 0, 0), utc(2026, m, 28, 12, 0))
		require.True(t, ok, "month %d", m)
		require.Equal(t, utc(2026, start, 1, 0, 0), got, "month %d", m)
	}
}

func TestScheduleKeysAndOccurrences(t *testing.T) {
	t.Parallel()
	tests := []struct {
		sched journey.Schedule
		due   time.Time
		key   string
		occ   string
	}{
		{journey.Schedule{Every: "monthly"}, utc(2026, 1, 1, 0, 0), "monthly", "monthly:2026-01-01"},
		{journey.Schedule{Every: " 0  9 * *   1 "}, utc(2026, 1, 5, 9, 0), "cron(0 9 * * 1)", "cron(0 9 * * 1):2026-01-05T09:00"},
		{journey.Schedule{Every: "0 0 1 * *"}, utc(2026, 1, 1, 0, 0), "cron(0 0 1 * *)", "cron(0 0 1 * *):2026-01-01"},
		{journey.Schedule{RelativeTo: "renewal_date", Offset: "-90d"}, utc(2026, 1, 1, 0, 0), "renewal_date-90d", "renewal_date-90d:2026-01-01"},
		{journey.Schedule{RelativeTo: "renewal_date", Offset: "5bd"}, utc(2026, 1, 1, 0, 0), "renewal_date+5bd", "renewal_date+5bd:2026-01-01"},
		{journey.Schedule{RelativeTo: "renewal_date"}, utc(2026, 1, 1, 0, 0), "renewal_date", "renewal_date:2026-01-01"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			t.Parallel()
			s, err := parseSchedule(tt.sched)
			require.NoError(t, err)
			require.Equal(t, tt.key, s.key)
			require.Equal(t, tt.occ, s.occurrence(tt.due))
		})
	}
}

// TestBusinessDayDueDates checks business-day offsets from a date trait:
// dates are UTC days, and weekends are stepped over.
func TestBusinessDayDueDates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		offset, date string
		want         time.Time
	}{
		{"1bd", "2026-01-02", utc(2026, 1, 5, 0, 0)},    // Friday → Monday
		{"-1bd", "2026-01-05", utc(2026, 1, 2, 0, 0)},   // Monday → Friday
		{"-3bd", "2026-01-04", utc(2025, 12, 31, 0, 0)}, // Sunday → Wednesday, the year before
		{"2bd", "2026-02-28", utc(2026, 3, 3, 0, 0)},    // Saturday → Tuesday, the month after
	}
	for _, tt := range tests {
		s, err := parseSchedule(journey.Schedule{RelativeTo: "renewal_date", Offset: tt.offset})
		require.NoError(t, err)
		got, ok := s.dueAt(tt.date)
		require.True(t, ok)
		require.Equal(t, tt.want, got, "%s from %s", tt.offset, tt.date)
	}
}

// TestDateWindowCoversBusinessDays checks that dateWindow, which the tick
// uses to find the dates that may fall due, includes every date whose due
// time lies in the window, for business-day offsets whose calendar length
// depends on the weekday.
func TestDateWindowCoversBusinessDays(t *testing.T) {
	t.Parallel()
	start := utc(2025, 12, 1, 0, 0)
	for _, n := range []int{-30, -11, -6, -5, -4, -1, 1, 2, 4, 5, 6, 11, 30} {
		d := journey.Duration{Amount: n, Unit: journey.UnitBusinessDay, Business: true}
		s, err := parseSchedule(journey.Schedule{RelativeTo: "renewal_date", Offset: d.String()})
		require.NoError(t, err)
		for i := 0; i < 70; i++ {
			date := start.AddDate(0, 0, i).Format(time.DateOnly)
			due, ok := s.dueAt(date)
			require.True(t, ok)
			// The narrowest windows holding due; wider ones only widen the dates.
			for _, w := range [][2]time.Time{
				{due.Add(-time.Nanosecond), due},
				{due.Add(-12 * time.Hour), due.Add(12 * time.Hour)},
			} {
				lo, hi := s.dateWindow(w[0], w[1])
				require.True(t, lo < date && date <= hi,
					"%s from %s is due %s; window (%s, %s] searches dates (%s, %s]", d, date, due, w[0], w[1], lo, hi)
			}
		}
	}
}
