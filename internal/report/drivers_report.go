package report

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/rules"
	"github.com/moments-cs/moments/internal/store"
)

// DriversReport runs the drivers report on the stored accounts and
// events.
func DriversReport(ctx context.Context, st *store.Store, q OutcomeQuery) (Drivers, error) {
	gap, err := dayParam(q.GapDays, DefaultGapDays, "gap")
	if err != nil {
		return Drivers{}, err
	}
	window, err := dayParam(q.WindowDays, DefaultWindowDays, "window")
	if err != nil {
		return Drivers{}, err
	}
	lb, err := labelDrivers(ctx, st, q.Outcome, q.Now, true)
	if err != nil {
		return Drivers{}, err
	}
	// The lifecycle stage is where the account is now, which follows from
	// a renewal or a churn: tested, it would rediscover the outcome.
	exclude := append(outcomeTraits(lb.outcome), journey.DefaultLifecycleTrait)
	mapped, err := mapExcludedTraits(ctx, st)
	if err != nil {
		return Drivers{}, err
	}
	dd := driverData{positive: lb.positive, traits: lb.traits}
	// The behaviours are read while the traits are tested.
	behaviours := func(dd *driverData) error {
		return readBehaviours(ctx, st, dd, lb, q.Now, gap, window)
	}
	d, err := computeDrivers(dd, DriverOptions{Exclude: exclude, MapExcluded: mapped}, behaviours)
	d.Outcome, d.Excluded, d.GapDays, d.WindowDays = lb.outcome, lb.excluded, gap, window
	return d, err
}

// readBehaviours fills dd's behaviour columns: everyone's behaviours per
// 30 days over the window before now's gap, except each positive's, over
// the window before its own outcome's gap.
func readBehaviours(ctx context.Context, st *store.Store, dd *driverData, lb *driverLabels, now time.Time, gap, window int) error {
	const day = 24 * time.Hour
	gapD, windowD := time.Duration(gap)*day, time.Duration(window)*day
	var windows []store.BehaviourWindow
	for i, p := range lb.positive {
		if p {
			windows = append(windows, store.BehaviourWindow{AccountID: lb.ids[i], From: lb.at[i].Add(-gapD - windowD), To: lb.at[i].Add(-gapD)})
		}
	}
	tab, err := st.BehaviourColumns(ctx, lb.ids, now.Add(-gapD-windowD), now.Add(-gapD), windows)
	if err != nil {
		return err
	}
	dd.measured = make([]bool, len(lb.ids))
	if len(tab.Names) > 0 {
		for i := range dd.measured {
			dd.measured[i] = true
		}
	}
	for j, name := range tab.Names {
		if slices.Contains(excludedBehaviours, name) {
			continue
		}
		v := make([]float64, len(lb.ids))
		for i, n := range tab.Counts[j] {
			if n != 0 {
				v[i] = float64(n) * 30 / float64(window)
			}
		}
		dd.behaviourNames = append(dd.behaviourNames, name)
		dd.behaviours = append(dd.behaviours, v)
	}
	return nil
}

// driverLabels are the accounts the outcome could be evaluated on, by
// subject, and their traits in columns.
type driverLabels struct {
	outcome  string
	memo     *outcomeMemo // evaluates the outcome
	keys     []string     // the traits the outcome reads by name
	only     bool         // and it reads nothing else of the account
	ids      []string
	positive []bool
	at       []time.Time // when the outcome first held (positives), or now
	updated  []time.Time
	excluded int
	traits   []*traitColumn
}

