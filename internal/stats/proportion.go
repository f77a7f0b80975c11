package stats

import "math"

// z95 is the standard normal quantile for a two-sided 95 % interval.
const z95 = 1.959963984540054

// Proportion is a share of a sample with its 95 % Wilson score interval.
// N is the sample size; when N is 0 the share is undefined and Share, Low
// and High are NaN (callers show "no data", never 0 %).
type Proportion struct {
	Hits  int
	N     int
	Share float64
	Low   float64
	High  float64
}

// Wilson returns hits out of n as a Proportion with its 95 % Wilson score
// interval. Wilson's interval stays inside [0, 1] and keeps close to its
// nominal coverage for small samples and shares near 0 or 1, where the
// textbook normal interval collapses to a point (0 of 3 is not "0 % ± 0").
func Wilson(hits, n int) Proportion {
	p := Proportion{Hits: hits, N: n}
	if n <= 0 {
		p.Share, p.Low, p.High = math.NaN(), math.NaN(), math.NaN()
		return p
	}
	fn := float64(n)
	ph := float64(hits) / fn
	z2 := z95 * z95
	den := 1 + z2/fn
	centre := (ph + z2/(2*fn)) / den
	half := z95 * math.Sqrt(ph*(1-ph)/fn+z2/(4*fn*fn)) / den
	p.Share = ph
	p.Low = math.Max(0, centre-half)
	p.High = math.Min(1, centre+half)
	return p
}
