package playbook

import (
	"context"
	"database/sql"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/store"
)

// A run started by an event (a trigger, in an ingest stage round) should
// show its first task at once, also while the server ingests thousands of
// other events a second. Handed to the job queue, the first step would
// wait for the dispatcher, River's fetch and five more transactions on
// SQLite's one writing connection, each queued behind the ingestion of
// background traffic. So when the first step creates a task, has no `when`
// guard and the engine runs here, LaunchTx runs it in the round's own
// transaction: the task, the step's outcome and the run's next step commit
// with the run and with the stages' progress past the event, exactly once
// as they are. A task step writes to the database only (no mail, no
// webhook), so the round is not held up by anything slow. Every other
// first step goes to the job queue, with the dispatcher kicked once the
// round has committed, when the step is there to find.

// due arranges for run's first step to be handed on and reports whether
// it ran it at once: inside an ingest stage round it is run in tx when it
// creates a task (see above), written done with the task and the run's
// next step, or else left to the caller to write as due, for the job
// queue once the round commits; in any other transaction the dispatcher
// is kicked, and the caller hands it over once its transaction has
// committed (Launch) or the dispatcher's next look does.
func (e *Engine) due(ctx context.Context, tx *sql.Tx, run store.Run, r RunRequest) (bool, error) {
	kick := func(context.Context) { e.kick() }
	if !store.AfterCommit(ctx, kick) {
		e.kick()
		return false, nil
	}
	// Not e.mu: Start holds it while the job queue migrates through the
	// writing connection that this round's transaction holds.
	if !e.running.Load() {
		return false, nil // no workers here: the dispatcher hands the step over once the engine starts
	}
	sc, ok := e.firstTask(ctx, r)
	if !ok {
		return false, nil
	}
	// The run as just inserted, and its first step as claimed: written
	// claimed at once rather than due and then claimed (one statement
	// fewer in the round for every run it starts, and no read of the run).
	sc.Run, sc.Attempt = run, 1
	out, err := runTask(ctx, sc)
	if err != nil {
		// Left due for the job queue, which retries it and records the
		// error on the run; the round goes on.
		return false, nil
	}
	a := stepArgs{RunID: run.ID, Step: 0, Gen: 1}
	now, lease := e.now(), e.wall().Add(e.cfg.StepLease)
	sc.Row = store.RunStep{ID: store.StepRowID(run.ID, 0), RunID: run.ID, AccountID: run.AccountID, Status: store.StepRunning,
		Gen: 1, DueAt: &lease, Attempts: 1, CreatedAt: now, StartedAt: &now, UpdatedAt: now}
	if _, err := e.st.InsertStepTx(ctx, tx, sc.Row); err != nil {
		return false, err
	}
	_, err = e.commitTx(ctx, tx, sc, a, out)
	return err == nil, err
}

// firstTask returns the context of the run's first step when it is a task
// step without a guard, run by the built-in runner.
func (e *Engine) firstTask(ctx context.Context, r RunRequest) (*StepContext, bool) {
	if _, own := e.steps[journey.StepTask]; own {
		return nil, false
	}
	m, err := e.journey.Version(ctx, r.MapVersion)
	if err != nil {
		return nil, false
	}
	for i := range m.Moments {
		mo := &m.Moments[i]
		if mo.ID != r.MomentID {
			continue
		}
		if len(mo.Playbook) == 0 || mo.Playbook[0].Kind != journey.StepTask || mo.Playbook[0].When != "" {
			return nil, false
		}
		st := mo.Playbook[0]
		return &StepContext{Map: m, Moment: mo, Step: st, Index: 0, Key: stepKey(st, 0), e: e}, true
	}
	return nil, false
}
