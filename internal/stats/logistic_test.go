package stats

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFitLogistic(t *testing.T) {
	t.Parallel()
	t.Run("intercept only is the log-odds of the rate", func(t *testing.T) {
		t.Parallel()
		x := [][]float64{{}, {}, {}, {}}
		fit, err := FitLogistic(x, []bool{true, true, true, false}, 0)
		require.NoError(t, err)
		require.InDelta(t, math.Log(3), fit.Intercept, 1e-5)
		require.InDelta(t, 0.75, fit.Predict(nil), 1e-6)
	})
	t.Run("one binary feature gives the log odds ratio", func(t *testing.T) {
		t.Parallel()
		// Without the feature 1 of 4 churn (odds 1/3); with it 3 of 4
		// (odds 3): intercept log(1/3), coefficient log 9.
		x := [][]float64{{0}, {0}, {0}, {0}, {1}, {1}, {1}, {1}}
		y := []bool{true, false, false, false, true, true, true, false}
		fit, err := FitLogistic(x, y, 0)
		require.NoError(t, err)
		require.InDelta(t, -math.Log(3), fit.Intercept, 1e-4)
		require.InDelta(t, math.Log(9), fit.Coef[0], 1e-4)
	})
	t.Run("the penalty keeps a separating feature finite and shrinks it", func(t *testing.T) {
		t.Parallel()
		x := [][]float64{{-1}, {-1}, {1}, {1}}
		y := []bool{false, false, true, true}
		weak, err := FitLogistic(x, y, 1)
		require.NoError(t, err)
		strong, err := FitLogistic(x, y, 0.01)
		require.NoError(t, err)
		require.Greater(t, weak.Coef[0], 0.0)
		require.Less(t, weak.Coef[0], strong.Coef[0])
		require.False(t, math.IsInf(strong.Coef[0], 0))
	})
	t.Run("bad input is refused", func(t *testing.T) {
		t.Parallel()
		_, err := FitLogistic(nil, nil, 0)
		require.Error(t, err)
		_, err = FitLogistic([][]float64{{1}, {1, 2}}, []bool{true, false}, 0)
		require.Error(t, err)
	})
}
