package trigger

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestFailingConditionIsLoggedOncePerMinute: a condition that fails on
// every event is logged once a minute per moment, with the count of the
// failures in between, and its text cut short.
func TestFailingConditionIsLoggedOncePerMinute(t *testing.T) {
	t.Parallel()
	var f evalFailures
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	logged := 0
	for i := range 1000 {
		if ok, _ := f.note("kickoff", t0.Add(time.Duration(i)*10*time.Millisecond)); ok {
			logged++
		}
	}
	require.Equal(t, 1, logged, "1000 failures within 10 seconds: one line")
	ok, unlogged := f.note("kickoff", t0.Add(time.Minute+time.Second))
	require.True(t, ok)
	require.Equal(t, 999, unlogged)
	ok, _ = f.note("rescue", t0.Add(time.Second))
	require.True(t, ok, "each moment has its own line")
	require.Len(t, []rune(shortCondition(strings.Repeat("a", 5000))), maxLoggedCondition+1)
}
