package health

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/journey"
)

func TestDefaults(t *testing.T) {
	t.Parallel()

	t.Run("empty model gets every default", func(t *testing.T) {
		t.Parallel()
		m := Defaults(journey.HealthModel{})
		require.Equal(t, journey.BehaviouralWeights{Recency: 10, Frequency: 5, Breadth: 10, Depth: 15, Progress: 10, Intensity: 25, Trend: 15, Relationship: 10, SupportLoad: 10}, m.Behavioural.Weights)
		require.Equal(t, 30, m.Behavioural.WindowDays)
		require.Equal(t, 2, m.Behavioural.RecencyFullDays)
		require.Equal(t, 30, m.Behavioural.RecencyZeroDays)
		require.Equal(t, "seats", m.Behavioural.SeatsTrait)
		require.Equal(t, journey.EmotionalWeights{NPS: 50, CSAT: 25, CES: 10, Support: 15}, m.Emotional.Weights)
		require.Equal(t, 90, m.Emotional.HalfLifeDays)
		require.Equal(t, map[string]float64{"sponsor": 3, "champion": 2, "admin": 1, "user": 1}, m.Emotional.RoleWeights)
		require.Equal(t, 60.0, m.Quadrant.Behavioural)
		require.Equal(t, 60.0, m.Quadrant.Emotional)
		require.Equal(t, 14, m.UsageDrop.WindowDays)
		require.Equal(t, 0.5, m.UsageDrop.Ratio)
		require.Equal(t, 0.5, m.Combined)
	})

	t.Run("idempotent", func(t *testing.T) {
		t.Parallel()
		once := Defaults(testModel())
		require.Equal(t, once, Defaults(once))
	})

	t.Run("set values are kept and a zero weight stays off", func(t *testing.T) {
		t.Parallel()
		in := journey.HealthModel{
			Behavioural: journey.BehaviouralModel{
				Weights:    journey.BehaviouralWeights{Recency: 50, Frequency: 50},
				WindowDays: 7,
			},
			Emotional: journey.EmotionalModel{
				Weights:     journey.EmotionalWeights{NPS: 1},
				RoleWeights: map[string]float64{"sponsor": 5, "user": 0, "finance": 2},
			},
			Quadrant: journey.QuadrantModel{Behavioural: 70},
			Combined: 0.8,
		}
		m := Defaults(in)
		require.Equal(t, journey.BehaviouralWeights{Recency: 50, Frequency: 50}, m.Behavioural.Weights)
		require.Equal(t, 7, m.Behavioural.WindowDays)
		require.Equal(t, journey.EmotionalWeights{NPS: 1}, m.Emotional.Weights)
		require.Equal(t, map[string]float64{"sponsor": 5, "champion": 2, "admin": 1, "user": 0, "finance": 2}, m.Emotional.RoleWeights)
		require.Equal(t, 70.0, m.Quadrant.Behavioural)
		require.Equal(t, 60.0, m.Quadrant.Emotional)
		require.Equal(t, 0.8, m.Combined)
		// The caller's map is not extended behind its back.
		require.Len(t, in.Emotional.RoleWeights, 3)
	})
}

// TestDefaultsMatchJourney keeps Defaults and (*journey.Map).WithDefaults
// in step: a model scores the same whichever filled it in.
func TestDefaultsMatchJourney(t *testing.T) {
	t.Parallel()
	for _, m := range []journey.HealthModel{
		{},
		testModel(),
		{
			Behavioural: journey.BehaviouralModel{Weights: journey.BehaviouralWeights{Recency: 1}, WindowDays: 7},
			Emotional:   journey.EmotionalModel{RoleWeights: map[string]float64{"sponsor": 5, "finance": 2}},
			Quadrant:    journey.QuadrantModel{Emotional: 50},
			UsageDrop:   journey.UsageDropModel{Ratio: 0.3},
		},
	} {
		want := (&journey.Map{Health: m}).WithDefaults().Health
		require.Equal(t, want, Defaults(m))
	}
}
