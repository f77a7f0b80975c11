package journey_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/journey"
)

func TestParseDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		want   journey.Duration
		approx time.Duration
	}{
		{"90m", journey.Duration{Amount: 90, Unit: journey.UnitMinute}, 90 * time.Minute},
		{"36h", journey.Duration{Amount: 36, Unit: journey.UnitHour}, 36 * time.Hour},
		{"2d", journey.Duration{Amount: 2, Unit: journey.UnitDay}, 48 * time.Hour},
		{"3w", journey.Duration{Amount: 3, Unit: journey.UnitWeek}, 21 * 24 * time.Hour},
		{"5bd", journey.Duration{Amount: 5, Unit: journey.UnitBusinessDay, Business: true}, 7 * 24 * time.Hour},
		{"-90d", journey.Duration{Amount: -90, Unit: journey.UnitDay}, -90 * 24 * time.Hour},
		{"+1d", journey.Duration{Amount: 1, Unit: journey.UnitDay}, 24 * time.Hour},
		{" 0m ", journey.Duration{Amount: 0, Unit: journey.UnitMinute}, 0},
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

func TestParseDurationErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", "the duration is empty; write a whole number and a unit: 90m (minutes), 36h (hours), 2d (days), 3w (weeks) or 5bd (business days)"},
		{"d", `"d" is not a duration; write a whole number and a unit: 90m (minutes), 36h (hours), 2d (days), 3w (weeks) or 5bd (business days)`},
		{"48", `"48" has no unit; write a whole number and a unit: 90m (minutes), 36h (hours), 2d (days), 3w (weeks) or 5bd (business days)`},
		{"30s", `"30s" has unit "s", which maps do not use; write a whole number and a unit: 90m (minutes), 36h (hours), 2d (days), 3w (weeks) or 5bd (business days)`},
		{"2 days", `"2 days" is not a duration; write it as 2d`},
		{"3 business days", `"3 business days" is not a duration; write it as 3bd`},
		{"1.5d", `"1.5d" is not a duration; use one whole number and one unit, such as 36h for a day and a half`},
		{"1d12h", `"1d12h" is not a duration; use one whole number and one unit, such as 36h for a day and a half`},
		{"3651d", `"3651d" is too long; a duration may be at most 10 years`},
		{"99999999999999999999m", `"99999999999999999999m" is too long; a duration may be at most 10 years`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			_, err := journey.ParseDuration(tt.in)
			require.EqualError(t, err, tt.want)
		})
	}
}

func TestDurationAddTo(t *testing.T) {
	t.Parallel()
	friday := time.Date(2025, 3, 7, 9, 30, 0, 0, time.UTC)
	saturday := friday.AddDate(0, 0, 1)
	monday := friday.AddDate(0, 0, 3)
	tests := []struct {
		d    string
		from time.Time
		want time.Time
	}{
		{"1bd", friday, monday},
		{"1bd", saturday, monday},
		{"5bd", monday, monday.AddDate(0, 0, 7)},
		{"-1bd", monday, friday},
		{"0bd", saturday, saturday},
		{"2d", friday, friday.AddDate(0, 0, 2)},
		{"1w", friday, friday.AddDate(0, 0, 7)},
		{"-90d", friday, friday.AddDate(0, 0, -90)},
		{"90m", friday, friday.Add(90 * time.Minute)},
		{"36h", friday, friday.Add(36 * time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.d+" from "+tt.from.Weekday().String(), func(t *testing.T) {
			t.Parallel()
			d, err := journey.ParseDuration(tt.d)
			require.NoError(t, err)
			require.Equal(t, tt.want, d.AddTo(tt.from))
			require.Equal(t, tt.d, d.String())
		})
	}
}

func TestDurationAddToKeepsClockTimeAcrossDST(t *testing.T) {
	t.Parallel()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no time zone database")
	}
	// Summer time starts on 30 March 2025 in Paris.
	before := time.Date(2025, 3, 29, 9, 0, 0, 0, paris)
	d, err := journey.ParseDuration("1d")
	require.NoError(t, err)
	require.Equal(t, 9, d.AddTo(before).Hour())
}
