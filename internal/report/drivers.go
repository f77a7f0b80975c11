package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/moments-cs/moments/internal/stats"
)

// Settings of the drivers report.
const (
	// DriverFDR is the false-discovery rate the drivers report controls:
	// of the signals it calls significant, at most about 5 % are expected
	// to be flukes.
	DriverFDR = 0.05
	// MinGroup is the fewest accounts on each side of a signal (with it
	// and without it) for the signal to be tested.
	MinGroup = 5
	// MaxLevels is the most levels a category trait may have to be tested
	// level by level; more (ids, names, emails) are not categories.
	MaxLevels = 20
)

// DriversWarning is shown with every drivers report.
const DriversWarning = "Correlation is not cause: a signal that goes with renewal may share a cause with it. Use drivers to choose what to look into, not as proof."

// Subject is one account in a drivers analysis: its outcome, its traits
// and its behaviours per 30 days measured before the outcome.
type Subject struct {
	AccountID string
	Positive  bool
	Traits    map[string]any
	// Behaviours are per 30 days over the window measured (event name →
	// events per 30 days); nil when no events were measured.
	Behaviours map[string]float64
}

// Driver is one signal and how the outcome differs with it.
type Driver struct {
	// Signal names the trait or behaviour and, for a category, the level
	// ("contract = Month-to-month"); for a number, the upper half by rank
	// ("seats: upper half").
	Signal string `json:"signal"`
	// Kind is trait or behaviour.
	Kind string `json:"kind"`
	// Significant says whether the signal survives false-discovery-rate
	// control (Benjamini–Hochberg at DriverFDR) across all signals tested.
	Significant bool `json:"significant"`
	// Direction is "raises" or "lowers" (the outcome rate).
	Direction string `json:"direction"`
	// Effect is the difference in outcome rate, with minus without (−1 to
	// 1), with its 95 % interval (Newcombe's hybrid Wilson).
	Effect     float64 `json:"effect"`
	EffectLow  float64 `json:"effect_low"`
	EffectHigh float64 `json:"effect_high"`
	// With and Without are the outcome rates among the accounts with and
	// without the signal.
	With    Rate `json:"with"`
	Without Rate `json:"without"`
	// Lift is the rate with the signal over the rate without it.
	Lift float64 `json:"lift"`
	// PValue is the two-proportion test's p-value; QValue the p-value
	// adjusted for the number of signals tested.
	PValue float64 `json:"p_value"`
	QValue float64 `json:"q_value"`
}

// Drivers is the drivers report.
type Drivers struct {
	Outcome   string `json:"outcome"`
	Accounts  int    `json:"accounts"`
	Positives int    `json:"positives"`
	Excluded  int    `json:"excluded"`
	// GapDays and WindowDays say how behaviours were measured: over the
	// WindowDays whole UTC days that end at the start of the day GapDays
	// before each outcome (before now for the accounts without it).
	GapDays    int      `json:"gap_days"`
	WindowDays int      `json:"window_days"`
	Tested     int      `json:"tested"`
	Drivers    []Driver `json:"drivers"`
	// Left out lists the traits not tested and why.
	LeftOut []string `json:"left_out"`
	Warning string   `json:"warning"`
}

// DriverOptions tune the analysis.
type DriverOptions struct {
	// Exclude names traits never to test: the traits the outcome reads,
	// and traits written when the outcome happens (a churn date).
	Exclude []string
	// MapExcluded names traits the journey map excludes
	// (health.drivers.exclude_traits).
	MapExcluded []string
}

// signal is a candidate: who has it.
type signal struct {
	name, kind string
	with       []bool // per subject: has the signal (only where known)
	known      []bool
}

