package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"
)

// Run statuses.
const (
	RunRunning = "running"
	RunWaiting = "waiting"
	RunDone    = "done"
	RunFailed  = "failed"
)

// Step statuses. A step row is "due" when it should run (at due_at),
// "running" once a worker took it (due_at is then the worker's lease), "waiting" while a wait (or an escalate
// step watching a task) sleeps, and "done", "skipped" or "failed" at the end.
const (
	StepDue     = "due"
	StepRunning = "running"
	StepWaiting = "waiting"
	StepDone    = "done"
	StepSkipped = "skipped"
	StepFailed  = "failed"
)

// Run is one execution of a moment's playbook for one account and one
// occurrence of its trigger.
type Run struct {
	ID          string     `json:"id"`
	AccountID   string     `json:"account_id"`
	MomentID    string     `json:"moment_id"`
	Occurrence  string     `json:"occurrence"`
	MapVersion  int        `json:"map_version"`
	Category    string     `json:"trigger"`
	ContactID   string     `json:"contact_id,omitempty"`
	EventID     int64      `json:"event_id,omitempty"`
	StartedBy   string     `json:"started_by,omitempty"`
	Status      string     `json:"status"`
	CurrentStep string     `json:"current_step,omitempty"`
	Error       string     `json:"error,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	FinishedAt  *time.Time `json:"finished_at"`
	// OccurredAt is when the occurrence happened (the starting event's own
	// time); it is written once and read by moment analytics. Zero means
	// CreatedAt.
	OccurredAt time.Time `json:"-"`
	Steps      []RunStep `json:"steps,omitempty"`
}

// RunStep is the state and outcome of one step of a run.
type RunStep struct {
	ID            string     `json:"-"`
	RunID         string     `json:"-"`
	Index         int        `json:"index"`
	Key           string     `json:"step"`
	Kind          string     `json:"kind"`
	AccountID     string     `json:"-"`
	Status        string     `json:"status"`
	Gen           int        `json:"-"`
	DispatchedGen int        `json:"-"`
	DueAt         *time.Time `json:"due_at,omitempty"`
	WaitEvent     string     `json:"wait_event,omitempty"`
	Wake          string     `json:"woken_by,omitempty"`
	WakeEventID   int64      `json:"wake_event_id,omitempty"`
	Attempts      int        `json:"attempts"`
	Error         string     `json:"error,omitempty"`
	Outcome       string     `json:"outcome,omitempty"`
	Next          string     `json:"next,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	StartedAt     *time.Time `json:"started_at,omitempty"`
	FinishedAt    *time.Time `json:"finished_at,omitempty"`
	UpdatedAt     time.Time  `json:"updated_at"`
}

// StepRowID is the primary key of a run's step row.
func StepRowID(runID string, index int) string { return runID + "/" + strconv.Itoa(index) }

// InsertRunTx inserts r unless its (account, moment, occurrence) already has a
// run, and returns the run's id and whether it was inserted. With q the
// caller's transaction, the run commits or rolls back with it.
func (s *Store) InsertRunTx(ctx context.Context, q Querier, r Run) (string, bool, error) {
	insert := `INSERT INTO runs (id, account_id, moment_id, occurrence, map_version, category,
		contact_id, event_id, started_by, status, created_at, updated_at, occurred_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12)
		ON CONFLICT (account_id, moment_id, occurrence) DO NOTHING`
	args := []any{r.ID, r.AccountID, r.MomentID, r.Occurrence, r.MapVersion, r.Category, r.ContactID, r.EventID, r.StartedBy,
		r.Status, micros(r.CreatedAt), micros(occurredAt(r))}
	var n int64
	if s.dialect.embedded() {
		res, err := q.ExecContext(ctx, insert, args...)
		if err != nil {
			return "", false, fmt.Errorf("insert run: %w", err)
		}
		if n, err = res.RowsAffected(); err != nil {
			return "", false, err
		} else if n == 1 {
			return r.ID, true, staleDay(ctx, q, r.MomentID, occurredAt(r))
		}
	} else {
		// The run and its day's cell (staleDay) in one round trip.
		err := q.QueryRowContext(ctx, `WITH w AS (`+insert+` RETURNING id),
			s AS (UPDATE moment_days SET gen = gen + 1, facts = NULL WHERE moment_id = $3 AND day = $13 AND EXISTS (SELECT 1 FROM w))
			SELECT count(*) FROM w`, append(args, dayOf(occurredAt(r)))...).Scan(&n)
		if err != nil {
			return "", false, fmt.Errorf("insert run: %w", err)
		}
		if n == 1 {
			return r.ID, true, nil
		}
	}
	return existingRun(ctx, q, r)
}

