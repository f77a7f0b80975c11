package report

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/store"
)

// tally is what a scorecard needs of a set of occurrences of one moment:
// counts, and every duration whose median it shows. Tallies of days add
// up to the tally of a period (add), so the store keeps one per moment
// and day (the day's summary) and a scorecard reads about 180 of them per
// moment instead of every occurrence. Medians stay exact: the durations
// are kept, not a histogram. What depends on the time of the report (an
// occurrence whose deadline has passed by now) is kept as the deadlines
// of the occurrences still open.
type tally struct {
	occurrences int
	accounts    []string
	// paths holds the success path state of the accounts reached that are
	// on a path (kept when the moment ends at a milestone): what the time
	// to value reads, so a scorecard reads no account.
	paths     []accountPath
	delivered int
	finished  int
	clean     int // finished as done without escalation
	effort    int
	// took holds the µs from metrics.time.from to .to of the occurrences
	// where both happened; notReached counts those where only from did.
	took       []int64
	notReached int
	// slaMet and slaDelivered count the occurrences delivered (within the
	// SLA); slaOpen holds the SLA deadlines (µs) of those not delivered.
	slaMet, slaDelivered int
	slaOpen              []int64
	// outOfOrder counts occurrences with a step done before one above it.
	outOfOrder int
	steps      []stepTally // one per ideal step, map order
}

// accountPath is an account's success path state.
type accountPath struct {
	account string
	path    store.OccurrencePath
}

// stepTally is one ideal step's part of a tally.
type stepTally struct {
	done, onTime, outOfOrder int
	// took holds the µs from the occurrence's start to the step, delays
	// the µs from its deadline to the step (when the step has a target).
	took, delays []int64
	// openDue counts the occurrences where the step is not done and has
	// no target (always due); openDeadlines holds the deadlines (µs) of
	// those not done where it has one.
	openDue       int
	openDeadlines []int64
}

// tallyOf tallies occurrences of a moment.
func tallyOf(mo journey.Moment, occ []store.Occurrence) tally {
	t := tally{steps: make([]stepTally, len(mo.Ideal))}
	sla, err := journey.ParseDuration(mo.SLA)
	hasSLA := err == nil && !sla.IsZero()
	withins := make([]journey.Duration, len(mo.Ideal))
	for j, s := range mo.Ideal {
		withins[j], _ = journey.ParseDuration(s.Within) // the map was linted when applied
	}
	at := make([]time.Time, len(mo.Ideal))
	done := make([]bool, len(mo.Ideal))
	for _, o := range occ {
		t.occurrences++
		t.accounts = append(t.accounts, o.AccountID)
		if o.Path.PathID != "" {
			t.paths = append(t.paths, accountPath{o.AccountID, o.Path})
		}
		end := deliveredAt(mo, o)
		if end != nil {
			t.delivered++
		}
		if o.Status == store.RunDone || o.Status == store.RunFailed {
			t.finished++
			if o.Status == store.RunDone && !o.Escalated {
				t.clean++
			}
		}
		t.effort += o.EffortMinutes
		switch {
		case o.From != nil && o.To != nil:
			t.took = append(t.took, o.To.Sub(*o.From).Microseconds())
		case o.From != nil:
			t.notReached++
		}
		if hasSLA {
			deadline := sla.AddTo(o.OccurredAt)
			if end != nil {
				t.slaDelivered++
				if !end.After(deadline) {
					t.slaMet++
				}
			} else {
				t.slaOpen = append(t.slaOpen, deadline.UnixMicro())
			}
		}
		for j, s := range mo.Ideal {
			at[j], done[j] = doneAt(s, o)
		}
		late := false
		for j, s := range mo.Ideal {
			if !s.Observable() {
				continue
			}
			st, within := &t.steps[j], withins[j]
			deadline := o.OccurredAt
			if !within.IsZero() {
				deadline = within.AddTo(o.OccurredAt)
			}
			if !done[j] {
				if within.IsZero() {
					st.openDue++
				} else {
					st.openDeadlines = append(st.openDeadlines, deadline.UnixMicro())
				}
				continue
			}
			st.done++
			st.took = append(st.took, at[j].Sub(o.OccurredAt).Microseconds())
			if within.IsZero() || !at[j].After(deadline) {
				st.onTime++
			}
			if !within.IsZero() {
				st.delays = append(st.delays, at[j].Sub(deadline).Microseconds())
			}
			for k := range j {
				if done[k] && at[k].After(at[j]) {
					st.outOfOrder++
					late = true
					break
				}
			}
		}
		if late {
			t.outOfOrder++
		}
	}
	return t
}

