package health

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/journey"
)

func TestUsageDrop(t *testing.T) {
	t.Parallel()
	// events spreads n events over the days [from, to) days ago.
	events := func(n int, from, to int) []Event {
		var out []Event
		for i := range n {
			out = append(out, track("Logged In", "u1", daysAgo(float64(from+i%(to-from)))))
		}
		return out
	}
	tests := []struct {
		name           string
		last, previous int
		model          journey.HealthModel
		wantDropped    bool
	}{
		{"halved and then some", 9, 20, journey.HealthModel{}, true},
		{"exactly half is not a drop", 10, 20, journey.HealthModel{}, false},
		{"steady", 20, 20, journey.HealthModel{}, false},
		{"growing", 40, 20, journey.HealthModel{}, false},
		{"too small to judge", 0, MinPreviousActivity - 1, journey.HealthModel{}, false},
		{"smallest judged", 0, MinPreviousActivity, journey.HealthModel{}, true},
		{"own ratio", 14, 20, journey.HealthModel{UsageDrop: journey.UsageDropModel{Ratio: 0.75}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			evs := append(events(tt.last, 0, 14), events(tt.previous, 14, 28)...)
			// Older activity does not count in either window.
			evs = append(evs, events(50, 28, 40)...)
			a := build(tt.model, evs...)
			dropped, last, previous := UsageDrop(a, tt.model, now)
			require.Equal(t, tt.wantDropped, dropped)
			require.Equal(t, tt.last, last)
			require.Equal(t, tt.previous, previous)
		})
	}

	dropped, last, previous := UsageDrop(nil, journey.HealthModel{}, now)
	require.False(t, dropped)
	require.Zero(t, last+previous)
}
