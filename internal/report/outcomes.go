package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/moments-cs/moments/internal/health/tracker"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/vocab"
)

// DefaultOutcome is the outcome asked about when none is given: the
// account churned.
const DefaultOutcome = `account.lifecycle_stage == "churned"`

// Defaults of the outcome analyses.
const (
	// DefaultGapDays is how long before an outcome behaviours stop being
	// counted, so that the last weeks (a cancellation call, the export of
	// their data) do not "predict" what already happened.
	DefaultGapDays = 30
	// DefaultWindowDays is how many days of behaviour before the gap are
	// counted.
	DefaultWindowDays = 90
	// DefaultHorizonDays is how long before an outcome the backtest reads
	// the score.
	DefaultHorizonDays = 60
	// MaxHorizonDays bounds the horizon and the gap: beyond a year the
	// events needed are rarely kept.
	MaxHorizonDays = 365
)

// OutcomeError says the outcome condition cannot be used; Field names the
// request parameter.
type OutcomeError struct {
	Field string
	Err   error
}

func (e *OutcomeError) Error() string { return fmt.Sprintf("%s: %v", e.Field, e.Err) }
func (e *OutcomeError) Unwrap() error { return e.Err }

// OutcomeQuery asks about an outcome.
type OutcomeQuery struct {
	// Outcome is a CEL condition over account; "" means DefaultOutcome.
	Outcome string
	// HorizonDays (backtest, calibration), GapDays and WindowDays
	// (drivers); negative values are refused, 0 takes the default except
	// for the horizon, where 0 means "the scores as they stand now".
	HorizonDays int
	GapDays     int
	WindowDays  int
	Now         time.Time
}

// Labelled is an account and its outcome.
type Labelled struct {
	AccountID string
	Positive  bool
	// At is when the outcome first held (positives), or the query's now.
	At time.Time
}

// Labels are the accounts an outcome could be evaluated on.
type Labels struct {
	Outcome string
	Rows    []Labelled
	// Excluded counts the accounts where the outcome could not be
	// evaluated (it reads a trait they do not have).
	Excluded int
	// NotYet counts the accounts left out of a backtest or calibration
	// because they had sent no event by the time they were to be scored.
	NotYet int
}

// LabelOutcomes evaluates the outcome on every account: true is a
// positive, false a negative, and an account where it cannot be evaluated
// is left out and counted. A positive's time is when the condition first
// held as its traits changed (replaying its group calls), or when the
// account was last updated if the replay never sees it hold. It labels as
// the drivers report does (labelDrivers), without keeping the traits.
func LabelOutcomes(ctx context.Context, st *store.Store, expr string, now time.Time) (Labels, error) {
	dl, err := labelDrivers(ctx, st, expr, now, false)
	lb := Labels{Outcome: dl.outcome}
	if err != nil {
		return lb, err
	}
	lb.Excluded = dl.excluded
	lb.Rows = make([]Labelled, len(dl.ids))
	for i, id := range dl.ids {
		lb.Rows[i] = Labelled{AccountID: id, Positive: dl.positive[i], At: dl.at[i]}
	}
	return lb, nil
}

// replayFirstHeld replays the positives' group calls in order and calls held
// with the time the outcome (holds, on the traits replayed so far, those
// keep accepts when keep is set) first held for each; it returns the
// accounts it was called for. For the others the replay never saw it
// hold (the outcome came from an import, say): callers date them by the
// account's last update.
func replayFirstHeld(ctx context.Context, st *store.Store, positives []string, keep func(string) bool,
	holds func(map[string]any) bool, held func(id string, at time.Time)) (map[string]bool, error) {
	replay := map[string]map[string]any{}
	found := map[string]bool{}
	var members []traitMember
	err := st.AccountTraitHistoryRaw(ctx, positives, func(c store.RawTraitChange) error {
		if found[c.AccountID] {
			return nil
		}
		tr := replay[c.AccountID]
		if tr == nil {
			tr = map[string]any{"id": c.AccountID}
			replay[c.AccountID] = tr
		}
		set := func(k string, v any) {
			switch {
			case keep != nil && !keep(k):
			case v == nil:
				delete(tr, k)
			default:
				tr[k] = v
			}
		}
		// The traits are read as encoding/json would decode them (a
		// member named twice: the last counts), and only those kept are
		// decoded; what parseTraits does not read, encoding/json does.
		members = members[:0]
		if parseTraits(c.Traits, func(m traitMember) {
			if keep == nil || keep(m.key) {
				members = append(members, m)
			}
		}) {
			for _, m := range members {
				set(m.key, m.value())
			}
		} else {
			var traits map[string]any
			if err := json.Unmarshal([]byte(c.Traits), &traits); err != nil {
				return nil // a group call's traits are always an object; skip what is not
			}
			for k, v := range traits {
				set(k, v)
			}
		}
		if holds(tr) {
			found[c.AccountID] = true
			held(c.AccountID, c.At)
		}
		return nil
	})
	return found, err
}

var traitRef = regexp.MustCompile(`account\s*\.\s*\??([A-Za-z_][A-Za-z0-9_]*)|account\s*\[\s*"([^"]+)"\s*\]`)

