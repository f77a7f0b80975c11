package stats

import (
	"errors"
	"math"
	"slices"

	"gonum.org/v1/gonum/stat/distuv"
)

// ErrOneClass means an AUC was asked of data that holds only positives or
// only negatives: there is no pair to rank.
var ErrOneClass = errors.New("the AUC needs at least one positive and one negative")

// AUC is the area under the ROC curve: the chance that a positive, drawn
// at random, has a higher risk than a negative drawn at random (ties count
// half). 0.5 is a coin toss, 1 a perfect ranking.
type AUC struct {
	Value float64 `json:"value"`
	// Low and High bound the 95 % confidence interval (Hanley and McNeil's
	// standard error, clamped to 0–1).
	Low       float64 `json:"low"`
	High      float64 `json:"high"`
	Positives int     `json:"positives"`
	Negatives int     `json:"negatives"`
}

// ComputeAUC ranks risk against the outcomes by the Mann–Whitney U
// statistic, with mid-ranks for ties: AUC = (R₊ − n₊(n₊+1)/2) ÷ (n₊ n₋),
// where R₊ is the sum of the positives' ranks. risk and positive must have
// the same length.
func ComputeAUC(risk []float64, positive []bool) (AUC, error) {
	if len(risk) != len(positive) {
		return AUC{}, errors.New("risk and outcomes differ in length")
	}
	ranks := MidRanks(risk)
	var rankSum float64
	np, nn := 0, 0
	for i, p := range positive {
		if p {
			np++
			rankSum += ranks[i]
		} else {
			nn++
		}
	}
	if np == 0 || nn == 0 {
		return AUC{Positives: np, Negatives: nn}, ErrOneClass
	}
	p, n := float64(np), float64(nn)
	a := (rankSum - p*(p+1)/2) / (p * n)
	// Hanley & McNeil (1982): Q1 = A/(2−A), Q2 = 2A²/(1+A).
	q1, q2 := a/(2-a), 2*a*a/(1+a)
	se := math.Sqrt((a*(1-a) + (p-1)*(q1-a*a) + (n-1)*(q2-a*a)) / (p * n))
	z := Z95()
	return AUC{Value: a, Low: max(0, a-z*se), High: min(1, a+z*se), Positives: np, Negatives: nn}, nil
}

// MidRanks returns the 1-based rank of each value, ties sharing the mean
// of the ranks they span.
func MidRanks(v []float64) []float64 {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case v[a] < v[b]:
			return -1
		case v[a] > v[b]:
			return 1
		}
		return 0
	})
	ranks := make([]float64, len(v))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && v[idx[j+1]] == v[idx[i]] {
			j++
		}
		mid := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			ranks[idx[k]] = mid
		}
		i = j + 1
	}
	return ranks
}

// ROCPoint is one point of a ROC curve: flagging every account whose risk
// is at or above Threshold catches TPR of the positives and wrongly flags
// FPR of the negatives.
type ROCPoint struct {
	Threshold float64 `json:"threshold"`
	FPR       float64 `json:"fpr"`
	TPR       float64 `json:"tpr"`
}

// ROC returns the ROC curve from (0,0) to (1,1), one point per distinct
// risk, highest risk first. It returns nil without both outcomes.
func ROC(risk []float64, positive []bool) []ROCPoint {
	idx := make([]int, len(risk))
	np, nn := 0, 0
	for i := range idx {
		idx[i] = i
		if positive[i] {
			np++
		} else {
			nn++
		}
	}
	if np == 0 || nn == 0 {
		return nil
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case risk[a] > risk[b]:
			return -1
		case risk[a] < risk[b]:
			return 1
		}
		return 0
	})
	out := []ROCPoint{{Threshold: math.Inf(1)}}
	tp, fp := 0, 0
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && risk[idx[j]] == risk[idx[i]] {
			if positive[idx[j]] {
				tp++
			} else {
				fp++
			}
			j++
		}
		out = append(out, ROCPoint{Threshold: risk[idx[i]], FPR: float64(fp) / float64(nn), TPR: float64(tp) / float64(np)})
		i = j
	}
	return out
}

// Z95 is the standard normal quantile for a two-sided 95 % interval
// (about 1.96).
func Z95() float64 { return distuv.UnitNormal.Quantile(0.975) }
