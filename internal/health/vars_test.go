package health_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/health"
	"github.com/moments-cs/moments/internal/store"
)

func TestVars(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	combined, progress := 90.0, 0.5
	due := now.Add(-50 * time.Hour)
	vars := health.Vars(store.AccountHealth{Quadrant: "champion", Combined: &combined, PathID: "onboarding",
		PathProgress: &progress, NextDueAt: &due, UsageDrop: true}, now)
	require.Equal(t, "champion", vars["quadrant"])
	require.Equal(t, 90.0, vars["combined"])
	require.Equal(t, 0.5, vars["path_progress"])
	require.Equal(t, int64(2), vars["days_behind"], "due 50 hours ago is two whole days behind")
	require.Equal(t, true, vars["usage_drop"])
	require.NotContains(t, vars, "emotional", "an unknown score is left out")

	require.Equal(t, "unknown", health.Vars(store.AccountHealth{}, now)["quadrant"], "not scored yet")
	require.NotContains(t, health.Vars(store.AccountHealth{}, now), "path_progress", "no path")
}
