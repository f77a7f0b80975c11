package playbook

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/store"
)

// runStep runs one generation of one step: the body of a River job. It
// returns nil when the step's outcome is recorded (or another worker
// recorded it), a *permanentError when the step failed for good (recorded
// too), and any other error for the job queue to retry.
//
// When the step's outcome makes the run's next step due at once, the
// worker claims that step in the same transaction and runs it here too,
// and so on along the run (a chain), instead of handing each step to the
// job queue: a step handed over costs the queue's insert, the dispatch
// mark, the queue's fetch, the claim and the job's completion, each a
// transaction of its own. A step claimed so is leased to this process like
// any claimed step, so a crash leaves it to the lease's recovery; exactly
// once and the order of a run's steps are those of the claims and
// generations, as before. A chain ends at a wait, at the run's end, when
// the engine stops, or after chainBudget, when the next step is handed to
// the job queue as before.
func (e *Engine) runStep(ctx context.Context, a stepArgs, attempt, maxAttempts int) error {
	row, ok, err := e.st.ClaimStep(ctx, a.lease(), e.now(), e.wall().Add(e.cfg.StepLease))
	if err != nil || !ok {
		return err
	}
	until := time.Now().Add(chainBudget)
	next, err := e.runClaimed(ctx, a, row, attempt, maxAttempts, until, false)
	for err == nil && next != nil {
		// A chained step that fails is handed to the job queue (or, failed
		// for good, recorded so); the job that ran the chain has done its
		// own step.
		next, _ = e.runClaimed(ctx, next.args, next.row, 1, maxAttempts, until, true)
	}
	return err
}

// chainBudget bounds how long one job goes on running the steps of its
// run that fall due at once (runStep).
const chainBudget = 10 * time.Second

// claimed is a step claimed by the transaction that recorded the one
// before it (runStep's chain).
type claimed struct {
	args stepArgs
	row  store.RunStep
}

// runClaimed runs a step generation this process has claimed (row) and
// records how it ended; it returns the run's next step when it claimed it
// too (before until), to run at once. chained says the step was claimed
// so, with no job of its own: its try is the step's first attempt, and when
// it fails and may be tried again it is handed to the job queue for the rest
// of its attempts, after the delay of a first failure (stepArgs.Tried).
func (e *Engine) runClaimed(ctx context.Context, a stepArgs, row store.RunStep, attempt, maxAttempts int, until time.Time, chained bool) (*claimed, error) {
	// The step is leased to this process until it records how it ended;
	// ctx ends early if the lease is lost (lease.go).
	ctx, release := e.hold(ctx, a)
	defer release()
	run, err := e.st.RunTx(ctx, e.db, a.RunID)
	if err != nil {
		return nil, fmt.Errorf("read run %s: %w", a.RunID, err)
	}
	sc := &StepContext{Run: run, Row: row, Index: a.Step, Key: fmt.Sprint(a.Step + 1), Attempt: attempt, Wake: row.Wake, e: e}
	out, err := e.prepare(ctx, sc)
	if err == nil && out == nil {
		var o Outcome
		o, err = e.execute(ctx, sc)
		out = &o
	}
	// The step's bookkeeping outlives a cancelled step (a shutdown that
	// ran out of time, a lost lease): work done is recorded rather than
	// repeated, and a failure is recorded so the retry can claim the step.
	// A step whose lease was lost records nothing: its generation is
	// superseded.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var next *claimed
	if err == nil {
		chain := ctx.Err() == nil && e.running.Load() && time.Now().Before(until)
		next, err = e.commit(bctx, sc, a, *out, chain)
	}
	if err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, errLeaseLost) {
			err = cause
		}
		if !chained || errors.Is(err, errLeaseLost) {
			return nil, e.recordError(bctx, sc, a, err, attempt, maxAttempts)
		}
		// A step of a chain has no job to try it again: unless it failed
		// for good, it is handed to the job queue with its attempt counted,
		// whose job runs after the delay of a first failure. It is due
		// again after that delay, so that the dispatcher does not hand it
		// over a second time (with a whole set of attempts) meanwhile; or
		// at once when the engine is stopping and cannot hand it over, so
		// that the dispatcher runs it again after the restart.
		retryAt := e.now().Add(e.cfg.RetryDelay(attempt))
		if !e.running.Load() {
			retryAt = e.now()
		}
		err = e.failAttempt(bctx, sc, a, err, attempt, maxAttempts, retryAt)
		var perm *permanentError
		if !errors.As(err, &perm) {
			e.handOffArgs(bctx, stepArgs{RunID: a.RunID, Step: a.Step, Gen: a.Gen, Tried: attempt})
		}
		return nil, err
	}
	return next, nil
}