// ComputeDrivers tests every trait and behaviour against the outcome and
// orders the signals from strongest (smallest p-value) to weakest. It
// refuses (ErrTooFewOutcomes) with fewer than MinOutcomes positives or
// negatives.
func ComputeDrivers(subjects []Subject, opt DriverOptions) (Drivers, error) {
	d := Drivers{Accounts: len(subjects), Drivers: []Driver{}, LeftOut: []string{}, Warning: DriversWarning}
	for _, s := range subjects {
		if s.Positive {
			d.Positives++
		}
	}
	if err := enoughOutcomes("the drivers report", d.Positives, d.Accounts-d.Positives); err != nil {
		return d, err
	}
	var sigs []signal
	sigs = append(sigs, traitSignals(subjects, opt, &d.LeftOut)...)
	sigs = append(sigs, behaviourSignals(subjects)...)

	var ps []float64
	for _, sg := range sigs {
		dr, ok := test(subjects, sg)
		if !ok {
			continue
		}
		d.Drivers = append(d.Drivers, dr)
		ps = append(ps, dr.PValue)
	}
	q, sig := stats.BenjaminiHochberg(ps, DriverFDR)
	for i := range d.Drivers {
		d.Drivers[i].QValue = q[i]
		d.Drivers[i].Significant = sig[i]
	}
	d.Tested = len(d.Drivers)
	slices.SortStableFunc(d.Drivers, func(a, b Driver) int {
		if c := cmp.Compare(a.PValue, b.PValue); c != 0 {
			return c
		}
		if c := cmp.Compare(math.Abs(b.Effect), math.Abs(a.Effect)); c != 0 {
			return c
		}
		return strings.Compare(a.Signal, b.Signal)
	})
	return d, nil
}

// traitSignals makes the signals of the account traits: categories level
// by level, numbers by rank (the upper half against the lower), so that
// skewed figures such as ARR behave.
func traitSignals(subjects []Subject, opt DriverOptions, leftOut *[]string) []signal {
	keys := unionKeys(subjects, func(s Subject) map[string]any { return s.Traits })
	var out []signal
	for _, k := range keys {
		if k == "id" || k == "name" {
			continue
		}
		if slices.Contains(opt.Exclude, k) {
			*leftOut = append(*leftOut, k+": the outcome reads it, or it follows from the outcome")
			continue
		}
		if slices.Contains(opt.MapExcluded, k) {
			*leftOut = append(*leftOut, k+": excluded by the journey map (health.drivers.exclude_traits)")
			continue
		}
		nums := make([]float64, len(subjects))
		strs := make([]string, len(subjects))
		known := make([]bool, len(subjects))
		nKnown, nNum := 0, 0
		levels := map[string]int{}
		for i, s := range subjects {
			v, ok := s.Traits[k]
			if !ok || v == nil || v == "" {
				continue
			}
			known[i] = true
			nKnown++
			switch x := v.(type) {
			case float64:
				nums[i] = x
				nNum++
			case bool:
				strs[i] = strconv.FormatBool(x)
				levels[strs[i]]++
			case string:
				if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
					nums[i] = f
					nNum++
				} else {
					strs[i] = x
					levels[x]++
				}
			default:
				known[i] = false
				nKnown--
			}
		}
		if nKnown*2 < len(subjects) {
			*leftOut = append(*leftOut, fmt.Sprintf("%s: known for %d of %d accounts (traits known for fewer than half are left out: they are often written when the outcome happens)", k, nKnown, len(subjects)))
			continue
		}
		if nNum == nKnown {
			out = append(out, rankSignal(k, "trait", nums, known))
			continue
		}
		if nNum > 0 {
			*leftOut = append(*leftOut, k+": mixes numbers and words")
			continue
		}
		if len(levels) > MaxLevels {
			*leftOut = append(*leftOut, fmt.Sprintf("%s: %d different values, not a category", k, len(levels)))
			continue
		}
		if separates(subjects, strs, known) {
			*leftOut = append(*leftOut, k+": every value has the outcome always or never, so it records the outcome rather than predicting it")
			continue
		}
		var lv []string
		for l := range levels {
			lv = append(lv, l)
		}
		slices.Sort(lv)
		if len(lv) == 2 {
			lv = lv[:1] // the other level is the same test, reversed
		}
		for _, l := range lv {
			with := make([]bool, len(subjects))
			for i := range subjects {
				with[i] = known[i] && strs[i] == l
			}
			out = append(out, signal{name: k + " = " + l, kind: "trait", with: with, known: known})
		}
	}
	return out
}

