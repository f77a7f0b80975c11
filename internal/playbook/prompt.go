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

// due hands run id's first step, written as due in tx, on: inside an
// ingest stage round it is run in tx when it creates a task (see above)
// or handed to the queue once the round commits; in any other transaction
// the dispatcher is kicked, and the caller hands it over once its
// transaction has committed (Launch) or the dispatcher's next look does.
func (e *Engine) due(ctx context.Context, tx *sql.Tx, id string, r RunRequest) error {
	kick := func(context.Context) { e.kick() }
	if !store.AfterCommit(ctx, kick) {
		e.kick()
		return nil
	}
	// Not e.mu: Start holds it while the job queue migrates through the
	// writing connection that this round's transaction holds.
	if !e.running.Load() {
		return nil // no workers here: the dispatcher hands the step over once the engine starts
	}
	sc, ok := e.firstTask(ctx, r)
	if !ok {
		return nil
	}
	var err error
	if sc.Run, err = e.st.RunTx(ctx, tx, id); err != nil {
		return err
	}
	sc.Attempt = 1
	out, err := runTask(ctx, sc)
	if err != nil {
		// Left due for the job queue, which retries it and records the
		// error on the run; the round goes on.
		return nil
	}
	a := stepArgs{RunID: id, Step: 0, Gen: 1}
	row, claimed, err := e.st.ClaimStepTx(ctx, tx, a.lease(), e.now(), e.wall().Add(e.cfg.StepLease))
	if err != nil || !claimed {
		return err
	}
	sc.Row = row
	_, err = e.commitTx(ctx, tx, sc, a, out)
	return err
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
