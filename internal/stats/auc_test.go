package stats

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestComputeAUC(t *testing.T) {
	t.Parallel()
	t.Run("three of four pairs ranked right", func(t *testing.T) {
		t.Parallel()
		// Positives 0.35 and 0.8 against negatives 0.1 and 0.4: 0.35 beats
		// 0.1 only, 0.8 beats both, so 3 of 4 pairs.
		a, err := ComputeAUC([]float64{0.1, 0.4, 0.35, 0.8}, []bool{false, false, true, true})
		require.NoError(t, err)
		require.InDelta(t, 0.75, a.Value, 1e-12)
		// Hanley–McNeil by hand: Q1 = 0.6, Q2 = 0.642857,
		// SE² = (0.1875 + 0.0375 + 0.080357) / 4, SE = 0.276295.
		require.InDelta(t, 0.75-1.959964*0.276295, a.Low, 1e-5)
		require.Equal(t, 1.0, a.High)
		require.Equal(t, 2, a.Positives)
		require.Equal(t, 2, a.Negatives)
	})
	t.Run("ties count half", func(t *testing.T) {
		t.Parallel()
		a, err := ComputeAUC([]float64{1, 1, 0}, []bool{true, false, false})
		require.NoError(t, err)
		require.InDelta(t, 0.75, a.Value, 1e-12)
	})
	t.Run("one class has no AUC", func(t *testing.T) {
		t.Parallel()
		_, err := ComputeAUC([]float64{1, 2}, []bool{true, true})
		require.ErrorIs(t, err, ErrOneClass)
	})
}

func TestMidRanks(t *testing.T) {
	t.Parallel()
	require.Equal(t, []float64{3, 1.5, 1.5, 4}, MidRanks([]float64{5, 2, 2, 9}))
}

func TestROC(t *testing.T) {
	t.Parallel()
	pts := ROC([]float64{0.1, 0.4, 0.35, 0.8}, []bool{false, false, true, true})
	require.Len(t, pts, 5)
	require.Equal(t, ROCPoint{Threshold: 0.8, FPR: 0, TPR: 0.5}, pts[1])
	require.Equal(t, ROCPoint{Threshold: 0.4, FPR: 0.5, TPR: 0.5}, pts[2])
	require.Equal(t, ROCPoint{Threshold: 0.35, FPR: 0.5, TPR: 1}, pts[3])
	require.Equal(t, ROCPoint{Threshold: 0.1, FPR: 1, TPR: 1}, pts[4])
	require.Nil(t, ROC([]float64{1}, []bool{true}))
}
