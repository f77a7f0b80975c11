package stats

import (
	"math"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// Mean is a sample mean with its 95 % Student-t interval. N is the sample
// size; Low and High are NaN when N < 2 (one answer has no spread to
// estimate), Mean is NaN when N is 0.
type Mean struct {
	N    int
	Mean float64
	SD   float64
	Low  float64
	High float64
}

// MeanT returns the mean of xs with a 95 % interval from Student's t
// distribution with N−1 degrees of freedom, which widens small samples'
// intervals honestly instead of pretending the spread is known.
func MeanT(xs []float64) Mean {
	m := Mean{N: len(xs), Mean: math.NaN(), SD: math.NaN(), Low: math.NaN(), High: math.NaN()}
	if m.N == 0 {
		return m
	}
	m.Mean, m.SD = stat.MeanStdDev(xs, nil)
	if m.N < 2 {
		m.SD = math.NaN()
		return m
	}
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(m.N - 1)}.Quantile(0.975)
	half := t * m.SD / math.Sqrt(float64(m.N))
	m.Low, m.High = m.Mean-half, m.Mean+half
	return m
}