// labelDrivers evaluates the outcome on every account as LabelOutcomes
// does (an account where it cannot be evaluated is left out and counted),
// and reads the traits into columns on the way. Each account's traits are
// read once, by parseTraits; the condition sees only the traits it names
// (and id and name) when that is all it reads. Without cols (the
// backtest, which tests no trait) the traits are not kept.
//
// It also finds when the outcome first held for each positive, while it
// labels: the positives found so far are replayed a batch at a time on
// the other core (heldReplay). A positive's time is when the condition
// first held as its traits changed (replaying its group calls, keeping
// only the traits the outcome names when that is all it reads), or when
// the account was last updated if the replay never sees it hold.
func labelDrivers(ctx context.Context, st *store.Store, expr string, now time.Time, cols bool) (lb *driverLabels, err error) {
	if expr == "" {
		expr = DefaultOutcome
	}
	lb = &driverLabels{outcome: expr}
	prg, err := rules.Compile(expr)
	if err != nil {
		return lb, &OutcomeError{Field: "outcome", Err: err}
	}
	lb.keys, lb.only = prg.AccountKeys()
	named := func(k string) bool { return !lb.only || slices.Contains(lb.keys, k) }
	tc := newTraitCols()
	lb.memo = newOutcomeMemo(prg, lb.keys, lb.only, now)
	memo := lb.memo
	// The replay has a memo of its own: it runs beside the labelling.
	replay := lb.startReplay(ctx, st, newOutcomeMemo(prg, lb.keys, lb.only, now))
	defer func() {
		if ferr := replay.finish(lb); err == nil {
			err = ferr
		}
	}()
	var cells []traitCell
	vars := map[string]any{}
	put := func(cell traitCell) {
		for j := range cells {
			if cells[j].col == cell.col { // a key named twice: the last counts
				cells[j] = cell
				return
			}
		}
		cells = append(cells, cell)
	}
	err = st.AllAccountTraits(ctx, func(a store.AccountTraits) error {
		cells = cells[:0]
		clear(vars)
		ok := parseTraits(a.Traits, func(m traitMember) {
			if named(m.key) {
				vars[m.key] = m.value()
			}
			if !cols || m.key == "id" || m.key == "name" {
				return // never tested; conditions see the account's own
			}
			c := tc.column(m.key)
			cell := traitCell{col: c}
			switch m.kind {
			case 'n':
				cell.code, cell.num = codeNumber, m.num
			case 's':
				if m.str != "" {
					cell.code = c.level(m.str)
				}
			case 'b':
				if m.b {
					cell.code = c.level("true")
				} else {
					cell.code = c.level("false")
				}
			}
			put(cell)
		})
		if !ok {
			// What parseTraits does not read exactly as encoding/json
			// would, encoding/json reads.
			var traits map[string]any
			if err := json.Unmarshal([]byte(a.Traits), &traits); err != nil {
				return fmt.Errorf("account %q traits: %w", a.ID, err)
			}
			cells = cells[:0]
			clear(vars)
			for k, v := range traits {
				if named(k) {
					vars[k] = v
				}
				if cols && k != "id" && k != "name" {
					cells = append(cells, classify(tc.column(k), v))
				}
			}
		}
		vars["id"], vars["name"] = a.ID, a.Name
		pos, ok, err := memo.eval(ctx, vars)
		if err != nil {
			return err
		}
		if !ok {
			lb.excluded++
			return nil
		}
		tc.add(cells)
		if pos {
			replay.add(len(lb.ids), a.ID)
		}
		lb.ids = append(lb.ids, a.ID)
		lb.positive = append(lb.positive, pos)
		lb.at = append(lb.at, now)
		lb.updated = append(lb.updated, a.UpdatedAt)
		return nil
	})
	if err != nil {
		return lb, err
	}
	lb.traits = tc.done()
	return lb, nil
}

// replay replays the group calls of positives with memo and returns when
// the outcome first held for those the replay sees it hold.
func (lb *driverLabels) replay(ctx context.Context, st *store.Store, memo *outcomeMemo, positives []string) (map[string]time.Time, error) {
	var keep func(string) bool
	if lb.only {
		keep = func(k string) bool { return slices.Contains(lb.keys, k) }
	}
	at := map[string]time.Time{}
	_, err := replayFirstHeld(ctx, st, positives, keep, func(tr map[string]any) bool {
		pos, ok, err := memo.eval(ctx, tr)
		return err == nil && ok && pos
	}, func(id string, t time.Time) { at[id] = t })
	return at, err
}

// heldBatch is how many positives the labelling hands the replay at once
// (a variable for a test).
var heldBatch = 500

// heldReplay replays the positives' group calls while the labelling goes
// on (labelDrivers): the labelling adds each positive, and a
// goroutine replays them a batch at a time with a memo of its own.
type heldReplay struct {
	batch   []string
	index   []int // of batch's positives in the labels
	batches chan heldAsk
	done    chan heldFound
}

