package health

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/journey"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		b, e Value
		q    journey.QuadrantModel
		want Quadrant
	}{
		{"both exactly at threshold are high", Known(60), Known(60), journey.QuadrantModel{}, QuadrantChampion},
		{"behaviour just below", Known(59.999), Known(60), journey.QuadrantModel{}, QuadrantDormantFan},
		{"emotion just below", Known(60), Known(59.999), journey.QuadrantModel{}, QuadrantCaptive},
		{"both below", Known(59.999), Known(59.999), journey.QuadrantModel{}, QuadrantAtRisk},
		{"top", Known(100), Known(100), journey.QuadrantModel{}, QuadrantChampion},
		{"bottom", Known(0), Known(0), journey.QuadrantModel{}, QuadrantAtRisk},
		{"emotion unknown", Known(100), Value{}, journey.QuadrantModel{}, QuadrantUnknown},
		{"behaviour unknown", Value{}, Known(100), journey.QuadrantModel{}, QuadrantUnknown},
		{"own thresholds, at", Known(75), Known(40), journey.QuadrantModel{Behavioural: 75, Emotional: 40}, QuadrantChampion},
		{"own thresholds, below", Known(74.9), Known(39.9), journey.QuadrantModel{Behavioural: 75, Emotional: 40}, QuadrantAtRisk},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, Classify(tt.b, tt.e, tt.q))
		})
	}
}

func TestWorse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		from, to Quadrant
		want     bool
	}{
		{QuadrantChampion, QuadrantCaptive, true},
		{QuadrantChampion, QuadrantDormantFan, true},
		{QuadrantChampion, QuadrantAtRisk, true},
		{QuadrantCaptive, QuadrantAtRisk, true},
		{QuadrantDormantFan, QuadrantAtRisk, true},
		{QuadrantCaptive, QuadrantDormantFan, false},
		{QuadrantDormantFan, QuadrantCaptive, false},
		{QuadrantAtRisk, QuadrantChampion, false},
		{QuadrantCaptive, QuadrantChampion, false},
		{QuadrantChampion, QuadrantChampion, false},
		{QuadrantChampion, QuadrantUnknown, false},
		{QuadrantUnknown, QuadrantAtRisk, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.from)+"→"+string(tt.to), func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, Worse(tt.from, tt.to))
		})
	}
}

func TestPlay(t *testing.T) {
	t.Parallel()
	q := journey.QuadrantModel{Plays: map[string]string{"at_risk": "executive-rescue"}}
	require.Equal(t, "executive-rescue", Play(QuadrantAtRisk, q))
	require.Equal(t, defaultPlays[QuadrantChampion], Play(QuadrantChampion, q))
	require.Equal(t, "dormant fan", QuadrantDormantFan.Label())
}
