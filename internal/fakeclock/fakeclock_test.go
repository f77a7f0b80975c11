package fakeclock

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestClockMovesOnlyWhenTold(t *testing.T) {
	t.Parallel()
	start := time.Date(2027, 3, 1, 9, 0, 0, 0, time.FixedZone("CET", 3600))
	c := New(start)
	require.Equal(t, time.UTC, c.Now().Location())
	require.True(t, c.Now().Equal(start))
	c.Advance(90 * time.Minute)
	require.Equal(t, time.Date(2027, 3, 1, 9, 30, 0, 0, time.UTC), c.Now())
	c.Set(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	require.Equal(t, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), c.Now())
}
