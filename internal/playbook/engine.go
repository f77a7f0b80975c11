package playbook

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moments-cs/moments/internal/defaults"
	"github.com/moments-cs/moments/internal/health"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/notify"
	"github.com/moments-cs/moments/internal/store"
)

// Options assemble an Engine.
type Options struct {
	Store   *store.Store
	Journey *journey.Live
	Config  Config
	Logger  *slog.Logger
	// Now is the clock of runs, waits, due dates and escalations; default
	// time.Now (UTC). Tests drive it and call Sweep.
	Now func() time.Time
	// Health, when set, returns the health variables of an account for
	// conditions (branch, when); default the health tracker's stored state
	// (store.AccountHealth).
	Health func(ctx context.Context, accountID string) (map[string]any, error)
	// Steps are step kinds this engine runs besides the registered ones
	// (RegisterStep), such as survey steps run by an installation's survey
	// service; they take precedence over a registered runner of the kind.
	Steps map[string]StepRunner
}

// Engine runs playbooks: it starts runs exactly once per occurrence, hands
// due steps to the durable job queue, runs them through the step kinds'
// runners, wakes waits, and escalates overdue tasks.
type Engine struct {
	st      *store.Store
	db      *sql.DB
	journey *journey.Live
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	// wall is the clock of step leases: liveness is real time, whatever
	// clock runs the playbooks.
	wall   func() time.Time
	health func(ctx context.Context, accountID string) (map[string]any, error)
	mailer *notify.Mailer
	sender *notify.Sender
	steps  map[string]StepRunner

	kicks chan struct{}
	// running is whether the workers run (between Start and Stop).
	running atomic.Bool
	mu      sync.Mutex
	// sweepMu serialises Sweep between the loop and tests.
	sweepMu sync.Mutex
	q       queue
	stop    context.CancelFunc
	done    chan struct{}
	// lastEscalation is when overdue tasks were last checked.
	lastEscalation time.Time
	// leases are the steps this process carries out (lease.go); leaseStop
	// and leaseDone stop their renewal.
	leases    leases
	leaseStop context.CancelFunc
	leaseDone chan struct{}
}

// New builds an engine; start its workers with Start. Its ingest stage,
// OnIngest, is registered by internal/app with the others, in order.
func New(o Options) (*Engine, error) {
	if o.Store == nil || o.Journey == nil {
		return nil, errors.New("playbook engine needs the store and the live journey map")
	}
	cfg := o.Config.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{st: o.Store, db: o.Store.DB(), journey: o.Journey, cfg: cfg, log: o.Logger, now: o.Now,
		health: o.Health, kicks: make(chan struct{}, 1), wall: time.Now, steps: o.Steps}
	e.log, e.now = defaults.Logger(e.log), defaults.Clock(e.now)
	if e.health == nil {
		// The health tracker's stored state, as trigger conditions see it.
		e.health = func(ctx context.Context, id string) (map[string]any, error) {
			h, err := o.Store.AccountHealth(ctx, id)
			if errors.Is(err, store.ErrNotFound) {
				return nil, nil
			}
			if err != nil {
				return nil, err
			}
			return health.Vars(h, e.now()), nil
		}
	}
	if cfg.SMTPConfigured() {
		m, err := notify.NewMailer(cfg.SMTP)
		if err != nil {
			return nil, err
		}
		e.mailer = m
	}
	s, err := notify.NewSender(cfg.Webhook)
	if err != nil {
		return nil, err
	}
	e.sender = s
	return e, nil
}

// OnIngest is the playbook wake-up stage of the ingest pipeline
// (store.IngestHook): it wakes the steps waiting for the stored events, in
// the stage runner's transaction, so the wake commits with the runner's
// progress past the events or not at all; the dispatcher is kicked once
// that transaction has committed, when the woken steps are there to find.
func (e *Engine) OnIngest(ctx context.Context, tx *sql.Tx, events []store.Event) error {
	runs, err := e.st.WakeStepsForEventsTx(ctx, tx, events, e.now())
	if err != nil {
		return err
	}
	if len(runs) > 0 && !store.AfterCommit(ctx, func(context.Context) { e.kick() }) {
		e.kick()
	}
	return nil
}

// Listens lists the event names waiting steps wait for
// (store.ListenedNames): the ingest stages take such events ahead of other
// traffic.
func (e *Engine) Listens(ctx context.Context) ([]string, error) { return e.st.WaitingEventNames(ctx) }

// kick asks the dispatcher to look for due steps now rather than at its
// next poll.
func (e *Engine) kick() {
	select {
	case e.kicks <- struct{}{}:
	default:
	}
}

// Start applies the job queue's migrations, starts its workers and the
// dispatcher, and returns; Stop stops them.
func (e *Engine) Start(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.q != nil {
		return errors.New("playbook engine is already running")
	}
	q, err := newQueue(ctx, e)
	if err != nil {
		return err
	}
	e.q = q
	e.running.Store(true)
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e.stop, e.done = cancel, make(chan struct{})
	go e.loop(lctx)
	rctx, rcancel := context.WithCancel(context.WithoutCancel(ctx))
	e.leaseStop, e.leaseDone = rcancel, make(chan struct{})
	go e.leaseLoop(rctx, e.leaseDone)
	return nil
}

