package stats

import (
	"math"
	"slices"
)

// SurvivalPoint is the Kaplan–Meier estimate just after one time at which
// something happened (an event, a censoring, or both).
type SurvivalPoint struct {
	// T is the time, in the unit of the input (reports use days).
	T float64
	// AtRisk counts the subjects still waiting just before T.
	AtRisk int
	// Events counts those whose event happened at T; Censored those last
	// seen at T without it.
	Events   int
	Censored int
	// Survival is the estimated share still waiting after T.
	Survival float64
	// Low and High bound Survival with a 95 % interval from Greenwood's
	// variance on the log(−log) scale, which keeps the interval inside
	// [0, 1]. They are NaN where the interval is undefined: before the
	// first event (Survival is 1) and once Survival reaches 0.
	Low, High float64
}

// Survival is a Kaplan–Meier curve: the share of subjects whose event has
// not happened yet, as time goes on, counting those still on their way
// (censored) for as long as they were watched instead of dropping them.
type Survival struct {
	// N counts the subjects; Events those whose event was observed.
	N, Events int
	// Points has one entry per distinct time with an event or a
	// censoring, in time order.
	Points []SurvivalPoint
}

// KaplanMeier estimates the survival curve of subjects watched for times[i]
// each; observed[i] says whether subject i's event happened at times[i]
// (true) or whether it was last seen then without it (false, censored).
// At a time with both events and censorings, the events count first, as is
// the convention. Negative or NaN times are ignored; it panics only if the
// two slices differ in length, which is a programming error.
//
// S(t) = Π over event times tᵢ ≤ t of (1 − dᵢ/nᵢ), and Greenwood's variance
// Var S(t) = S(t)² Σ dᵢ/(nᵢ(nᵢ−dᵢ)), with nᵢ at risk and dᵢ events at tᵢ.
func KaplanMeier(times []float64, observed []bool) Survival {
	if len(times) != len(observed) {
		panic("stats.KaplanMeier: times and observed differ in length")
	}
	// The event times and the censoring times sorted apart, then merged:
	// sorting plain floats is several times faster than sorting pairs by
	// a comparison function, and a time report sorts 100,000 of them.
	var events, censored []float64
	for i, t := range times {
		switch {
		case math.IsNaN(t) || t < 0:
		case observed[i]:
			events = append(events, t)
		default:
			censored = append(censored, t)
		}
	}
	slices.Sort(events)
	slices.Sort(censored)
	n := len(events) + len(censored)
	out := Survival{N: n}
	if n > 0 {
		out.Points = make([]SurvivalPoint, 0, n)
	}
	atRisk := n
	s := 1.0
	greenwood := 0.0 // Σ d/(n(n−d))
	for i, j := 0, 0; i < len(events) || j < len(censored); {
		t := 0.0
		if j == len(censored) || (i < len(events) && events[i] <= censored[j]) {
			t = events[i]
		} else {
			t = censored[j]
		}
		p := SurvivalPoint{T: t, AtRisk: atRisk}
		for ; i < len(events) && events[i] == t; i++ {
			p.Events++
		}
		for ; j < len(censored) && censored[j] == t; j++ {
			p.Censored++
		}
		if p.Events > 0 {
			n, d := float64(atRisk), float64(p.Events)
			s *= 1 - d/n
			if atRisk > p.Events {
				greenwood += d / (n * (n - d))
			} else {
				greenwood = math.Inf(1)
			}
		}
		out.Events += p.Events
		p.Survival = s
		p.Low, p.High = logLogInterval(s, greenwood)
		out.Points = append(out.Points, p)
		atRisk -= p.Events + p.Censored
	}
	return out
}

// logLogInterval returns the 95 % interval of a survival estimate s whose
// Greenwood sum is g: s^exp(±z·√g / ln s).
func logLogInterval(s, g float64) (float64, float64) {
	if s >= 1 || s <= 0 || math.IsInf(g, 0) || g == 0 {
		return math.NaN(), math.NaN()
	}
	se := math.Sqrt(g) / math.Abs(math.Log(s))
	return math.Pow(s, math.Exp(z95*se)), math.Pow(s, math.Exp(-z95*se))
}

// At returns the estimated share still waiting at time t: 1 before the
// first event, and the last estimate at or before t after it.
func (s Survival) At(t float64) float64 {
	v := 1.0
	for _, p := range s.Points {
		if p.T > t {
			break
		}
		v = p.Survival
	}
	return v
}

// Median returns the first time at which the estimated share still
// waiting falls to one half or below, or NaN when it never does within the
// watched times (more than half are still on their way).
func (s Survival) Median() float64 {
	for _, p := range s.Points {
		if p.Survival <= 0.5 {
			return p.T
		}
	}
	return math.NaN()
}