type heldAsk struct {
	ids   []string
	index []int
}

type heldFound struct {
	at  map[int]time.Time
	err error
}

func (lb *driverLabels) startReplay(ctx context.Context, st *store.Store, memo *outcomeMemo) *heldReplay {
	r := &heldReplay{batches: make(chan heldAsk, 4), done: make(chan heldFound, 1)}
	go func() {
		f := heldFound{at: map[int]time.Time{}}
		for ask := range r.batches {
			if f.err != nil {
				continue // drain
			}
			at, err := lb.replay(ctx, st, memo, ask.ids)
			f.err = err
			for n, id := range ask.ids {
				if t, ok := at[id]; ok {
					f.at[ask.index[n]] = t
				}
			}
		}
		r.done <- f
	}()
	return r
}

// add hands the replay the positive id, the i-th labelled account.
func (r *heldReplay) add(i int, id string) {
	r.batch = append(r.batch, id)
	r.index = append(r.index, i)
	if len(r.batch) >= heldBatch {
		r.batches <- heldAsk{r.batch, r.index}
		r.batch, r.index = nil, nil
	}
}

// finish waits for the replay and dates each positive: when the replay
// saw the outcome first hold, else when the account was last updated.
func (r *heldReplay) finish(lb *driverLabels) error {
	if len(r.batch) > 0 {
		r.batches <- heldAsk{r.batch, r.index}
	}
	close(r.batches)
	f := <-r.done
	if f.err != nil {
		return f.err
	}
	for i, p := range lb.positive {
		if !p {
			continue
		}
		lb.at[i] = lb.updated[i]
		if t, ok := f.at[i]; ok {
			lb.at[i] = t
		}
	}
	return nil
}

// outcomeMemo evaluates an outcome on accounts, once per distinct value
// of the traits it reads when that is all it reads (and not the id or the
// name): most outcomes read a trait or two with a handful of values, so
// 100,000 accounts need a handful of evaluations.
type outcomeMemo struct {
	prg  *rules.Program
	now  time.Time
	keys []string // the traits the outcome reads; nil when it cannot be memoised
	seen map[string]memoResult
	buf  []byte
}

type memoResult struct{ pos, ok bool }

func newOutcomeMemo(prg *rules.Program, keys []string, only bool, now time.Time) *outcomeMemo {
	m := &outcomeMemo{prg: prg, now: now, seen: map[string]memoResult{}}
	if only && !slices.Contains(keys, "id") && !slices.Contains(keys, "name") {
		m.keys = keys
	}
	return m
}

// eval evaluates the outcome on an account's traits (vars), as
// Program.Eval does: ok is false when it cannot be evaluated; err is set
// only when ctx ended.
func (m *outcomeMemo) eval(ctx context.Context, vars map[string]any) (pos, ok bool, err error) {
	key, memo := m.key(vars)
	if memo {
		if r, found := m.seen[string(key)]; found {
			return r.pos, r.ok, nil
		}
	}
	pos, evalErr := m.prg.Eval(ctx, rules.Vars{Account: vars, Now: m.now})
	if evalErr != nil && ctx.Err() != nil {
		return false, false, ctx.Err()
	}
	if memo {
		m.seen[string(key)] = memoResult{pos, evalErr == nil}
	}
	return pos, evalErr == nil, nil
}

// key encodes the values of the traits the outcome reads; memo is false
// when it cannot be memoised (it reads more, or a value is an object or a
// list).
func (m *outcomeMemo) key(vars map[string]any) (key []byte, memo bool) {
	if m.keys == nil {
		return nil, false
	}
	b := m.buf[:0]
	for _, k := range m.keys {
		switch v := vars[k].(type) {
		case nil:
			if _, present := vars[k]; present {
				b = append(b, '0')
			} else {
				b = append(b, 'x')
			}
		case float64:
			b = binary.LittleEndian.AppendUint64(append(b, 'n'), math.Float64bits(v))
		case bool:
			if v {
				b = append(b, 't')
			} else {
				b = append(b, 'f')
			}
		case string:
			b = binary.AppendUvarint(append(b, 's'), uint64(len(v)))
			b = append(b, v...)
		default:
			return nil, false
		}
	}
	m.buf = b
	return b, true
}
