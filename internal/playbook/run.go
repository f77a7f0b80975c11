package playbook

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/moments-cs/moments/internal/store"
)

// Trigger categories that start runs (the journey map's trigger categories).
const (
	TriggerLifecycle     = "lifecycle"
	TriggerCustomerEvent = "customer_event"
	TriggerScheduled     = "scheduled"
	TriggerCSM           = "csm"
	TriggerVendor        = "vendor"
)

var triggers = []string{TriggerLifecycle, TriggerCustomerEvent, TriggerScheduled, TriggerCSM, TriggerVendor}

// RunRequest asks for one run of a moment's playbook for one account and one
// occurrence.
type RunRequest struct {
	AccountID string
	MomentID  string
	// Occurrence is the stable key of the occurrence, e.g. "evt:<event id>",
	// "renewal_date-90d:2027-01-31", "csm:<uuid>", "broadcast:<id>". The
	// same (account, moment, occurrence) never starts two runs.
	Occurrence string
	// MapVersion is the live journey map version when the trigger fired;
	// the run keeps it to the end.
	MapVersion int
	// Trigger is the category that started it: lifecycle, customer_event,
	// scheduled, csm or vendor.
	Trigger string
	// ContactID is the contact involved, if any.
	ContactID string
	// EventID is the event that fired it, if any.
	EventID int64
	// StartedBy is the person or key that started it (csm, vendor), if any.
	StartedBy string
	// OccurredAt is when the occurrence happened: the time of the event
	// that started it (its own timestamp, so history replayed with past
	// times is measured as it happened) or the date a schedule fell due.
	// Zero means now.
	OccurredAt time.Time
}

// ErrInvalidRequest wraps a RunRequest that lacks a required field.
var ErrInvalidRequest = errors.New("invalid run request")

// Validate reports the first missing or malformed field.
func (r RunRequest) Validate() error {
	switch {
	case strings.TrimSpace(r.AccountID) == "":
		return fmt.Errorf("%w: account id is empty", ErrInvalidRequest)
	case strings.TrimSpace(r.MomentID) == "":
		return fmt.Errorf("%w: moment id is empty", ErrInvalidRequest)
	case strings.TrimSpace(r.Occurrence) == "":
		return fmt.Errorf("%w: occurrence is empty: give each occurrence a stable key such as evt:<event id>", ErrInvalidRequest)
	case r.MapVersion < 1:
		return fmt.Errorf("%w: map version %d is not a journey map version", ErrInvalidRequest, r.MapVersion)
	case !slices.Contains(triggers, r.Trigger):
		return fmt.Errorf("%w: trigger %q is not one of %s", ErrInvalidRequest, r.Trigger, strings.Join(triggers, ", "))
	}
	return nil
}

// LaunchTx starts the run inside the caller's transaction (the ingestion
// transaction, see store.OnIngest, or any other *sql.Tx on the store's write
// DB): it inserts the run with a UNIQUE (account_id, moment_id, occurrence)
// key and returns started=false and the existing run's id if that
// occurrence already has a run. Exactly once per occurrence, whatever the
// retries, restarts or replicas.
//
// The run's first step is written as due in the same transaction (a
// transactional outbox); the engine hands it to the job queue once the
// transaction has committed; inside an ingest stage round, a first step
// that creates a task is run in tx itself (prompt.go). LaunchTx reads no journey map and does no I/O
// beyond two inserts, so it is cheap enough for the ingestion path.
func (e *Engine) LaunchTx(ctx context.Context, tx *sql.Tx, r RunRequest) (runID string, started bool, err error) {
	if err := r.Validate(); err != nil {
		return "", false, err
	}
	l := e.launching(ctx, r)
	id, inserted, err := e.st.InsertRunWithStepTx(ctx, tx, l.run, l.first)
	if err != nil || !inserted {
		return id, false, err
	}
	e.due(ctx)
	return id, true, l.prompt(ctx, e, tx)
}

// LaunchManyTx is LaunchTx for several runs, which it writes together (on
// PostgreSQL in one statement: a stage round's trigger hook starts its
// runs so); it returns the ids of the runs it started, in the order of rs,
// and leaves out a request whose occurrence already has a run. Every
// request must be valid (RunRequest.Validate).
func (e *Engine) LaunchManyTx(ctx context.Context, tx *sql.Tx, rs []RunRequest) ([]string, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	ls := make([]launch, len(rs))
	runs, firsts := make([]store.Run, len(rs)), make([]store.RunStep, len(rs))
	for i, r := range rs {
		if err := r.Validate(); err != nil {
			return nil, err
		}
		ls[i] = e.launching(ctx, r)
		runs[i], firsts[i] = ls[i].run, ls[i].first
	}
	inserted, err := e.st.InsertRunsWithStepsTx(ctx, tx, runs, firsts)
	if err != nil {
		return nil, err
	}
	var started []string
	for _, l := range ls {
		if !inserted[l.run.ID] {
			continue
		}
		if err := l.prompt(ctx, e, tx); err != nil {
			return nil, err
		}
		started = append(started, l.run.ID)
	}
	if len(started) > 0 {
		e.due(ctx)
	}
	return started, nil
}

// launch is a run about to be written: the run, its first step's row, and
// when that step runs at once (prompt.go) its context and outcome.
type launch struct {
	run   store.Run
	first store.RunStep
	sc    *StepContext
	out   Outcome
}

// launching prepares the run of r.
func (e *Engine) launching(ctx context.Context, r RunRequest) launch {
	now := e.now()
	occurred := r.OccurredAt
	if occurred.IsZero() {
		occurred = now
	}
	l := launch{run: store.Run{
		ID: uuid.NewString(), AccountID: r.AccountID, MomentID: r.MomentID, Occurrence: r.Occurrence,
		MapVersion: r.MapVersion, Category: r.Trigger, ContactID: r.ContactID, EventID: r.EventID,
		StartedBy: r.StartedBy, Status: store.RunRunning, CreatedAt: now, UpdatedAt: now, OccurredAt: occurred,
	}}
	l.first = store.RunStep{RunID: l.run.ID, Index: 0, AccountID: r.AccountID, Status: store.StepDue, DueAt: &now, CreatedAt: now}
	if sc, out, ok := e.prompt(ctx, l.run, r); ok {
		l.first, l.sc, l.out = sc.Row, sc, out
	}
	return l
}

// prompt records, once the run is written, the outcome of its first step
// when it ran at once.
func (l launch) prompt(ctx context.Context, e *Engine, tx *sql.Tx) error {
	if l.sc == nil {
		return nil
	}
	_, err := e.commitTx(ctx, tx, l.sc, stepArgs{RunID: l.run.ID, Step: 0, Gen: 1}, l.out)
	return err
}

// Launch is LaunchTx in its own transaction.
func (e *Engine) Launch(ctx context.Context, r RunRequest) (runID string, started bool, err error) {
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return "", false, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	id, started, err := e.LaunchTx(ctx, tx, r)
	if err != nil {
		return "", false, err
	}
	if err := tx.Commit(); err != nil {
		return "", false, err
	}
	if started {
		e.handOff(ctx, id, 0, 1)
	}
	return id, started, nil
}
