package store

import (
	"context"
	"fmt"
	"time"
)

// A running step is leased to the worker that claimed it (ClaimStep): its
// due_at is the lease's end, in wall-clock time, and the worker's process
// renews it while the step runs. A step whose lease ran out was abandoned —
// its server died or lost the database — and RecoverAbandonedSteps makes it
// due again under a new generation, which fences the old worker out: it can
// neither renew the lease nor record an outcome (FinishStepTx checks the
// generation). The lease lives in due_at rather than a column of its own
// because a running step has no other use for it, and the (status, due_at)
// index serves the recovery query.

// StepLease names one generation of one running step.
type StepLease struct {
	RunID string
	Index int
	Gen   int
}

// AbandonedStepError is the error a recovered step shows until it runs
// again.
const AbandonedStepError = "the server carrying out this step stopped before it recorded the outcome; the step runs again"

// RenewStepLeases extends the leases of the given running steps to until
// and returns those it could not renew: no longer running under that
// generation, because they finished or were recovered after their lease ran
// out.
func (s *Store) RenewStepLeases(ctx context.Context, steps []StepLease, until time.Time) ([]StepLease, error) {
	if len(steps) == 0 {
		return nil, nil
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	var lost []StepLease
	for _, l := range steps {
		res, err := tx.ExecContext(ctx, `UPDATE run_steps SET due_at = $1 WHERE id = $2 AND gen = $3 AND status = 'running'`,
			micros(until), StepRowID(l.RunID, l.Index), l.Gen)
		if err != nil {
			return nil, fmt.Errorf("renew step leases: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, err
		} else if n == 0 {
			lost = append(lost, l)
		}
	}
	return lost, tx.Commit()
}

// RecoverAbandonedSteps makes every running step whose lease ended before
// wallNow due again at now under a new generation, with
// AbandonedStepError as its last error, and returns how many it
// recovered.
func (s *Store) RecoverAbandonedSteps(ctx context.Context, wallNow, now time.Time) (int, error) {
	res, err := s.write.ExecContext(ctx, `UPDATE run_steps SET status = 'due', gen = gen + 1, due_at = $2, updated_at = $2, error = $3
		WHERE status = 'running' AND (due_at IS NULL OR due_at < $1)`, micros(wallNow), micros(now), AbandonedStepError)
	if err != nil {
		return 0, fmt.Errorf("recover abandoned steps: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// RedispatchUnclaimed makes generation gen of a due step, already handed to
// the job queue, due again at now under a new generation, for a job the
// queue handed to a worker that died before claiming the step. It reports
// whether the step was still in that state.
func (s *Store) RedispatchUnclaimed(ctx context.Context, l StepLease, now time.Time) (bool, error) {
	res, err := s.write.ExecContext(ctx, `UPDATE run_steps SET gen = gen + 1, due_at = $1, updated_at = $1, error = $2
		WHERE id = $3 AND gen = $4 AND status = 'due' AND dispatched_gen = gen AND due_at <= $1`,
		micros(now), AbandonedStepError, StepRowID(l.RunID, l.Index), l.Gen)
	if err != nil {
		return false, fmt.Errorf("re-dispatch an unclaimed step: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