// add adds u to t; both tally the same moment.
func (t *tally) add(u tally) {
	t.occurrences += u.occurrences
	t.accounts = append(t.accounts, u.accounts...)
	t.paths = append(t.paths, u.paths...)
	t.delivered += u.delivered
	t.finished += u.finished
	t.clean += u.clean
	t.effort += u.effort
	t.took = append(t.took, u.took...)
	t.notReached += u.notReached
	t.slaMet += u.slaMet
	t.slaDelivered += u.slaDelivered
	t.slaOpen = append(t.slaOpen, u.slaOpen...)
	t.outOfOrder += u.outOfOrder
	if t.steps == nil {
		t.steps = make([]stepTally, len(u.steps))
	}
	for j := range u.steps {
		s, v := &t.steps[j], u.steps[j]
		s.done += v.done
		s.onTime += v.onTime
		s.outOfOrder += v.outOfOrder
		s.took = append(s.took, v.took...)
		s.delays = append(s.delays, v.delays...)
		s.openDue += v.openDue
		s.openDeadlines = append(s.openDeadlines, v.openDeadlines...)
	}
}

// passed counts the deadlines (µs) at or before now.
func passed(deadlines []int64, now time.Time) int {
	n, at := 0, now.UnixMicro()
	for _, d := range deadlines {
		if d <= at {
			n++
		}
	}
	return n
}

// inDays converts µs to days as daysBetween does for the same two times.
func inDays(us []int64) []float64 {
	out := make([]float64, len(us))
	for i, v := range us {
		out[i] = (time.Duration(v) * time.Microsecond).Hours() / 24
	}
	return out
}

// daysQuantiles returns the q-quantiles of durations in µs, in days: the
// same figures as stats.Quantile(inDays(us), q), bit for bit (converting
// to days keeps the order, so the sorted µs give the sorted days), from
// one sort of us, in place, for all of them and with no copy. NaN when us
// is empty.
func daysQuantiles(us []int64, qs ...float64) []float64 {
	out := make([]float64, len(qs))
	if len(us) == 0 {
		for i := range out {
			out[i] = math.NaN()
		}
		return out
	}
	slices.Sort(us)
	days := func(v int64) float64 { return (time.Duration(v) * time.Microsecond).Hours() / 24 }
	for i, q := range qs {
		q = math.Min(1, math.Max(0, q))
		h := q * float64(len(us)-1)
		lo, hi := int(math.Floor(h)), int(math.Ceil(h))
		out[i] = days(us[lo]) + (h-float64(lo))*(days(us[hi])-days(us[lo]))
	}
	return out
}

// tallySpec names what a moment's tally depends on besides the facts of
// its occurrences: its ideal steps (evidence and target, in order), the
// end of its time metric and its SLA. A day summary kept for another spec
// is computed again.
func tallySpec(mo journey.Moment) string {
	spec := fmt.Sprintf("v2|sla:%s|to:%s", mo.SLA, mo.Metrics.Time.To)
	for _, s := range mo.Ideal {
		spec += fmt.Sprintf("|%s/%s/%s", s.Event, s.Task, s.Within)
	}
	return spec
}

// The binary form of a tally (a day summary): its counts as varints, the
// account ids, the accounts' path states (id, path id, then time to value
// and to implementation in µs, −1 when not reached), then each list of µs
// as a length and varints. Durations are stored sorted with deltas, which
// keeps them short.

