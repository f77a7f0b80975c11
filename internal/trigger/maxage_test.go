package trigger_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/app"
	"github.com/moments-cs/moments/internal/fakeclock"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// TestMaxEventAge: with a limit, replayed history starts no moment, while
// recent events (late ones included) still do.
func TestMaxEventAge(t *testing.T) {
	t.Parallel()
	c := fakeclock.New(day0)
	e := setupWith(t, storetest.Open(t, store.SQLite), testMap, c, true, app.Options{TriggerMaxEventAge: 7 * 24 * time.Hour})
	old := track("u-1", "acme", "Ticket Escalated", nil)
	old["timestamp"] = day0.Add(-30 * 24 * time.Hour).Format(time.RFC3339)
	late := track("u-1", "acme", "Ticket Escalated", nil)
	late["timestamp"] = day0.Add(-2 * 24 * time.Hour).Format(time.RFC3339)
	e.batch(t, old)
	require.Empty(t, e.runs(t, "acme", "escalation"), "a month-old escalation is history")
	e.batch(t, late)
	require.Len(t, e.runs(t, "acme", "escalation"), 1, "a two-day-old one is late, not history")
}
