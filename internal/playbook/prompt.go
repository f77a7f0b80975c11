package playbook

import (
	"context"

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

// due arranges for a run's first step, just written in a transaction, to
// be handed on: inside an ingest stage round the dispatcher is kicked once
// the round has committed, when the step is there to find; in any other
// transaction at once, and the caller hands it over once its transaction
// has committed (Launch) or the dispatcher's next look does.
func (e *Engine) due(ctx context.Context) {
	if !store.AfterCommit(ctx, func(context.Context) { e.kick() }) {
		e.kick()
	}
}

// prompt says whether run's first step is run at once, inside the ingest
// stage round that starts the run (see above), and if so returns its
// context, with the step row to write claimed (sc.Row), and its outcome:
// the caller writes the step claimed rather than due and then claimed,
// and records the outcome in the round's transaction (commitTx).
func (e *Engine) prompt(ctx context.Context, run store.Run, r RunRequest) (*StepContext, Outcome, bool) {
	if !store.InStageRound(ctx) {
		return nil, Outcome{}, false // not in a round
	}
	// Not e.mu: Start holds it while the job queue migrates through the
	// writing connection that this round's transaction holds.
	if !e.running.Load() {
		return nil, Outcome{}, false // no workers here: the dispatcher hands the step over once the engine starts
	}
	sc, ok := e.firstTask(ctx, r)
	if !ok {
		return nil, Outcome{}, false
	}
	sc.Run, sc.Attempt = run, 1
	out, err := runTask(ctx, sc)
	if err != nil {
		// Left due for the job queue, which retries it and records the
		// error on the run; the round goes on.
		return nil, Outcome{}, false
	}
	now, lease := e.now(), e.wall().Add(e.cfg.StepLease)
	sc.Row = store.RunStep{ID: store.StepRowID(run.ID, 0), RunID: run.ID, AccountID: run.AccountID, Status: store.StepRunning,
		Gen: 1, DueAt: &lease, Attempts: 1, CreatedAt: now, StartedAt: &now, UpdatedAt: now}
	return sc, out, true
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