// Stop stops the dispatcher and the workers; steps in flight get until
// ctx's deadline to finish, and any cut short run again after a restart.
func (e *Engine) Stop(ctx context.Context) error {
	e.mu.Lock()
	q, stop, done := e.q, e.stop, e.done
	leaseStop, leaseDone := e.leaseStop, e.leaseDone
	e.q = nil
	e.running.Store(false)
	e.mu.Unlock()
	if q == nil {
		return nil
	}
	// Not under e.mu: the loop's dispatch takes it.
	stop()
	<-done
	err := q.stop(ctx)
	// Leases are renewed until the last step in flight has recorded how
	// it ended.
	leaseStop()
	<-leaseDone
	return err
}

// loop dispatches due steps when kicked and at every poll, and runs the
// periodic sweep.
func (e *Engine) loop(ctx context.Context) {
	defer close(e.done)
	t := time.NewTicker(e.cfg.PollInterval)
	defer t.Stop()
	// A kick may come from inside a transaction that has not committed
	// yet (LaunchTx, the ingest hook): dispatch at once and once more a
	// little later.
	again := time.NewTimer(time.Hour)
	again.Stop()
	defer again.Stop()
	sweep := func() {
		if err := e.Sweep(ctx); err != nil && ctx.Err() == nil {
			e.log.Error("playbook sweep failed; will retry", "err", err)
		}
	}
	dispatch := func() {
		if err := e.dispatch(ctx); err != nil && ctx.Err() == nil {
			e.log.Error("dispatch failed", "err", err)
		}
	}
	sweep()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			sweep()
		case <-e.kicks:
			dispatch()
			again.Reset(30 * time.Millisecond)
		case <-again.C:
			dispatch()
		}
	}
}

// handOff hands one step that just became due to the job queue directly,
// without waiting for the dispatcher; if it fails, the dispatcher's next
// poll does it.
func (e *Engine) handOff(ctx context.Context, runID string, index, gen int) {
	e.handOffArgs(ctx, stepArgs{RunID: runID, Step: index, Gen: gen})
}

// handOffArgs is handOff of a step's job as a.
func (e *Engine) handOffArgs(ctx context.Context, a stepArgs) {
	e.mu.Lock()
	q := e.q
	e.mu.Unlock()
	if q == nil {
		return
	}
	if err := q.insert(ctx, []stepArgs{a}); err != nil {
		e.kick()
		return
	}
	if err := e.st.MarkStepDispatched(ctx, store.StepRowID(a.RunID, a.Step), a.Gen, e.now()); err != nil {
		e.kick()
	}
}

// Sweep does the periodic work once: wakes waits whose time has come,
// runs again the steps a stopped server abandoned (lease.go), revives
// steps the job queue gave up on, escalates overdue tasks (at most
// every EscalationInterval), notifies pending escalations and hands due
// steps to the job queue. The engine calls it every PollInterval; tests
// call it after moving the clock.
func (e *Engine) Sweep(ctx context.Context) error {
	e.sweepMu.Lock()
	defer e.sweepMu.Unlock()
	now := e.now()
	if _, err := e.st.WakeSteps(ctx, now); err != nil {
		return err
	}
	// Steps whose server stopped while carrying them out run again.
	if err := e.recoverAbandoned(ctx, now); err != nil {
		return err
	}
	// A step handed to the queue long ago and neither finished nor retrying
	// lost its job (a crash during its last attempt); run it again.
	if _, err := e.st.RedispatchStuckSteps(ctx, now.Add(-3*time.Hour), now); err != nil {
		return err
	}
	if e.lastEscalation.IsZero() || now.Sub(e.lastEscalation) >= e.cfg.EscalationInterval || now.Before(e.lastEscalation) {
		if err := e.escalateOverdue(ctx, now); err != nil {
			return err
		}
		e.lastEscalation = now
	}
	if err := e.notifyEscalations(ctx); err != nil {
		return err
	}
	return e.dispatch(ctx)
}

// dispatch hands every due step to the job queue. The job's unique key is
// (run, step, generation), and the step row says which generation is
// current, so a step handed over twice (two processes, or a crash before
// MarkDispatched) still runs once.
func (e *Engine) dispatch(ctx context.Context) error {
	e.mu.Lock()
	q := e.q
	e.mu.Unlock()
	if q == nil {
		return nil
	}
	for {
		steps, err := e.st.UndispatchedSteps(ctx, e.now(), 200)
		if err != nil {
			return err
		}
		if len(steps) == 0 {
			return nil
		}
		args := make([]stepArgs, len(steps))
		for i, st := range steps {
			args[i] = stepArgs{RunID: st.RunID, Step: st.Index, Gen: st.Gen}
		}
		if err := q.insert(ctx, args); err != nil {
			return fmt.Errorf("hand steps to the job queue: %w", err)
		}
		if err := e.st.MarkStepsDispatched(ctx, steps, e.now()); err != nil {
			return err
		}
		if len(steps) < 200 {
			return nil
		}
	}
}
