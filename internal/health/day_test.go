package health_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/health"
)

func TestDayKeepsScoresComponentsAndWarnings(t *testing.T) {
	t.Parallel()
	r := health.Result{
		Behavioural: health.Known(31.25), Combined: health.Known(31.25), Quadrant: health.QuadrantAtRisk,
		Components: []health.Component{
			{Name: health.ComponentRecency, Group: health.GroupBehavioural, Value: health.Known(12.5)},
			{Name: health.ComponentTrend, Group: health.GroupBehavioural, Value: health.Known(41.5)},
			{Name: health.ComponentRelationship, Group: health.GroupBehavioural, Value: health.Known(20),
				Events: []health.Moved{{Event: "sponsor change", At: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}}},
			{Name: health.ComponentNPS, Group: health.GroupEmotional},
		},
	}
	d := health.DayOf(r, 20500)
	require.Equal(t, []string{health.WarningLowHealth, health.WarningDecliningUsage, health.WarningSponsorLeft}, d.WarningCodes())
	b := d.EncodeComponents()
	require.Len(t, b, 3+3*4, "a format byte, the mask and three known values")

	var back health.Day
	back.Day, back.Combined, back.Behavioural, back.Quadrant, back.Warnings = d.Day, d.Combined, d.Behavioural, d.Quadrant, d.Warnings
	require.NoError(t, back.DecodeComponents(b))
	res := back.Result()
	require.Equal(t, time.Unix(20500*86400, 0).UTC(), res.At)
	c, ok := res.Component(health.ComponentTrend)
	require.True(t, ok)
	require.Equal(t, health.Known(41.5), c.Value)
	c, ok = res.Component(health.ComponentNPS)
	require.True(t, ok)
	require.False(t, c.Value.Known)
	require.Equal(t, health.GroupEmotional, c.Group)
	var codes []string
	for _, w := range health.Warnings(res) {
		codes = append(codes, w.Code)
	}
	require.Equal(t, d.WarningCodes(), codes, "the kept day raises the warnings the result raised")

	require.ErrorIs(t, back.DecodeComponents([]byte{9, 0, 0}), health.ErrDayFormat)
	require.ErrorIs(t, back.DecodeComponents([]byte{1, 1, 0}), health.ErrDayFormat)
}
