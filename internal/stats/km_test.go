package stats

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestKaplanMeierByHand checks the curve against a computation done by
// hand. Seven accounts, watched for (days; * = reached value):
//
//	2*, 3, 4*, 4*, 5, 7*, 9
//
//	t  at risk  events  censored  S(t)                       Greenwood sum g
//	2  7        1       0         1 − 1/7 = 6/7 = 0.857143   1/(7·6) = 1/42
//	3  6        0       1         6/7                        1/42
//	4  5        2       0         6/7 · 3/5 = 18/35 = 0.514286 1/42 + 2/(5·3) = 33/210
//	5  3        0       1         18/35                      33/210
//	7  2        1       0         18/35 · 1/2 = 9/35 = 0.257143 33/210 + 1/(2·1) = 138/210
//	9  1        0       1         9/35                       138/210
//
// The interval is S^exp(±1.96·√g/|ln S|): at t = 2, √(1/42)/|ln 6/7| =
// 0.154303/0.154151 = 1.000990, so Low = (6/7)^exp(1.961905) = (6/7)^7.1122
// = 0.33405 and High = (6/7)^exp(−1.961905) = (6/7)^0.14060 = 0.97856. The
// median is 7, the first time S falls to 1/2 or below (S(4) = 0.514 is
// still above).
func TestKaplanMeierByHand(t *testing.T) {
	t.Parallel()
	s := KaplanMeier([]float64{4, 2, 9, 3, 4, 7, 5}, []bool{true, true, false, false, true, true, false})
	require.Equal(t, 7, s.N)
	require.Equal(t, 4, s.Events)
	want := []struct {
		t                        float64
		atRisk, events, censored int
		s                        float64
	}{
		{2, 7, 1, 0, 6.0 / 7}, {3, 6, 0, 1, 6.0 / 7}, {4, 5, 2, 0, 18.0 / 35},
		{5, 3, 0, 1, 18.0 / 35}, {7, 2, 1, 0, 9.0 / 35}, {9, 1, 0, 1, 9.0 / 35},
	}
	require.Len(t, s.Points, len(want))
	for i, w := range want {
		p := s.Points[i]
		require.Equal(t, w.t, p.T, "point %d", i)
		require.Equal(t, w.atRisk, p.AtRisk, "at risk at %v", w.t)
		require.Equal(t, w.events, p.Events, "events at %v", w.t)
		require.Equal(t, w.censored, p.Censored, "censored at %v", w.t)
		require.InDelta(t, w.s, p.Survival, 1e-12, "S(%v)", w.t)
	}
	require.InDelta(t, 0.33405, s.Points[0].Low, 5e-5)
	require.InDelta(t, 0.97856, s.Points[0].High, 5e-5)
	require.InDelta(t, 0.11776, s.Points[2].Low, 5e-5)
	require.InDelta(t, 0.81325, s.Points[2].High, 5e-5)
	require.InDelta(t, 0.01258, s.Points[4].Low, 5e-5)
	require.InDelta(t, 0.65602, s.Points[4].High, 5e-5)
	require.Equal(t, 1.0, s.At(1.5))
	require.InDelta(t, 18.0/35, s.At(6), 1e-12)
	require.Equal(t, 7.0, s.Median())
}

func TestKaplanMeierEdges(t *testing.T) {
	t.Parallel()
	// Nobody reached value: the curve stays at 1, with no interval, and
	// there is no median.
	s := KaplanMeier([]float64{3, 5}, []bool{false, false})
	require.Equal(t, 0, s.Events)
	require.Equal(t, 1.0, s.At(10))
	require.True(t, math.IsNaN(s.Points[0].Low))
	require.True(t, math.IsNaN(s.Median()))
	// Everybody reached value: the curve reaches 0, where the interval is
	// undefined; negative and NaN times are ignored.
	s = KaplanMeier([]float64{1, 2, -1, math.NaN()}, []bool{true, true, true, true})
	require.Equal(t, 2, s.N)
	require.Equal(t, 0.5, s.Points[0].Survival)
	require.Equal(t, 0.0, s.Points[1].Survival)
	require.True(t, math.IsNaN(s.Points[1].High))
	require.Equal(t, 1.0, s.Median())
	// No subjects at all.
	require.Empty(t, KaplanMeier(nil, nil).Points)
}
