package report

import (
	"math"
	"time"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/stats"
	"github.com/moments-cs/moments/internal/store"
)

// NotObservable is the evidence of an ideal step that names neither an
// event nor a task: the reports show it and never count it.
const NotObservable = "not observable"

// IdealStepFigures compares one ideal step with what actually happened in
// the occurrences of a period.
type IdealStepFigures struct {
	Step  string `json:"step"`
	Owner string `json:"owner"`
	// Within is the step's target as the map writes it ("2bd"), or "".
	Within string `json:"within,omitempty"`
	// Evidence says what shows the step was done: "event: Kickoff Held",
	// "task: handoff" or "not observable".
	Evidence   string `json:"evidence"`
	Observable bool   `json:"observable"`
	// Due counts the occurrences that count for the step: those where it
	// was done, and those whose deadline (start + within) has passed.
	Due  int `json:"due"`
	Done int `json:"done"`
	// OnTime counts those done within the target (all done ones when the
	// step has no target).
	OnTime int `json:"on_time"`
	// DoneShare is Done/Due and OnTimeShare OnTime/Due, fractions from 0
	// to 1 with 95 % Wilson intervals; null when Due is 0 or the step is
	// not observable.
	DoneShare   *float64 `json:"done_share"`
	DoneLow     *float64 `json:"done_share_low"`
	DoneHigh    *float64 `json:"done_share_high"`
	OnTimeShare *float64 `json:"on_time_share"`
	OnTimeLow   *float64 `json:"on_time_share_low"`
	OnTimeHigh  *float64 `json:"on_time_share_high"`
	// MedianDays is the median time from the start of the occurrence to
	// the step, over the occurrences where it was done.
	MedianDays *float64 `json:"median_days"`
	// MedianDelayDays is the median of (done − deadline) in days over the
	// occurrences where it was done: negative is early, positive late.
	MedianDelayDays *float64 `json:"median_delay_days"`
	// OutOfOrder counts occurrences where this step was done before a step
	// listed above it that was also done.
	OutOfOrder int `json:"out_of_order"`
}

// IdealFigures is the ideal process of one moment against the actual one.
type IdealFigures struct {
	Steps []IdealStepFigures `json:"steps"`
	// Conformance is the mean on-time share over the observable steps that
	// have due occurrences; null when there are none.
	Conformance *float64 `json:"conformance"`
	// OutOfOrderShare is the share of occurrences where at least one step
	// was done before a step listed above it.
	OutOfOrder      int      `json:"out_of_order"`
	OutOfOrderShare *float64 `json:"out_of_order_share"`
	// MostMissed is the step most often skipped or late (lowest on-time
	// share); Slowest the step with the largest median delay against its
	// target, and SlowestOwner the team that owns it — the hand-off where
	// customers are lost.
	MostMissed   string `json:"most_missed_step,omitempty"`
	Slowest      string `json:"slowest_step,omitempty"`
	SlowestOwner string `json:"slowest_step_owner,omitempty"`
}

// evidence names what shows that an ideal step was done.
func evidence(s journey.IdealStep) string {
	switch {
	case s.Event != "":
		return "event: " + s.Event
	case s.Task != "":
		return "task: " + s.Task
	}
	return NotObservable
}

// doneAt returns when the ideal step was done in an occurrence.
func doneAt(s journey.IdealStep, o store.Occurrence) (time.Time, bool) {
	var t time.Time
	var ok bool
	switch {
	case s.Event != "":
		t, ok = o.Marks[s.Event]
	case s.Task != "":
		t, ok = o.Steps[s.Task]
	}
	return t, ok
}

// idealFigures computes the ideal-against-actual figures of a moment from
// the tally of its occurrences, as of now; the steps' medians only with
// medians set (the previous period shows its conformance alone).
func idealFigures(mo journey.Moment, t tally, now time.Time, medians bool) IdealFigures {
	var out IdealFigures
	var sum float64
	var counted int
	worstOnTime, worstDelay := math.Inf(1), math.Inf(-1)
	for j, s := range mo.Ideal {
		f := IdealStepFigures{Step: s.Step, Owner: s.Owner, Within: s.Within, Evidence: evidence(s), Observable: s.Observable()}
		if !f.Observable {
			out.Steps = append(out.Steps, f)
			continue
		}
		st := t.steps[j]
		f.Done, f.OnTime, f.OutOfOrder = st.done, st.onTime, st.outOfOrder
		// Those not done count once their deadline has passed.
		f.Due = st.done + st.openDue + passed(st.openDeadlines, now)
		if f.Due > 0 {
			d, t := stats.Wilson(f.Done, f.Due), stats.Wilson(f.OnTime, f.Due)
			f.DoneShare, f.DoneLow, f.DoneHigh = num(d.Share), num(d.Low), num(d.High)
			f.OnTimeShare, f.OnTimeLow, f.OnTimeHigh = num(t.Share), num(t.Low), num(t.High)
			sum += t.Share
			counted++
			if t.Share < worstOnTime {
				worstOnTime, out.MostMissed = t.Share, s.Step
			}
		}
		if medians {
			f.MedianDays = num(daysQuantiles(st.took, 0.5)[0])
			f.MedianDelayDays = num(daysQuantiles(st.delays, 0.5)[0])
		}
		if f.MedianDelayDays != nil && *f.MedianDelayDays > worstDelay {
			worstDelay, out.Slowest, out.SlowestOwner = *f.MedianDelayDays, s.Step, s.Owner
		}
		out.Steps = append(out.Steps, f)
	}
	if counted > 0 {
		out.Conformance = num(sum / float64(counted))
	}
	out.OutOfOrder = t.outOfOrder
	if t.occurrences > 0 {
		out.OutOfOrderShare = num(float64(out.OutOfOrder) / float64(t.occurrences))
	}
	return out
}

// daysBetween is b − a in days.
func daysBetween(a, b time.Time) float64 { return b.Sub(a).Hours() / 24 }

// num returns a pointer to v rounded to four decimals, or nil for NaN and
// infinities (JSON has no NaN: a figure without data is null).
func num(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	r := math.Round(v*1e4) / 1e4
	return &r
}
