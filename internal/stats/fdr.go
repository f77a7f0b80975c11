package stats

import (
	"math"
	"slices"
)

// BenjaminiHochberg controls the false-discovery rate at q across the
// p-values of many tests run together: sort the p-values, find the largest
// k with p₍ₖ₎ ≤ k·q/m, and call the k smallest significant. It returns the
// adjusted p-values (q-values, each the smallest q at which its test would
// be significant) and which tests are significant, in the input order.
// NaN p-values (tests that could not be run) are never significant and do
// not count among the m tests.
func BenjaminiHochberg(p []float64, q float64) (adjusted []float64, significant []bool) {
	adjusted = make([]float64, len(p))
	significant = make([]bool, len(p))
	var idx []int
	for i, v := range p {
		if math.IsNaN(v) {
			adjusted[i] = math.NaN()
			continue
		}
		idx = append(idx, i)
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case p[a] < p[b]:
			return -1
		case p[a] > p[b]:
			return 1
		}
		return 0
	})
	m := float64(len(idx))
	// Step up from the largest p-value, keeping the running minimum so the
	// adjusted values are monotone in p.
	run := 1.0
	for k := len(idx) - 1; k >= 0; k-- {
		i := idx[k]
		run = min(run, p[i]*m/float64(k+1))
		adjusted[i] = run
		significant[i] = run <= q
	}
	return adjusted, significant
}