// prepare loads the step's definition from the run's map version and
// applies its when guard; a non-nil Outcome ends the step without running
// it.
func (e *Engine) prepare(ctx context.Context, sc *StepContext) (*Outcome, error) {
	m, err := e.journey.Version(ctx, sc.Run.MapVersion)
	if errors.Is(err, store.ErrNotFound) {
		return nil, Permanentf("journey map version %d, which started this run, does not exist", sc.Run.MapVersion)
	}
	if err != nil {
		return nil, err
	}
	sc.Map = m
	for i := range m.Moments {
		if m.Moments[i].ID == sc.Run.MomentID {
			sc.Moment = &m.Moments[i]
		}
	}
	if sc.Moment == nil {
		return nil, Permanentf("moment %q is not in journey map version %d, which started this run", sc.Run.MomentID, sc.Run.MapVersion)
	}
	if sc.Index >= len(sc.Moment.Playbook) {
		return &Outcome{Status: store.StepSkipped, Summary: "the moment's playbook has no steps", Next: journey.StepEnd}, nil
	}
	sc.Step = sc.Moment.Playbook[sc.Index]
	sc.Key = stepKey(sc.Step, sc.Index)
	first := sc.Wake == "" || sc.Wake == "retry"
	if first && sc.Step.When != "" && sc.Step.Kind != journey.StepBranch {
		ok, err := sc.Condition(ctx, sc.Step.When)
		if err != nil {
			return nil, err
		}
		if !ok {
			return &Outcome{Status: store.StepSkipped, Summary: "skipped: its condition did not hold (" + sc.Step.When + ")"}, nil
		}
	}
	return nil, nil
}

func (e *Engine) execute(ctx context.Context, sc *StepContext) (Outcome, error) {
	r, ok := e.steps[sc.Step.Kind]
	if !ok {
		r, ok = runnerFor(sc.Step.Kind)
	}
	if !ok {
		return Outcome{}, Permanentf("%s steps are not available in this version of Moments", sc.Step.Kind)
	}
	return r.Run(ctx, sc)
}