// behaviourSignals makes a signal per behaviour: the upper half of
// accounts by its rate per 30 days, or, when most accounts never did it,
// doing it at all.
func behaviourSignals(subjects []Subject) []signal {
	measured := make([]bool, len(subjects))
	for i, s := range subjects {
		measured[i] = s.Behaviours != nil
	}
	keys := unionKeys(subjects, func(s Subject) map[string]float64 { return s.Behaviours })
	var out []signal
	for _, k := range keys {
		v := make([]float64, len(subjects))
		for i, s := range subjects {
			v[i] = s.Behaviours[k]
		}
		out = append(out, rankSignal(k+" per 30 days", "behaviour", v, measured))
	}
	return out
}

// unionKeys returns the keys of every subject's map, sorted.
func unionKeys[V any](subjects []Subject, of func(Subject) map[string]V) []string {
	names := map[string]bool{}
	for _, s := range subjects {
		for k := range of(s) {
			names[k] = true
		}
	}
	keys := make([]string, 0, len(names))
	for k := range names {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// rankSignal splits the known values at their median: above it is "with".
// When the median is the lowest value (most accounts at zero), "with" is
// any value above the lowest.
func rankSignal(name, kind string, v []float64, known []bool) signal {
	var vals []float64
	for i, k := range known {
		if k {
			vals = append(vals, v[i])
		}
	}
	with := make([]bool, len(v))
	if len(vals) == 0 {
		return signal{name: name, kind: kind, with: with, known: known}
	}
	med := stats.Median(vals)
	label := name + ": upper half"
	if med <= slices.Min(vals) {
		label = name + ": above " + strconv.FormatFloat(med, 'g', 4, 64)
	}
	for i, k := range known {
		with[i] = k && v[i] > med
	}
	return signal{name: label, kind: kind, with: with, known: known}
}

// test compares the outcome rate with and without the signal: a pooled
// two-proportion z test, the rate difference with Newcombe's interval,
// and the lift.
func test(subjects []Subject, sg signal) (Driver, bool) {
	var a, n1, c, n0 int // a of n1 with the signal had the outcome; c of n0 without
	for i, s := range subjects {
		if !sg.known[i] {
			continue
		}
		if sg.with[i] {
			n1++
			if s.Positive {
				a++
			}
		} else {
			n0++
			if s.Positive {
				c++
			}
		}
	}
	if n1 < MinGroup || n0 < MinGroup {
		return Driver{}, false
	}
	p1, p0 := float64(a)/float64(n1), float64(c)/float64(n0)
	pool := float64(a+c) / float64(n1+n0)
	se := math.Sqrt(pool * (1 - pool) * (1/float64(n1) + 1/float64(n0)))
	p := 1.0
	if se > 0 {
		z := (p1 - p0) / se
		p = 2 * distuv.UnitNormal.Survival(math.Abs(z))
	}
	w1, w0 := stats.Wilson(a, n1), stats.Wilson(c, n0)
	diff := p1 - p0
	low := diff - math.Sqrt((p1-w1.Low)*(p1-w1.Low)+(w0.High-p0)*(w0.High-p0))
	high := diff + math.Sqrt((w1.High-p1)*(w1.High-p1)+(p0-w0.Low)*(p0-w0.Low))
	dir := "raises"
	if diff < 0 {
		dir = "lowers"
	}
	lift := math.Inf(1)
	if p0 > 0 {
		lift = p1 / p0
	}
	if math.IsInf(lift, 1) {
		lift = 0 // JSON has no infinity; the rates say it all
	}
	return Driver{Signal: sg.name, Kind: sg.kind, Direction: dir, Effect: diff, EffectLow: low, EffectHigh: high,
		With: rateOf(a, n1), Without: rateOf(c, n0), Lift: lift, PValue: p}, true
}

// separates reports whether a category splits the accounts perfectly by
// outcome: every level has the outcome always or never. Such a trait is
// written with the outcome ("outcome: churned"), and testing it would
// only rediscover the definition.
func separates(subjects []Subject, level []string, known []bool) bool {
	pos, all := map[string]int{}, map[string]int{}
	for i, s := range subjects {
		if !known[i] {
			continue
		}
		all[level[i]]++
		if s.Positive {
			pos[level[i]]++
		}
	}
	if len(all) < 2 {
		return false
	}
	for l, n := range all {
		if pos[l] != 0 && pos[l] != n {
			return false
		}
	}
	return true
}