// outcomeTraits lists the traits an outcome condition reads: the drivers
// report never tests them against the outcome they define.
func outcomeTraits(expr string) []string {
	var out []string
	for _, m := range traitRef.FindAllStringSubmatch(expr, -1) {
		name := m[1]
		if name == "" {
			name = m[2]
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

func dayParam(q int, def int, field string) (int, error) {
	switch {
	case q < 0 || q > MaxHorizonDays:
		return 0, &OutcomeError{Field: field, Err: fmt.Errorf("%d days is out of range; use 0 to %d", q, MaxHorizonDays)}
	case q == 0:
		return def, nil
	}
	return q, nil
}

// excludedBehaviours are events Moments records itself or that record an
// outcome rather than a behaviour.
var excludedBehaviours = []string{vocab.EventMilestoneReached, "Churned", "Account Churned", "Renewed", "Account Renewed"}

// scoredAccounts labels the accounts and scores each as it stood horizon
// before its outcome (negatives: before now), and each positive
// FlaggedBeforeDays before its outcome.
func scoredAccounts(ctx context.Context, st *store.Store, tr *tracker.Tracker, q OutcomeQuery) ([]Scored, Labels, int, error) {
	if q.HorizonDays < 0 || q.HorizonDays > MaxHorizonDays {
		return nil, Labels{}, 0, &OutcomeError{Field: "horizon", Err: fmt.Errorf("%d days is out of range; use 0 to %d", q.HorizonDays, MaxHorizonDays)}
	}
	const day = 24 * time.Hour
	horizon := time.Duration(q.HorizonDays) * day
	// The negatives' day (now − horizon) is read while the outcomes are
	// labelled.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type dayRead struct {
		ds  *tracker.DayScores
		err error
	}
	ahead := make(chan dayRead, 1)
	go func() {
		ds, err := tr.ScoresOnDay(ctx, q.Now.Add(-horizon))
		ahead <- dayRead{ds, err}
	}()
	lb, err := LabelOutcomes(ctx, st, q.Outcome, q.Now)
	if err != nil {
		return nil, lb, 0, err
	}
	// The positives' own days (a few accounts each, read by key) are read
	// while the negatives' day is still being read, on the other core.
	var pos, neg []int
	for i, r := range lb.Rows {
		if r.Positive {
			pos = append(pos, i)
		} else {
			neg = append(neg, i)
		}
	}
	asked := func(which []int) ([]string, [][]time.Time) {
		ids := make([]string, len(which))
		at := make([][]time.Time, len(which))
		for n, i := range which {
			r := lb.Rows[i]
			ids[n] = r.AccountID
			if r.Positive {
				at[n] = []time.Time{r.At.Add(-horizon), r.At.Add(-FlaggedBeforeDays * day)}
			} else {
				at[n] = []time.Time{r.At.Add(-horizon)}
			}
		}
		return ids, at
	}
	type pastRead struct {
		scores [][]tracker.PastScore
		err    error
	}
	posRead := make(chan pastRead, 1)
	go func() {
		ids, at := asked(pos)
		scores, _, err := tr.PastScores(ctx, ids, at, nil)
		posRead <- pastRead{scores, err}
	}()
	read := <-ahead
	if read.err != nil {
		return nil, lb, 0, read.err
	}
	ids, at := asked(neg)
	negScores, _, err := tr.PastScores(ctx, ids, at, read.ds)
	if err != nil {
		return nil, lb, 0, err
	}
	pr := <-posRead
	if pr.err != nil {
		return nil, lb, 0, pr.err
	}
	scores := make([][]tracker.PastScore, len(lb.Rows))
	for n, i := range pos {
		scores[i] = pr.scores[n]
	}
	for n, i := range neg {
		scores[i] = negScores[n]
	}
	rows := make([]Scored, 0, len(lb.Rows))
	for i, r := range lb.Rows {
		s := scores[i]
		if !s[0].Active {
			// Not yet a customer (no event) at the time to score: a score
			// of 0 then says nothing about its outcome.
			lb.NotYet++
			continue
		}
		row := Scored{AccountID: r.AccountID, Positive: r.Positive, At: r.At, Score: s[0].Result, Warnings: s[0].Warnings}
		if len(s) > 1 && s[1].Active {
			row.Early, row.EarlyWarnings = &s[1].Result, s[1].Warnings
		}
		rows = append(rows, row)
	}
	return rows, lb, q.HorizonDays, nil
}

// BacktestReport runs the backtest on the stored accounts and events.
func BacktestReport(ctx context.Context, st *store.Store, tr *tracker.Tracker, q OutcomeQuery) (Backtest, error) {
	rows, lb, h, err := scoredAccounts(ctx, st, tr, q)
	if err != nil {
		return Backtest{}, err
	}
	b, err := ComputeBacktest(rows)
	b.Outcome, b.Horizon, b.Excluded, b.NotYet = lb.Outcome, h, lb.Excluded, lb.NotYet
	return b, err
}

// CalibrationReport proposes weights fitted to the stored outcomes.
func CalibrationReport(ctx context.Context, st *store.Store, tr *tracker.Tracker, q OutcomeQuery) (Calibration, error) {
	rows, lb, h, err := scoredAccounts(ctx, st, tr, q)
	if err != nil {
		return Calibration{}, err
	}
	model, err := tr.Model(ctx)
	if err != nil {
		return Calibration{}, err
	}
	c, err := Calibrate(rows, model)
	c.Outcome, c.Horizon, c.Excluded, c.NotYet = lb.Outcome, h, lb.Excluded, lb.NotYet
	return c, err
}

// IsBadRequest says whether err is the caller's mistake (a bad outcome,
// horizon or gap), as opposed to a failure.
func IsBadRequest(err error) bool {
	var oe *OutcomeError
	return errors.As(err, &oe)
}

// mapExcludedTraits returns the traits the live journey map excludes from
// the drivers report; none when no map is applied.
func mapExcludedTraits(ctx context.Context, st *store.Store) ([]string, error) {
	m, _, err := journey.NewLive(st).Get(ctx)
	if errors.Is(err, journey.ErrNoMap) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return m.Health.Drivers.ExcludeTraits, nil
}
