package health

import (
	"time"

	"github.com/moments-cs/moments/internal/store"
)

// Vars returns an account's stored health as the `health` variable of CEL
// conditions (trigger conditions and the health view's explanations):
// behavioural, emotional and combined (0–100, left out when unknown),
// quadrant ("unknown" before the first score), previous_quadrant,
// usage_drop, path, path_progress (0–1, left out without a path),
// next_milestone and days_behind at now.
func Vars(h store.AccountHealth, now time.Time) map[string]any {
	m := map[string]any{
		"quadrant":          h.Quadrant,
		"previous_quadrant": h.PreviousQuadrant,
		"usage_drop":        h.UsageDrop,
		"path":              h.PathID,
		"next_milestone":    h.NextMilestone,
		"days_behind":       int64(h.DaysBehind(now)),
	}
	if h.Quadrant == "" {
		m["quadrant"] = string(QuadrantUnknown)
	}
	put := func(k string, v *float64) {
		if v != nil {
			m[k] = *v
		}
	}
	put("behavioural", h.Behavioural)
	put("emotional", h.Emotional)
	put("combined", h.Combined)
	put("path_progress", h.PathProgress)
	return m
}
