package stats

import (
	"math"
	"testing"
)

func near(t *testing.T, name string, got, want float64) {
	t.Helper()
	if math.IsNaN(want) {
		if !math.IsNaN(got) {
			t.Errorf("%s = %v, want NaN", name, got)
		}
		return
	}
	if math.Abs(got-want) > 5e-4 {
		t.Errorf("%s = %.5f, want %.5f", name, got, want)
	}
}

// The expected intervals were computed by hand from Wilson's formula
// (centre = (p + z²/2n)/(1 + z²/n), half = z·√(p(1−p)/n + z²/4n²)/(1 + z²/n),
// z = 1.96) and agree with R's prop.test(correct = FALSE).
func TestWilson(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		hits, n         int
		share, low, hgh float64
	}{
		{0, 0, math.NaN(), math.NaN(), math.NaN()},
		{0, 3, 0, 0, 0.56151},
		{3, 3, 1, 0.43849, 1},
		{5, 10, 0.5, 0.23659, 0.76341},
		{81, 100, 0.81, 0.72229, 0.87487},
	} {
		p := Wilson(c.hits, c.n)
		near(t, "share", p.Share, c.share)
		near(t, "low", p.Low, c.low)
		near(t, "high", p.High, c.hgh)
		if p.N != c.n || p.Hits != c.hits {
			t.Errorf("Wilson(%d, %d) kept %d of %d", c.hits, c.n, p.Hits, p.N)
		}
	}
}

// Hand-computed: for 2, 4, 4, 4, 5, 5, 7, 9 the mean is 5, the sample SD
// √(32/7) = 2.13809, t(0.975, 7) = 2.36462, half-width 2.36462·2.13809/√8
// = 1.78750.
func TestMeanT(t *testing.T) {
	t.Parallel()
	m := MeanT([]float64{2, 4, 4, 4, 5, 5, 7, 9})
	near(t, "mean", m.Mean, 5)
	near(t, "sd", m.SD, 2.13809)
	near(t, "low", m.Low, 5-1.78750)
	near(t, "high", m.High, 5+1.78750)

	one := MeanT([]float64{6})
	near(t, "mean of one", one.Mean, 6)
	near(t, "low of one", one.Low, math.NaN())
	near(t, "mean of none", MeanT(nil).Mean, math.NaN())
}

func TestQuantile(t *testing.T) {
	t.Parallel()
	xs := []float64{7, 1, 3, 10, 5} // sorted: 1 3 5 7 10
	for _, c := range []struct{ q, want float64 }{
		{0, 1}, {0.5, 5}, {0.25, 3}, {0.9, 8.8}, {1, 10},
	} {
		near(t, "quantile", Quantile(xs, c.q), c.want)
	}
	near(t, "median of even", Median([]float64{4, 1, 2, 3}), 2.5)
	near(t, "median of none", Median(nil), math.NaN())
	if xs[0] != 7 {
		t.Error("Quantile sorted its input in place")
	}
}