// existingRun is the id of the run that r's (account, moment, occurrence)
// already has, with false: what InsertRunTx returns when it inserts none.
func existingRun(ctx context.Context, q Querier, r Run) (string, bool, error) {
	var id string
	err := q.QueryRowContext(ctx, `SELECT id FROM runs WHERE account_id = $1 AND moment_id = $2 AND occurrence = $3`,
		r.AccountID, r.MomentID, r.Occurrence).Scan(&id)
	if err != nil {
		return "", false, fmt.Errorf("read the existing run: %w", err)
	}
	return id, false, nil
}

// InsertRunWithStepTx is InsertRunTx that also inserts the run's first
// step row (InsertStepTx) when it inserts the run; on PostgreSQL in the
// same statement, which saves a round trip for every run a stage round
// starts.
func (s *Store) InsertRunWithStepTx(ctx context.Context, q Querier, r Run, first RunStep) (string, bool, error) {
	if s.dialect.embedded() {
		id, inserted, err := s.InsertRunTx(ctx, q, r)
		if err != nil || !inserted {
			return id, inserted, err
		}
		_, err = s.InsertStepTx(ctx, q, first)
		return id, err == nil, err
	}
	inserted, err := s.InsertRunsWithStepsTx(ctx, q, []Run{r}, []RunStep{first})
	if err != nil {
		return "", false, err
	}
	if inserted[r.ID] {
		return r.ID, true, nil
	}
	return existingRun(ctx, q, r)
}