// commit records the outcome, its writes and the run's next step in one
// transaction, guarded by the step's generation: of two workers that ran
// the same step (a job rescued while still running), only one commits.
// With chain, a next step that is due at once is claimed in the same
// transaction and returned, for the caller to run; otherwise it is handed
// to the job queue once the transaction has committed.
func (e *Engine) commit(ctx context.Context, sc *StepContext, a stepArgs, out Outcome, chain bool) (*claimed, error) {
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	next, err := e.commitTx(ctx, tx, sc, a, out)
	if err != nil || next < 0 {
		return nil, err
	}
	due := out.Status != store.StepWaiting && next < len(sc.playbook())
	var c *claimed
	if due && chain {
		// The step commitTx wrote as due, generation 1 (handOff's too).
		na := stepArgs{RunID: a.RunID, Step: next, Gen: 1}
		row, ok, err := e.st.ClaimStepTx(ctx, tx, na.lease(), e.now(), e.wall().Add(e.cfg.StepLease))
		if err != nil {
			return nil, err
		}
		if ok {
			c = &claimed{args: na, row: row}
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	if due && c == nil {
		e.handOff(ctx, a.RunID, next, 1)
	}
	return c, nil
}

// commitTx writes what commit records through tx and returns the index of
// the run's next step (len of the playbook when the run ended), or -1 when
// another worker recorded the step and nothing was written.
func (e *Engine) commitTx(ctx context.Context, tx *sql.Tx, sc *StepContext, a stepArgs, out Outcome) (int, error) {
	now := e.now()
	if out.Status == "" {
		out.Status = store.StepDone
	}
	next := len(sc.playbook())
	if out.Status != store.StepWaiting {
		target := out.Next
		if target == "" {
			target = sc.Step.Next
		}
		var err error
		if next, err = indexOf(sc.playbook(), target, sc.Index); err != nil {
			return -1, err
		}
	}
	if out.Writes != nil {
		if err := out.Writes(ctx, tx); err != nil {
			return -1, err
		}
	}
	res := store.StepResult{Status: out.Status, Key: sc.Key, Kind: sc.Step.Kind, Outcome: out.Summary}
	if out.Status == store.StepWaiting {
		if !out.WaitUntil.IsZero() {
			u := out.WaitUntil
			res.DueAt = &u
		}
		res.WaitEvent = out.WaitEvent
	} else if next < len(sc.playbook()) {
		res.Next = stepKey(sc.playbook()[next], next)
	} else {
		res.Next = journey.StepEnd
	}
	var nextStep *store.RunStep
	run := store.RunState{Status: store.RunRunning, Current: res.Next}
	switch {
	case out.Status == store.StepWaiting:
		run = store.RunState{Status: store.RunWaiting, Current: sc.Key}
	case next >= len(sc.playbook()):
		run = store.RunState{Status: store.RunDone}
	default:
		nextStep = &store.RunStep{RunID: a.RunID, Index: next, Key: res.Next, Kind: sc.playbook()[next].Kind,
			AccountID: sc.Run.AccountID, Status: store.StepDue, DueAt: &now, CreatedAt: now}
	}
	ok, err := e.st.AdvanceRunTx(ctx, tx, a.lease(), res, nextStep, run, now)
	if err != nil || !ok {
		return -1, err
	}
	return next, nil
}

func (sc *StepContext) playbook() []journey.Step {
	if sc.Moment == nil {
		return nil
	}
	return sc.Moment.Playbook
}

// recordError records a failed attempt: for good when the error is
// permanent or the attempts are spent (the step and the run are marked
// failed, and the error returned is permanent), otherwise as the step's
// last error while the job queue retries.
func (e *Engine) recordError(ctx context.Context, sc *StepContext, a stepArgs, cause error, attempt, maxAttempts int) error {
	now := e.now()
	return e.failAttempt(ctx, sc, a, cause, attempt, maxAttempts, now.Add(e.cfg.RetryDelay(attempt)))
}

// failAttempt is recordError with the time the step is due again when it
// will be tried again (retryAt).
func (e *Engine) failAttempt(ctx context.Context, sc *StepContext, a stepArgs, cause error, attempt, maxAttempts int, retryAt time.Time) error {
	now := e.now()
	var perm *permanentError
	final := errors.As(cause, &perm) || attempt >= maxAttempts
	msg := cause.Error()
	if !final {
		msg = fmt.Sprintf("%s (attempt %d of %d; trying again in %s)", msg, attempt, maxAttempts,
			e.cfg.RetryDelay(attempt).Round(1e9))
		e.log.Warn("playbook step failed; will retry", "run", a.RunID, "step", sc.Key, "attempt", attempt, "err", cause)
		if err := e.st.NoteStepError(ctx, a.lease(), store.StepError{Key: sc.Key, Kind: sc.Step.Kind, Message: msg, At: now, RetryAt: retryAt}); err != nil {
			return errors.Join(cause, err)
		}
		return cause
	}
	if perm == nil {
		msg = fmt.Sprintf("%s (gave up after %d attempts; retry the step once the cause is fixed)", msg, attempt)
	}
	e.log.Error("playbook step failed", "run", a.RunID, "step", sc.Key, "attempt", attempt, "err", cause)
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	ok, err := e.st.FinishStepTx(ctx, tx, a.lease(),
		store.StepResult{Status: store.StepFailed, Key: sc.Key, Kind: sc.Step.Kind, Error: msg}, now)
	if err != nil || !ok {
		return err
	}
	if err := e.st.UpdateRunTx(ctx, tx, a.RunID, store.RunState{Status: store.RunFailed, Current: sc.Key, Error: "step " + sc.Key + " failed: " + msg}, now); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	return Permanent(cause)
}

// RetryStep runs a failed step of a run again. step is the step's id in
// the map, or its position from 1.
func (e *Engine) RetryStep(ctx context.Context, runID, step string) error {
	steps, err := e.st.RunStepsTx(ctx, e.db, runID)
	if err != nil {
		return err
	}
	for _, st := range steps {
		if st.Key == step || fmt.Sprint(st.Index+1) == step {
			if err := e.st.RetryStep(ctx, runID, st.Index, e.now()); err != nil {
				return err
			}
			e.kick()
			return nil
		}
	}
	return fmt.Errorf("%w: run %s has no step %q", store.ErrNotFound, runID, step)
}
