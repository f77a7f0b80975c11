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

// driverData is what the drivers are computed from, by subject: the
// outcome, the traits in columns and the behaviours per 30 days by name.
type driverData struct {
	positive []bool
	traits   []*traitColumn // sorted by key
	// behaviourNames are sorted; behaviours[j] holds the rate of
	// behaviourNames[j] by subject (0 where there is none).
	behaviourNames []string
	behaviours     [][]float64
	// measured says, by subject, whether behaviours were measured.
	measured []bool
}

// ComputeDrivers tests every trait and behaviour against the outcome and
// orders the signals from strongest (smallest p-value) to weakest. It
// refuses (ErrTooFewOutcomes) with fewer than MinOutcomes positives or
// negatives.
func ComputeDrivers(subjects []Subject, opt DriverOptions) (Drivers, error) {
	dd := driverData{positive: make([]bool, len(subjects)), traits: colsOf(subjects), measured: make([]bool, len(subjects))}
	for i, s := range subjects {
		dd.positive[i] = s.Positive
		dd.measured[i] = s.Behaviours != nil
	}
	dd.behaviourNames = unionKeys(subjects, func(s Subject) map[string]float64 { return s.Behaviours })
	for _, k := range dd.behaviourNames {
		v := make([]float64, len(subjects))
		for i, s := range subjects {
			v[i] = s.Behaviours[k]
		}
		dd.behaviours = append(dd.behaviours, v)
	}
	return computeDrivers(dd, opt, nil)
}

// computeDrivers is ComputeDrivers on columns. The trait signals are
// tested in a goroutine of their own while behaviours (when not yet
// known) are read: when behaviours is not nil, it fills dd's behaviour
// columns first.
func computeDrivers(dd driverData, opt DriverOptions, behaviours func(*driverData) error) (Drivers, error) {
	d := Drivers{Accounts: len(dd.positive), Drivers: []Driver{}, LeftOut: []string{}, Warning: DriversWarning}
	for _, p := range dd.positive {
		if p {
			d.Positives++
		}
	}
	if err := enoughOutcomes("the drivers report", d.Positives, d.Accounts-d.Positives); err != nil {
		return d, err
	}
	var traits []Driver
	done := make(chan struct{})
	go func(dd driverData) { // a copy: behaviours writes to the other
		defer close(done)
		traits = testAll(dd.positive, traitSignals(dd, opt, &d.LeftOut))
	}(dd)
	var err error
	if behaviours != nil {
		err = behaviours(&dd)
	}
	var acts []Driver
	if err == nil {
		acts = testAll(dd.positive, behaviourSignals(dd))
	}
	<-done
	if err != nil {
		return d, err
	}
	d.Drivers = append(traits, acts...)
	ps := make([]float64, len(d.Drivers))
	for i, dr := range d.Drivers {
		ps[i] = dr.PValue
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

// testAll tests the signals, keeping those with enough accounts on each
// side.
func testAll(positive []bool, sigs []signal) []Driver {
	out := []Driver{}
	for _, sg := range sigs {
		if dr, ok := test(positive, sg); ok {
			out = append(out, dr)
		}
	}
	return out
}

// traitSignals makes the signals of the account traits: categories level
// by level, numbers by rank (the upper half against the lower), so that
// skewed figures such as ARR behave.
func traitSignals(dd driverData, opt DriverOptions, leftOut *[]string) []signal {
	n := len(dd.positive)
	var out []signal
	for _, c := range dd.traits {
		k := c.key
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
		nums := make([]float64, n)
		known := make([]bool, n)
		nKnown, nNum := 0, 0
		perLevel := make([]int, len(c.levels)) // known subjects at each word level
		for i, code := range c.code {
			switch {
			case code == codeUnknown:
				continue
			case code == codeNumber:
				nums[i] = c.num[i]
				nNum++
			case c.levels[code-levelBase].isNum:
				nums[i] = c.levels[code-levelBase].num
				nNum++
			default:
				perLevel[code-levelBase]++
			}
			known[i] = true
			nKnown++
		}
		levels := 0
		for _, m := range perLevel {
			if m > 0 {
				levels++
			}
		}
		if nKnown*2 < n {
			*leftOut = append(*leftOut, fmt.Sprintf("%s: known for %d of %d accounts (traits known for fewer than half are left out: they are often written when the outcome happens)", k, nKnown, n))
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
		if levels > MaxLevels {
			*leftOut = append(*leftOut, fmt.Sprintf("%s: %d different values, not a category", k, levels))
			continue
		}
		if separates(dd.positive, c, known) {
			*leftOut = append(*leftOut, k+": every value has the outcome always or never, so it records the outcome rather than predicting it")
			continue
		}
		var lv []int32
		for j, m := range perLevel {
			if m > 0 {
				lv = append(lv, levelBase+int32(j))
			}
		}
		slices.SortFunc(lv, func(a, b int32) int { return strings.Compare(c.levels[a-levelBase].s, c.levels[b-levelBase].s) })
		if len(lv) == 2 {
			lv = lv[:1] // the other level is the same test, reversed
		}
		for _, l := range lv {
			with := make([]bool, n)
			for i := range with {
				with[i] = known[i] && c.code[i] == l
			}
			out = append(out, signal{name: k + " = " + c.levels[l-levelBase].s, kind: "trait", with: with, known: known})
		}
	}
	return out
}

// behaviourSignals makes a signal per behaviour: the upper half of
// accounts by its rate per 30 days, or, when most accounts never did it,
// doing it at all.
func behaviourSignals(dd driverData) []signal {
	var out []signal
	for j, k := range dd.behaviourNames {
		out = append(out, rankSignal(k+" per 30 days", "behaviour", dd.behaviours[j], dd.measured))
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
func test(positive []bool, sg signal) (Driver, bool) {
	var a, n1, c, n0 int // a of n1 with the signal had the outcome; c of n0 without
	for i, p := range positive {
		if !sg.known[i] {
			continue
		}
		if sg.with[i] {
			n1++
			if p {
				a++
			}
		} else {
			n0++
			if p {
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
func separates(positive []bool, c *traitColumn, known []bool) bool {
	pos, all := make([]int, len(c.levels)), make([]int, len(c.levels))
	levels := 0
	for i, p := range positive {
		if !known[i] {
			continue
		}
		l := c.code[i] - levelBase
		if all[l] == 0 {
			levels++
		}
		all[l]++
		if p {
			pos[l]++
		}
	}
	if levels < 2 {
		return false
	}
	for l, n := range all {
		if pos[l] != 0 && pos[l] != n {
			return false
		}
	}
	return true
}