// InsertRunsWithStepsTx is InsertRunWithStepTx for several runs (runs[i]
// with first step firsts[i]) and returns the ids of the runs it inserted;
// a run whose (account, moment, occurrence) already has one is left out.
// On PostgreSQL it is one statement for them all, so that the runs a stage
// round starts cost one round trip, not one each.
func (s *Store) InsertRunsWithStepsTx(ctx context.Context, q Querier, runs []Run, firsts []RunStep) (map[string]bool, error) {
	inserted := make(map[string]bool, len(runs))
	if s.dialect.embedded() {
		for i, r := range runs {
			id, ok, err := s.InsertRunWithStepTx(ctx, q, r, firsts[i])
			if err != nil {
				return nil, err
			}
			if ok {
				inserted[id] = true
			}
		}
		return inserted, nil
	}
	n := len(runs)
	var (
		ids, accts, moments, occs, cats, contacts, by, status = make([]string, n), make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		versions, events, created, occurred, days = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		keys, kinds, stStatus                     = make([]string, n), make([]string, n), make([]string, n)
		stDue, stAttempts, stStarted              = make([]int64, n), make([]int64, n), make([]int64, n)
		stCreated                                 = make([]int64, n)
		stIDs                                     = make([]string, n)
	)
	for i, r := range runs {
		f := firsts[i]
		ids[i], accts[i], moments[i], occs[i], cats[i], contacts[i], by[i], status[i] = r.ID, r.AccountID, r.MomentID, r.Occurrence,
			r.Category, r.ContactID, r.StartedBy, r.Status
		versions[i], events[i], created[i], occurred[i], days[i] = int64(r.MapVersion), r.EventID, micros(r.CreatedAt),
			micros(occurredAt(r)), dayOf(occurredAt(r))
		keys[i], kinds[i], stStatus[i], stAttempts[i], stCreated[i] = f.Key, f.Kind, f.Status, int64(f.Attempts), micros(f.CreatedAt)
		if f.Index != 0 {
			return nil, fmt.Errorf("insert runs: a first step has index %d", f.Index)
		}
		stIDs[i] = StepRowID(r.ID, 0)
		if f.DueAt != nil {
			stDue[i] = micros(*f.DueAt)
		}
		if f.StartedAt != nil {
			stStarted[i] = micros(*f.StartedAt)
		}
	}
	rows, err := q.QueryContext(ctx, `WITH v AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[],
				$6::text[], $7::text[], $8::bigint[], $9::text[], $10::text[], $11::bigint[], $12::bigint[], $13::bigint[],
				$14::text[], $15::text[], $16::text[], $17::bigint[], $18::bigint[], $19::bigint[], $20::bigint[], $21::text[])
			AS v(id, account_id, moment_id, occurrence, map_version, category, contact_id, event_id, started_by, status,
				created_at, occurred_at, day, step_key, kind, step_status, due_at, attempts, started_at, step_created, step_id)),
		w AS (INSERT INTO runs (id, account_id, moment_id, occurrence, map_version, category,
				contact_id, event_id, started_by, status, created_at, updated_at, occurred_at)
			SELECT id, account_id, moment_id, occurrence, map_version, category, contact_id, event_id, started_by, status,
				created_at, created_at, occurred_at FROM v
			ON CONFLICT (account_id, moment_id, occurrence) DO NOTHING RETURNING id),
		s AS (UPDATE moment_days SET gen = gen + 1, facts = NULL WHERE (moment_id, day) IN
			(SELECT v.moment_id, v.day FROM v JOIN w ON w.id = v.id)),
		f AS (INSERT INTO run_steps (id, run_id, step_index, step_key, kind, account_id, status,
				gen, due_at, created_at, updated_at, attempts, started_at)
			SELECT v.step_id, v.id, 0, v.step_key, v.kind, v.account_id, v.step_status, 1, NULLIF(v.due_at, 0),
				v.step_created, v.step_created, v.attempts, NULLIF(v.started_at, 0) FROM v JOIN w ON w.id = v.id
			ON CONFLICT (run_id, step_index) DO NOTHING)
		SELECT id FROM w`, ids, accts, moments, occs, versions, cats, contacts, events, by, status, created, occurred, days,
		keys, kinds, stStatus, stDue, stAttempts, stStarted, stCreated, stIDs)
	if err != nil {
		return nil, fmt.Errorf("insert runs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		inserted[id] = true
	}
	return inserted, rows.Err()
}

// occurredAt is the run's occurrence time, its creation when none is set.
func occurredAt(r Run) time.Time {
	if r.OccurredAt.IsZero() {
		return r.CreatedAt
	}
	return r.OccurredAt
}

// InsertStepTx inserts a step row for a run unless it exists; it reports
// whether it inserted. A step inserted running (claimed at once, with its
// lease in DueAt) takes its Attempts and StartedAt too.
func (s *Store) InsertStepTx(ctx context.Context, q Querier, st RunStep) (bool, error) {
	res, err := q.ExecContext(ctx, `INSERT INTO run_steps (id, run_id, step_index, step_key, kind, account_id, status,
		gen, due_at, created_at, updated_at, attempts, started_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, $9, $10, $11)
		ON CONFLICT (run_id, step_index) DO NOTHING`,
		StepRowID(st.RunID, st.Index), st.RunID, st.Index, st.Key, st.Kind, st.AccountID, st.Status,
		nullTime(st.DueAt), micros(st.CreatedAt), st.Attempts, nullTime(st.StartedAt))
	if err != nil {
		return false, fmt.Errorf("insert run step: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

const runCols = `id, account_id, moment_id, occurrence, map_version, category, contact_id, event_id, started_by,
	status, current_step, error, created_at, updated_at, finished_at, occurred_at`

func scanRun(r scanner) (Run, error) {
	var (
		run              Run
		created, updated int64
		finished         sql.NullInt64
		occurred         sql.NullInt64
	)
	err := r.Scan(&run.ID, &run.AccountID, &run.MomentID, &run.Occurrence, &run.MapVersion, &run.Category,
		&run.ContactID, &run.EventID, &run.StartedBy, &run.Status, &run.CurrentStep, &run.Error,
		&created, &updated, &finished, &occurred)
	run.CreatedAt, run.UpdatedAt, run.FinishedAt = fromMicros(created), fromMicros(updated), timePtr(finished)
	if occurred.Valid {
		run.OccurredAt = fromMicros(occurred.Int64)
	}
	return run, err
}

const stepCols = `id, run_id, step_index, step_key, kind, account_id, status, gen, dispatched_gen, due_at,
	wait_event, wake, wake_event_id, attempts, error, outcome, next_step, created_at, started_at, finished_at, updated_at`

func scanStep(r scanner) (RunStep, error) {
	var (
		st                     RunStep
		due, started, finished sql.NullInt64
		created, updated       int64
	)
	err := r.Scan(&st.ID, &st.RunID, &st.Index, &st.Key, &st.Kind, &st.AccountID, &st.Status, &st.Gen,
		&st.DispatchedGen, &due, &st.WaitEvent, &st.Wake, &st.WakeEventID, &st.Attempts, &st.Error, &st.Outcome,
		&st.Next, &created, &started, &finished, &updated)
	st.DueAt, st.StartedAt, st.FinishedAt = timePtr(due), timePtr(started), timePtr(finished)
	st.CreatedAt, st.UpdatedAt = fromMicros(created), fromMicros(updated)
	return st, err
}

// Run returns one run with its steps in order.
func (s *Store) Run(ctx context.Context, id string) (Run, error) {
	run, err := scanRun(s.read.QueryRowContext(ctx, "SELECT "+runCols+" FROM runs WHERE id = $1", id))
	if errors.Is(err, sql.ErrNoRows) {
		return run, ErrNotFound
	}
	if err != nil {
		return run, fmt.Errorf("read run: %w", err)
	}
	run.Steps, err = s.RunStepsTx(ctx, s.read, id)
	return run, err
}

// RunTx returns one run without its steps, read through q.
func (s *Store) RunTx(ctx context.Context, q Querier, id string) (Run, error) {
	run, err := scanRun(q.QueryRowContext(ctx, "SELECT "+runCols+" FROM runs WHERE id = $1", id))
	if errors.Is(err, sql.ErrNoRows) {
		return run, ErrNotFound
	}
	return run, err
}

// RunStepsTx returns a run's steps in playbook order, read through q (nil
// means the read pool).
func (s *Store) RunStepsTx(ctx context.Context, q Querier, runID string) ([]RunStep, error) {
	if q == nil {
		q = s.read
	}
	rows, err := q.QueryContext(ctx, "SELECT "+stepCols+" FROM run_steps WHERE run_id = $1 ORDER BY step_index", runID)
	if err != nil {
		return nil, fmt.Errorf("read run steps: %w", err)
	}
	defer rows.Close()
	out := []RunStep{}
	return appendRows(out, rows, scanStep)
}

// StepTx returns one step row, read through q.
func (s *Store) StepTx(ctx context.Context, q Querier, runID string, index int) (RunStep, error) {
	st, err := scanStep(q.QueryRowContext(ctx, "SELECT "+stepCols+" FROM run_steps WHERE id = $1", StepRowID(runID, index)))
	if errors.Is(err, sql.ErrNoRows) {
		return st, ErrNotFound
	}
	return st, err
}

// RunFilter narrows ListRuns; empty fields match everything.
type RunFilter struct {
	AccountID string
	MomentID  string
	Status    string
}

// ListRuns returns one page of runs, newest first, and the next cursor.
func (s *Store) ListRuns(ctx context.Context, f RunFilter, p Page) ([]Run, string, error) {
	var w where
	w.eq("account_id", f.AccountID)
	w.eq("moment_id", f.MomentID)
	w.eq("status", f.Status)
	if p.Cursor != "" {
		t, id, err := decodeNumCursor(p.Cursor)
		if err != nil {
			return nil, "", err
		}
		w.add("(created_at < ? OR (created_at = ? AND id < ?))", t, t, id)
	}
	return queryPage(ctx, s.read, "runs", "SELECT "+runCols+" FROM runs", w, "created_at DESC, id DESC", p, scanRun,
		func(r Run) string { return encodeCursor(strconv.FormatInt(micros(r.CreatedAt), 10), r.ID) })
}

// CountRuns counts the runs of an account and a moment (every account or
// moment when the argument is empty); for tests and reports.
func (s *Store) CountRuns(ctx context.Context, accountID, momentID string) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM runs WHERE ($1 = '' OR account_id = $1) AND ($2 = '' OR moment_id = $2)`,
		accountID, momentID).Scan(&n)
	return n, err
}

// UndispatchedSteps returns steps due at now whose current generation has not
// been handed to the job queue yet, oldest first.
func (s *Store) UndispatchedSteps(ctx context.Context, now time.Time, limit int) ([]RunStep, error) {
	rows, err := s.write.QueryContext(ctx, "SELECT "+stepCols+` FROM run_steps
		WHERE status = 'due' AND due_at <= $1 AND dispatched_gen < gen ORDER BY due_at LIMIT `+strconv.Itoa(limit), micros(now))
	if err != nil {
		return nil, fmt.Errorf("find due steps: %w", err)
	}
	defer rows.Close()
	var out []RunStep
	return appendRows(out, rows, scanStep)
}

// MarkStepDispatched records that generation gen of a step was handed to the
// job queue.
func (s *Store) MarkStepDispatched(ctx context.Context, id string, gen int, now time.Time) error {
	_, err := s.write.ExecContext(ctx, `UPDATE run_steps SET dispatched_gen = $1, dispatched_at = $2
		WHERE id = $3 AND dispatched_gen < $1`, gen, micros(now), id)
	return err
}

// MarkStepsDispatched is MarkStepDispatched for several steps (their ID and
// Gen), in one statement per generation: the dispatcher hands up to
// hundreds at a time to the job queue.
func (s *Store) MarkStepsDispatched(ctx context.Context, steps []RunStep, now time.Time) error {
	byGen := map[int][]any{}
	for _, st := range steps {
		byGen[st.Gen] = append(byGen[st.Gen], st.ID)
	}
	for _, gen := range slices.Sorted(maps.Keys(byGen)) {
		ids := byGen[gen]
		args := append([]any{gen, micros(now)}, ids...)
		if _, err := s.write.ExecContext(ctx, `UPDATE run_steps SET dispatched_gen = $1, dispatched_at = $2
			WHERE id IN (`+s.dialect.placeholders(3, len(ids))+`) AND dispatched_gen < $1`, args...); err != nil {
			return fmt.Errorf("mark steps handed to the job queue: %w", err)
		}
	}
	return nil
}

// RedispatchStuckSteps makes steps that were handed to the job queue before
// cutoff and never finished due again under a new generation, for the case
// where the job queue gave up on a job without the engine recording why
// (a crash during the last attempt). It returns how many it revived.
func (s *Store) RedispatchStuckSteps(ctx context.Context, cutoff, now time.Time) (int, error) {
	res, err := s.write.ExecContext(ctx, `UPDATE run_steps SET status = 'due', gen = gen + 1, due_at = $2, updated_at = $2
		WHERE status IN ('due', 'running') AND dispatched_gen = gen AND dispatched_at < $1`, micros(cutoff), micros(now))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// WakeSteps makes waiting steps whose time has come due under a new
// generation: wake is "timeout" for a wait for an event, "elapsed" for the
// others. It returns the run ids it woke.
func (s *Store) WakeSteps(ctx context.Context, now time.Time) ([]string, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	rows, err := tx.QueryContext(ctx, `SELECT id, run_id, wait_event FROM run_steps
		WHERE status = 'waiting' AND due_at IS NOT NULL AND due_at <= $1`, micros(now))
	if err != nil {
		return nil, fmt.Errorf("find waits that are over: %w", err)
	}
	type w struct{ id, run, event string }
	var ws []w
	for rows.Next() {
		var x w
		if err := rows.Scan(&x.id, &x.run, &x.event); err != nil {
			rows.Close()
			return nil, err
		}
		ws = append(ws, x)
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}
	var runs []string
	for _, x := range ws {
		wake := "elapsed"
		if x.event != "" {
			wake = "timeout"
		}
		ok, err := s.wake(ctx, tx, x.id, x.run, wake, 0, now)
		if err != nil {
			return nil, err
		}
		if ok {
			runs = append(runs, x.run)
		}
	}
	return runs, tx.Commit()
}

func (s *Store) wake(ctx context.Context, tx Querier, id, run, wake string, eventID int64, now time.Time) (bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE run_steps SET status = 'due', gen = gen + 1, wake = $1, wake_event_id = $2,
		due_at = $3, updated_at = $3 WHERE id = $4 AND status = 'waiting'`, wake, eventID, micros(now), id)
	if err != nil {
		return false, fmt.Errorf("wake step: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	if _, err = tx.ExecContext(ctx, `UPDATE runs SET status = 'running', updated_at = $1 WHERE id = $2 AND status = 'waiting'`,
		micros(now), run); err != nil {
		return false, err
	}
	return true, staleRunDay(ctx, tx, run)
}

// WaitingEventNames lists the event names that waiting steps wait for.
func (s *Store) WaitingEventNames(ctx context.Context) ([]string, error) {
	out, err := queryStrings(ctx, s.read, "SELECT DISTINCT wait_event FROM run_steps WHERE status = 'waiting' AND wait_event <> ''")
	if err != nil {
		return nil, fmt.Errorf("list the events steps wait for: %w", err)
	}
	return out, nil
}

// WakeStepsForEventsTx wakes the steps waiting for one of events (same account,
// same name), inside the ingestion transaction tx. It returns the runs it
// woke.
func (s *Store) WakeStepsForEventsTx(ctx context.Context, tx Querier, events []Event, now time.Time) ([]string, error) {
	names := map[string]bool{}
	for _, e := range events {
		if e.AccountID != "" && e.Name != "" {
			names[e.Name] = true
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	args := make([]any, 0, len(names))
	for n := range names {
		args = append(args, n)
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, run_id, wait_event, account_id FROM run_steps
		WHERE status = 'waiting' AND wait_event <> '' AND wait_event IN (`+s.dialect.placeholders(1, len(args))+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("find steps waiting for events: %w", err)
	}
	type w struct{ id, run, event, account string }
	byKey := map[string][]w{}
	for rows.Next() {
		var x w
		if err := rows.Scan(&x.id, &x.run, &x.event, &x.account); err != nil {
			rows.Close()
			return nil, err
		}
		byKey[x.account+"\x00"+x.event] = append(byKey[x.account+"\x00"+x.event], x)
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}
	if len(byKey) == 0 {
		return nil, nil
	}
	var runs []string
	for _, e := range events {
		k := e.AccountID + "\x00" + e.Name
		for _, x := range byKey[k] {
			ok, err := s.wake(ctx, tx, x.id, x.run, "event", e.ID, now)
			if err != nil {
				return nil, err
			}
			if ok {
				runs = append(runs, x.run)
			}
		}
		delete(byKey, k)
	}
	return runs, nil
}

// ClaimStep marks generation gen of a due step as running, counting an
// attempt and leasing the step to the caller until leaseUntil (a running
// step's due_at is its lease: see step_lease.go), unless it is not due
// under that generation (running elsewhere, done already, or superseded);
// ok reports whether the caller may run it. Only a due step can be
// claimed, so one generation of a step has at most one worker at a time.
func (s *Store) ClaimStep(ctx context.Context, l StepLease, now, leaseUntil time.Time) (RunStep, bool, error) {
	return s.ClaimStepTx(ctx, s.write, l, now, leaseUntil)
}

// ClaimStepTx is ClaimStep through q, such as the transaction that started
// the run.
func (s *Store) ClaimStepTx(ctx context.Context, q Querier, l StepLease, now, leaseUntil time.Time) (RunStep, bool, error) {
	// The claimed row comes back with the claim: one round trip.
	st, err := scanStep(q.QueryRowContext(ctx, `UPDATE run_steps SET status = 'running', attempts = attempts + 1,
		started_at = COALESCE(started_at, $1), updated_at = $1, due_at = $4
		WHERE id = $2 AND gen = $3 AND status = 'due' RETURNING `+stepCols, micros(now), StepRowID(l.RunID, l.Index), l.Gen, micros(leaseUntil)))
	if errors.Is(err, sql.ErrNoRows) {
		return RunStep{}, false, nil
	}
	if err != nil {
		return RunStep{}, false, fmt.Errorf("claim step: %w", err)
	}
	return st, true, nil
}

// StepResult is how a step ended (or paused).
type StepResult struct {
	Status    string // done, skipped, waiting or failed
	Key, Kind string
	Outcome   string
	Error     string
	Next      string
	// DueAt and WaitEvent describe a wait (Status waiting).
	DueAt     *time.Time
	WaitEvent string
}

// FinishStepTx records the result of generation gen of a running step through
// tx; ok is false (and nothing is written) when the step is no longer
// running under that generation, which means another worker recorded it.
func (s *Store) FinishStepTx(ctx context.Context, tx Querier, l StepLease, r StepResult, now time.Time) (bool, error) {
	runID, index, gen := l.RunID, l.Index, l.Gen
	var finished sql.NullInt64
	if r.Status != StepWaiting {
		finished = sql.NullInt64{Int64: micros(now), Valid: true}
	}
	// A step sent (or its task made) is evidence of an ideal step: its
	// occurrence's cell is cleared.
	n, err := s.execStalingRun(ctx, tx, `UPDATE run_steps SET status = $1, step_key = $2, kind = $3, outcome = $4, error = $5,
		next_step = $6, due_at = $7, wait_event = $8, finished_at = $9, updated_at = $10
		WHERE id = $11 AND gen = $12 AND status = 'running'`, "run_id", runID,
		r.Status, r.Key, r.Kind, r.Outcome, r.Error, r.Next, nullTime(r.DueAt), r.WaitEvent, finished, micros(now),
		StepRowID(runID, index), gen)
	if err != nil {
		return false, fmt.Errorf("record step outcome: %w", err)
	}
	return n == 1, nil
}

// AdvanceRunTx records, through tx, how generation l.Gen of a running step
// ended (FinishStepTx), the run's next step when next is not nil
// (InsertStepTx) and the run's new state (UpdateRunTx), and reports
// whether it wrote anything: nothing is written when the step is no longer
// running under that generation (another worker recorded it). On
// PostgreSQL the three go in one statement (data-modifying WITHs), with
// the day cell of the run's occurrence cleared once, instead of three
// round trips on every step a playbook worker or a stage round records.
func (s *Store) AdvanceRunTx(ctx context.Context, tx Querier, l StepLease, r StepResult, next *RunStep, run RunState, now time.Time) (bool, error) {
	if s.dialect.embedded() {
		ok, err := s.FinishStepTx(ctx, tx, l, r, now)
		if err != nil || !ok {
			return ok, err
		}
		if next != nil {
			if _, err := s.InsertStepTx(ctx, tx, *next); err != nil {
				return false, err
			}
		}
		return true, s.UpdateRunTx(ctx, tx, l.RunID, run, now)
	}
	var finished, runFinished sql.NullInt64
	if r.Status != StepWaiting {
		finished = sql.NullInt64{Int64: micros(now), Valid: true}
	}
	if run.Status == RunDone || run.Status == RunFailed {
		runFinished = sql.NullInt64{Int64: micros(now), Valid: true}
	}
	args := []any{r.Status, r.Key, r.Kind, r.Outcome, r.Error, r.Next, nullTime(r.DueAt), r.WaitEvent, finished, micros(now),
		StepRowID(l.RunID, l.Index), l.Gen, run.Status, run.Current, run.Error, runFinished}
	insert := ""
	if next != nil {
		insert = `, n AS (INSERT INTO run_steps (id, run_id, step_index, step_key, kind, account_id, status, gen, due_at, created_at, updated_at)
			SELECT $17::text, $18::text, $19::bigint, $20::text, $21::text, $22::text, $23::text, 1, $24::bigint, $25::bigint, $25::bigint FROM f ON CONFLICT (run_id, step_index) DO NOTHING)`
		args = append(args, StepRowID(next.RunID, next.Index), next.RunID, next.Index, next.Key, next.Kind, next.AccountID, next.Status,
			nullTime(next.DueAt), micros(next.CreatedAt))
	}
	var n int64
	err := tx.QueryRowContext(ctx, `WITH f AS (UPDATE run_steps SET status = $1, step_key = $2, kind = $3, outcome = $4, error = $5,
			next_step = $6, due_at = $7, wait_event = $8, finished_at = $9, updated_at = $10
			WHERE id = $11 AND gen = $12 AND status = 'running' RETURNING run_id)`+insert+`,
		r AS (UPDATE runs SET status = $13, current_step = $14, error = $15, finished_at = $16, updated_at = $10
			WHERE id IN (SELECT run_id FROM f) RETURNING moment_id, occurred_at),
		s AS (UPDATE moment_days SET gen = gen + 1, facts = NULL WHERE facts IS NOT NULL AND (moment_id, day) IN
			(SELECT moment_id, occurred_at / 86400000000 FROM r))
		SELECT count(*) FROM f`, args...).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("record step outcome and advance the run: %w", err)
	}
	return n == 1, nil
}

// NoteStepError records a failed attempt that the job queue will retry at
// retryAt: the running step becomes due again (at retryAt) under the same
// generation, so the retry can claim it and the step holds no lease while
// it waits.
func (s *Store) NoteStepError(ctx context.Context, l StepLease, e StepError) error {
	_, err := s.write.ExecContext(ctx, `UPDATE run_steps SET status = 'due', due_at = $7, error = $1, step_key = $2, kind = $3, updated_at = $4
		WHERE id = $5 AND gen = $6 AND status = 'running'`, e.Message, e.Key, e.Kind, micros(e.At), StepRowID(l.RunID, l.Index), l.Gen,
		micros(e.RetryAt))
	if err != nil {
		return err
	}
	_, err = s.write.ExecContext(ctx, `UPDATE runs SET error = $1, updated_at = $2 WHERE id = $3`, e.Message, micros(e.At), l.RunID)
	return err
}

// StepError is a failed attempt of a step, which the job queue retries.
type StepError struct {
	// Key and Kind are the step's key and kind in the playbook.
	Key, Kind string
	Message   string
	// At is when the attempt failed; RetryAt when the retry is due.
	At, RetryAt time.Time
}

// RunState is what UpdateRunTx sets: a run's status, current step and
// error.
type RunState struct {
	Status  string
	Current string
	Error   string
}

// UpdateRunTx sets a run's status, current step and error through q.
func (s *Store) UpdateRunTx(ctx context.Context, q Querier, runID string, st RunState, now time.Time) error {
	var finished sql.NullInt64
	if st.Status == RunDone || st.Status == RunFailed {
		finished = sql.NullInt64{Int64: micros(now), Valid: true}
	}
	if _, err := s.execStalingRun(ctx, q, `UPDATE runs SET status = $1, current_step = $2, error = $3, finished_at = $4, updated_at = $5
		WHERE id = $6`, "id", runID, st.Status, st.Current, st.Error, finished, micros(now), runID); err != nil {
		return fmt.Errorf("update run: %w", err)
	}
	return nil
}

// ErrStepNotFailed means a retry was asked for a step that has not failed.
var ErrStepNotFailed = errors.New("only a failed step can be retried")

// RetryStep makes a failed step due again under a new generation, with its
// attempts counted afresh, and puts its run back to running.
func (s *Store) RetryStep(ctx context.Context, runID string, index int, now time.Time) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	res, err := tx.ExecContext(ctx, `UPDATE run_steps SET status = 'due', gen = gen + 1, attempts = 0, wake = 'retry',
		due_at = $1, finished_at = NULL, updated_at = $1 WHERE id = $2 AND status = 'failed'`, micros(now), StepRowID(runID, index))
	if err != nil {
		return fmt.Errorf("retry step: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrStepNotFailed
	}
	if _, err := tx.ExecContext(ctx, `UPDATE runs SET status = 'running', error = '', finished_at = NULL, updated_at = $1 WHERE id = $2`,
		micros(now), runID); err != nil {
		return err
	}
	if err := staleRunDay(ctx, tx, runID); err != nil {
		return err
	}
	return tx.Commit()
}
