package playbook

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/moments-cs/moments/internal/store"
)

// Recovery after a crash. River, left to itself, retries a job whose
// process died only when its rescuer finds the job "running" for longer
// than RescueStuckJobsAfter — minutes, because River cannot tell a dead
// worker from a slow one, and a rescue that is too early runs a live step
// twice. The engine does not wait for it: each step a worker claims is
// leased to that worker's process (store.ClaimStep), the process renews
// the leases of the steps it is carrying out every third of
// Config.StepLease, and the sweep makes a step whose lease ran out due
// again under a new generation. The new generation fences the old worker
// out — it can neither renew nor record an outcome — so a step's database
// effects still commit once, and a worker that finds its lease lost is
// cancelled at once. River's own job for the old generation stays
// "running" until River's rescuer retries it; it then finds its generation
// superseded and does nothing.

// errLeaseLost cancels a step whose lease ran out while it was running.
var errLeaseLost = errors.New("this server lost its lease on the step (it could not renew it in time); another server runs it")

// leases are the steps this process is carrying out.
type leases struct {
	mu   sync.Mutex
	held map[store.StepLease]context.CancelCauseFunc
	// lastOrphanCheck is when running jobs were last compared with their
	// steps (recoverAbandoned); lastRenewal is when the leases held were
	// last renewed.
	lastOrphanCheck, lastRenewal time.Time
}

// hold records that this process carries out step a, until release is
// called; the returned context is cancelled if the lease is lost.
func (e *Engine) hold(ctx context.Context, a stepArgs) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	l := a.lease()
	e.leases.mu.Lock()
	if e.leases.held == nil {
		e.leases.held = map[store.StepLease]context.CancelCauseFunc{}
	}
	e.leases.held[l] = cancel
	e.leases.mu.Unlock()
	return ctx, func() {
		e.leases.mu.Lock()
		delete(e.leases.held, l)
		e.leases.mu.Unlock()
		cancel(nil)
	}
}

// leaseLoop renews the leases of the steps this process carries out every
// third of StepLease until ctx ends.
func (e *Engine) leaseLoop(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(e.cfg.StepLease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.renewLeases(ctx)
		}
	}
}

func (e *Engine) renewLeases(ctx context.Context) {
	e.leases.mu.Lock()
	steps := make([]store.StepLease, 0, len(e.leases.held))
	for l := range e.leases.held {
		steps = append(steps, l)
	}
	e.leases.mu.Unlock()
	if len(steps) == 0 {
		return
	}
	start := e.wall()
	lost, err := e.st.RenewStepLeases(ctx, steps, start.Add(e.cfg.StepLease))
	if err != nil {
		if ctx.Err() == nil {
			e.log.Warn("could not renew the leases of running playbook steps; will try again", "steps", len(steps), "err", err)
		}
		return
	}
	e.leases.mu.Lock()
	defer e.leases.mu.Unlock()
	e.leases.lastRenewal = start
	for _, l := range lost {
		// A step that finished between the two locks is no longer held;
		// one still held was recovered by another server.
		if cancel, ok := e.leases.held[l]; ok {
			e.log.Warn("a playbook step ran past its lease and runs again elsewhere; stopping it here",
				"run", l.RunID, "step", l.Index+1)
			cancel(errLeaseLost)
		}
	}
}

// recoverAbandoned makes due again the steps whose server stopped while
// carrying them out: running steps whose lease ran out, and — checked every
// third of StepLease — steps whose job a worker took but never claimed
// (the process died between the two).
func (e *Engine) recoverAbandoned(ctx context.Context, now time.Time) error {
	// Renew this process's own leases first if a renewal is overdue:
	// after a pause (a long transaction holding SQLite's writer, say) they
	// may look expired, and it must not take its own live steps for
	// abandoned.
	e.leases.mu.Lock()
	overdue := e.wall().Sub(e.leases.lastRenewal) > e.cfg.StepLease/3
	e.leases.mu.Unlock()
	if overdue {
		e.renewLeases(ctx)
	}
	wall := e.wall()
	n, err := e.st.RecoverAbandonedSteps(ctx, wall, now)
	if err != nil {
		return err
	}
	if n > 0 {
		e.log.Warn("playbook steps abandoned by a stopped server run again", "steps", n)
	}
	e.mu.Lock()
	q := e.q
	e.mu.Unlock()
	e.leases.mu.Lock()
	due := wall.Sub(e.leases.lastOrphanCheck) >= e.cfg.StepLease/3
	if due {
		e.leases.lastOrphanCheck = wall
	}
	e.leases.mu.Unlock()
	if q == nil || !due {
		return nil
	}
	jobs, err := q.running(ctx)
	if err != nil {
		return err
	}
	// A worker claims its step milliseconds after the queue hands it the
	// job; one that has not after a whole lease is gone (or fenced out
	// now, if it was only stalled).
	cutoff := wall.Add(-e.cfg.StepLease)
	revived := 0
	for _, j := range jobs {
		if j.attemptedAt.After(cutoff) {
			continue
		}
		ok, err := e.st.RedispatchUnclaimed(ctx, store.StepLease{RunID: j.args.RunID, Index: j.args.Step, Gen: j.args.Gen}, now)
		if err != nil {
			return err
		}
		if ok {
			revived++
		}
	}
	if revived > 0 {
		e.log.Warn("playbook steps taken by a stopped server before it started them run again", "steps", revived)
	}
	return nil
}