func encodeTally(t tally) []byte {
	b := make([]byte, 0, 64+len(t.accounts)*16+len(t.took)*4)
	num := func(v int) { b = binary.AppendVarint(b, int64(v)) }
	list := func(xs []int64) {
		xs = slices.Clone(xs)
		slices.Sort(xs)
		num(len(xs))
		prev := int64(0)
		for _, x := range xs {
			b = binary.AppendVarint(b, x-prev)
			prev = x
		}
	}
	for _, v := range []int{t.occurrences, t.delivered, t.finished, t.clean, t.effort, t.notReached, t.slaMet, t.slaDelivered,
		t.outOfOrder, len(t.steps)} {
		num(v)
	}
	num(len(t.accounts))
	for _, a := range t.accounts {
		num(len(a))
		b = append(b, a...)
	}
	num(len(t.paths))
	dur := func(d *time.Duration) {
		if d == nil {
			b = binary.AppendVarint(b, -1)
		} else {
			b = binary.AppendVarint(b, d.Microseconds())
		}
	}
	for _, p := range t.paths {
		for _, v := range []string{p.account, p.path.PathID} {
			num(len(v))
			b = append(b, v...)
		}
		dur(p.path.TimeToValue)
		dur(p.path.TimeToImplementation)
	}
	list(t.took)
	list(t.slaOpen)
	for _, s := range t.steps {
		num(s.done)
		num(s.onTime)
		num(s.outOfOrder)
		num(s.openDue)
		list(s.took)
		list(s.delays)
		list(s.openDeadlines)
	}
	return b
}

var errBadSummary = errors.New("malformed day summary")

// addEncoded adds an encoded tally (encodeTally) to t; the account ids
// only with accounts set (only the current period counts them).
func (t *tally) addEncoded(b []byte, accounts bool) error {
	bad := false
	num := func() int {
		v, n := binary.Varint(b)
		if n <= 0 {
			bad = true
			return 0
		}
		b = b[n:]
		return int(v)
	}
	list := func(into []int64) []int64 {
		n := num()
		if bad || n < 0 || n > len(b) {
			bad = true
			return into
		}
		prev := int64(0)
		for range n {
			prev += int64(num())
			into = append(into, prev)
		}
		return into
	}
	var c [10]int
	for i := range c {
		c[i] = num()
	}
	t.occurrences += c[0]
	t.delivered += c[1]
	t.finished += c[2]
	t.clean += c[3]
	t.effort += c[4]
	t.notReached += c[5]
	t.slaMet += c[6]
	t.slaDelivered += c[7]
	t.outOfOrder += c[8]
	if bad || c[9] != len(t.steps) {
		return errBadSummary
	}
	n := num()
	if bad || n < 0 || n > len(b) {
		return errBadSummary
	}
	for range n {
		l := num()
		if bad || l < 0 || l > len(b) {
			return errBadSummary
		}
		if accounts {
			t.accounts = append(t.accounts, string(b[:l]))
		}
		b = b[l:]
	}
	str := func() string {
		l := num()
		if bad || l < 0 || l > len(b) {
			bad = true
			return ""
		}
		v := string(b[:l])
		b = b[l:]
		return v
	}
	dur := func() *time.Duration {
		v := num()
		if v < 0 {
			return nil
		}
		d := time.Duration(v) * time.Microsecond
		return &d
	}
	n = num()
	if bad || n < 0 || n > len(b) {
		return errBadSummary
	}
	for range n {
		var p accountPath
		p.account = str()
		p.path.PathID = str()
		p.path.TimeToValue = dur()
		p.path.TimeToImplementation = dur()
		if accounts {
			t.paths = append(t.paths, p)
		}
	}
	if bad {
		return errBadSummary
	}
	t.took = list(t.took)
	t.slaOpen = list(t.slaOpen)
	for j := range t.steps {
		s := &t.steps[j]
		s.done += num()
		s.onTime += num()
		s.outOfOrder += num()
		s.openDue += num()
		s.took = list(s.took)
		s.delays = list(s.delays)
		s.openDeadlines = list(s.openDeadlines)
	}
	if bad || len(b) != 0 {
		return errBadSummary
	}
	return nil
}
