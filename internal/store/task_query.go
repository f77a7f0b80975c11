package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/moments-cs/moments/internal/vocab"
	"math"
	"strconv"
	"time"
)

// Task is work for a person or a team, created by a playbook's task step.
type Task struct {
	ID          string `json:"id"`
	RunID       string `json:"run_id"`
	StepIndex   int    `json:"-"`
	AccountID   string `json:"account_id"`
	MomentID    string `json:"moment_id"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	// Team is who the playbook assigned the task to (a team id, the CSM's
	// address, an address); Assignee is who holds it now (the same until
	// someone claims it).
	Team     string `json:"team,omitempty"`
	Assignee string `json:"assignee"`
	// Status is the stored state: open, snoozed or done. Display() gives
	// the state people see, with overdue and escalated.
	Status          string     `json:"-"`
	DueAt           *time.Time `json:"due_at"`
	SnoozedUntil    *time.Time `json:"snoozed_until,omitempty"`
	EscalationLevel int        `json:"escalation_level"`
	Severity        string     `json:"severity,omitempty"`
	CreatedAt       time.Time  `json:"created_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
	CompletedAt     *time.Time `json:"completed_at,omitempty"`
	CompletedBy     string     `json:"completed_by,omitempty"`
}

// Display returns the state people see at now: done, snoozed (until
// snoozed_until), escalated, overdue or open, in that order of precedence.
func (t Task) Display(now time.Time) string {
	switch {
	case t.Status == vocab.TaskDone:
		return vocab.TaskDone
	case t.SnoozedUntil != nil && t.SnoozedUntil.After(now):
		return vocab.TaskSnoozed
	case t.EscalationLevel > 0:
		return vocab.TaskEscalated
	case t.DueAt != nil && t.DueAt.Before(now):
		return vocab.TaskOverdue
	}
	return vocab.TaskOpen
}

// Active reports whether the task still asks for work at now: not done and
// not snoozed.
func (t Task) Active(now time.Time) bool {
	return t.Status != vocab.TaskDone && (t.SnoozedUntil == nil || !t.SnoozedUntil.After(now))
}

const taskCols = `id, run_id, step_index, account_id, moment_id, title, description, team, assignee, status, due_at,
	snoozed_until, escalation_level, severity, created_at, updated_at, completed_at, completed_by`

func scanTask(r scanner) (Task, error) {
	var (
		t                       Task
		due, snoozed, completed sql.NullInt64
		created, updated        int64
	)
	err := r.Scan(&t.ID, &t.RunID, &t.StepIndex, &t.AccountID, &t.MomentID, &t.Title, &t.Description, &t.Team,
		&t.Assignee, &t.Status, &due, &snoozed, &t.EscalationLevel, &t.Severity, &created, &updated, &completed, &t.CompletedBy)
	t.DueAt, t.SnoozedUntil, t.CompletedAt = timePtr(due), timePtr(snoozed), timePtr(completed)
	t.CreatedAt, t.UpdatedAt = fromMicros(created), fromMicros(updated)
	return t, err
}

// InsertTaskTx inserts t through q unless its run step already made a task;
// it reports whether it inserted.
func (s *Store) InsertTaskTx(ctx context.Context, q Querier, t Task) (bool, error) {
	n, err := s.execStalingRun(ctx, q, `INSERT INTO tasks (id, run_id, step_index, account_id, moment_id, title, description,
		team, assignee, status, due_at, escalation_level, severity, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, '', $12, $12)
		ON CONFLICT (run_id, step_index) DO NOTHING`, "run_id", t.RunID,
		t.ID, t.RunID, t.StepIndex, t.AccountID, t.MomentID, t.Title, t.Description, t.Team, t.Assignee, vocab.TaskOpen,
		nullTime(t.DueAt), micros(t.CreatedAt))
	if err != nil {
		return false, fmt.Errorf("insert task: %w", err)
	}
	return n == 1, nil
}

// Task returns one task.
func (s *Store) Task(ctx context.Context, id string) (Task, error) {
	t, err := scanTask(s.read.QueryRowContext(ctx, "SELECT "+taskCols+" FROM tasks WHERE id = $1", id))
	if errors.Is(err, sql.ErrNoRows) {
		return t, ErrNotFound
	}
	return t, err
}

// TaskTx returns one task read through q.
func (s *Store) TaskTx(ctx context.Context, q Querier, id string) (Task, error) {
	t, err := scanTask(q.QueryRowContext(ctx, "SELECT "+taskCols+" FROM tasks WHERE id = $1", id))
	if errors.Is(err, sql.ErrNoRows) {
		return t, ErrNotFound
	}
	return t, err
}

// LastTaskOfRunTx returns the task made by the latest task step of a run
// before step index before, or ErrNotFound.
func (s *Store) LastTaskOfRunTx(ctx context.Context, q Querier, runID string, before int) (Task, error) {
	t, err := scanTask(q.QueryRowContext(ctx, "SELECT "+taskCols+` FROM tasks WHERE run_id = $1 AND step_index < $2
		ORDER BY step_index DESC LIMIT 1`, runID, before))
	if errors.Is(err, sql.ErrNoRows) {
		return t, ErrNotFound
	}
	return t, err
}

// TaskFilter narrows ListTasks; empty fields match everything. Status is
// one of open (every task not done and not snoozed, overdue and escalated
// included), overdue, escalated, done or snoozed.
type TaskFilter struct {
	Assignee  string
	AccountID string
	MomentID  string
	Status    string
	RunID     string
}

// ErrBadStatus is returned for a task status filter that does not exist.
var ErrBadStatus = errors.New("status must be one of open, overdue, escalated, done, snoozed")

// ListTasks returns one page of tasks, soonest due first (tasks without a
// due date last), and the next cursor.
func (s *Store) ListTasks(ctx context.Context, f TaskFilter, now time.Time, p Page) ([]Task, string, error) {
	var w where
	w.eq("assignee", f.Assignee)
	w.eq("account_id", f.AccountID)
	w.eq("moment_id", f.MomentID)
	w.eq("run_id", f.RunID)
	if f.Status == vocab.TaskDone {
		// PostgreSQL refuses a parameter the statement does not use, so
		// done (which needs no clock) is handled apart.
		w.add("status = 'done'")
	} else if f.Status != "" {
		n := w.arg(micros(now))
		active := "status <> 'done' AND (snoozed_until IS NULL OR snoozed_until <= " + n + ")"
		switch f.Status {
		case vocab.TaskOpen:
			w.add(active)
		case vocab.TaskOverdue:
			w.add(active + " AND due_at IS NOT NULL AND due_at < " + n)
		case vocab.TaskEscalated:
			w.add(active + " AND escalation_level > 0")
		case vocab.TaskSnoozed:
			w.add("status <> 'done' AND snoozed_until > " + n)
		default:
			return nil, "", ErrBadStatus
		}
	}
	// Order by due date with undated tasks last; the sort key is the due
	// time, or the largest int64 for none, so a cursor is one number.
	const sortKey = "COALESCE(due_at, 9223372036854775807)"
	if p.Cursor != "" {
		kv, id, err := decodeNumCursor(p.Cursor)
		if err != nil {
			return nil, "", err
		}
		a, b := w.arg(kv), w.arg(id)
		w.add("(" + sortKey + " > " + a + " OR (" + sortKey + " = " + a + " AND id > " + b + "))")
	}
	return queryPage(ctx, s.read, "tasks", "SELECT "+taskCols+" FROM tasks", w, sortKey+", id", p, scanTask,
		func(t Task) string {
			k := int64(math.MaxInt64)
			if t.DueAt != nil {
				k = micros(*t.DueAt)
			}
			return encodeCursor(strconv.FormatInt(k, 10), t.ID)
		})
}

// TaskChange is a change to a task through the API. Nil fields are left
// as they are.
type TaskChange struct {
	Assignee *string
	// Status is open or done (snoozing goes through SnoozedUntil).
	Status *string
	// SnoozedUntil snoozes the task until then; a zero time wakes it.
	SnoozedUntil *time.Time
	// By is who made the change, kept as completed_by.
	By string
}

// UpdateTask applies c to a task and returns the task as saved.
func (s *Store) UpdateTask(ctx context.Context, id string, c TaskChange, now time.Time) (Task, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return Task{}, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	t, err := s.TaskTx(ctx, tx, id)
	if err != nil {
		return t, err
	}
	if c.Assignee != nil {
		t.Assignee = *c.Assignee
	}
	if c.SnoozedUntil != nil {
		if c.SnoozedUntil.IsZero() {
			t.SnoozedUntil = nil
			if t.Status == vocab.TaskSnoozed {
				t.Status = vocab.TaskOpen
			}
		} else {
			u := *c.SnoozedUntil
			t.SnoozedUntil = &u
			if t.Status != vocab.TaskDone {
				t.Status = vocab.TaskSnoozed
			}
		}
	}
	if c.Status != nil {
		switch *c.Status {
		case vocab.TaskDone:
			if t.Status != vocab.TaskDone {
				t.Status, t.CompletedAt, t.CompletedBy = vocab.TaskDone, &now, c.By
			}
		case vocab.TaskOpen:
			t.Status, t.CompletedAt, t.CompletedBy, t.SnoozedUntil = vocab.TaskOpen, nil, "", nil
		}
	}
	_, err = tx.ExecContext(ctx, `UPDATE tasks SET assignee = $1, status = $2, snoozed_until = $3, completed_at = $4,
		completed_by = $5, updated_at = $6 WHERE id = $7`,
		t.Assignee, t.Status, nullTime(t.SnoozedUntil), nullTime(t.CompletedAt), t.CompletedBy, micros(now), id)
	if err != nil {
		return t, fmt.Errorf("update task: %w", err)
	}
	if err := staleTaskDay(ctx, tx, id); err != nil {
		return t, err
	}
	t.UpdatedAt = now
	return t, tx.Commit()
}

// OverdueTasks returns up to limit active tasks due before now whose
// escalation level is below maxLevel, oldest due first.
func (s *Store) OverdueTasks(ctx context.Context, now time.Time, maxLevel, limit int) ([]Task, error) {
	rows, err := s.read.QueryContext(ctx, "SELECT "+taskCols+` FROM tasks
		WHERE status <> 'done' AND due_at IS NOT NULL AND due_at < $1 AND (snoozed_until IS NULL OR snoozed_until <= $1)
		AND escalation_level < $2 ORDER BY due_at LIMIT `+strconv.Itoa(limit), micros(now), maxLevel)
	if err != nil {
		return nil, fmt.Errorf("find overdue tasks: %w", err)
	}
	defer rows.Close()
	var out []Task
	return appendRows(out, rows, scanTask)
}

// Escalation is one step of service recovery: a task (or a run) raised to a
// level and severity, and who was told.
type Escalation struct {
	ID         string     `json:"id"`
	Key        string     `json:"-"`
	TaskID     string     `json:"task_id,omitempty"`
	RunID      string     `json:"run_id,omitempty"`
	AccountID  string     `json:"account_id"`
	MomentID   string     `json:"moment_id"`
	Level      int        `json:"level"`
	Severity   string     `json:"severity"`
	Reason     string     `json:"reason"`
	Notify     string     `json:"notify"`
	Status     string     `json:"status"`
	Error      string     `json:"error,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	NotifiedAt *time.Time `json:"notified_at,omitempty"`
}

// Escalation statuses.
const (
	EscalationPending  = "pending"
	EscalationNotified = "notified"
	EscalationFailed   = "failed"
)

// InsertEscalationTx records e through q unless an escalation with its key exists,
// and raises its task (if any) to e's level and severity. It reports
// whether it inserted.
func (s *Store) InsertEscalationTx(ctx context.Context, q Querier, e Escalation) (bool, error) {
	res, err := q.ExecContext(ctx, `INSERT INTO escalations (id, key, task_id, run_id, account_id, moment_id, level, severity,
		reason, notify, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (key) DO NOTHING`, e.ID, e.Key, e.TaskID, e.RunID, e.AccountID, e.MomentID, e.Level, e.Severity,
		e.Reason, e.Notify, EscalationPending, micros(e.CreatedAt))
	if err != nil {
		return false, fmt.Errorf("record escalation: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	if err := staleRunDay(ctx, q, e.RunID); err != nil {
		return false, err
	}
	if e.TaskID != "" {
		_, err = q.ExecContext(ctx, `UPDATE tasks SET escalation_level = $1, severity = $2, updated_at = $3
			WHERE id = $4 AND escalation_level < $1`, e.Level, e.Severity, micros(e.CreatedAt), e.TaskID)
		if err != nil {
			return false, fmt.Errorf("raise task escalation: %w", err)
		}
	}
	return true, nil
}

const escalationCols = `id, key, task_id, run_id, account_id, moment_id, level, severity, reason, notify, status, error,
	created_at, notified_at`

func scanEscalation(r scanner) (Escalation, error) {
	var (
		e        Escalation
		created  int64
		notified sql.NullInt64
	)
	err := r.Scan(&e.ID, &e.Key, &e.TaskID, &e.RunID, &e.AccountID, &e.MomentID, &e.Level, &e.Severity, &e.Reason,
		&e.Notify, &e.Status, &e.Error, &created, &notified)
	e.CreatedAt, e.NotifiedAt = fromMicros(created), timePtr(notified)
	return e, err
}

// ClaimEscalations leases up to limit pending escalations until leaseUntil
// for this process to notify, so that two server processes never notify
// the same one at once.
func (s *Store) ClaimEscalations(ctx context.Context, now, leaseUntil time.Time, limit int) ([]Escalation, error) {
	rows, err := s.write.QueryContext(ctx, "SELECT "+escalationCols+` FROM escalations
		WHERE status = 'pending' AND (lease_until IS NULL OR lease_until < $1) ORDER BY created_at LIMIT `+strconv.Itoa(limit), micros(now))
	if err != nil {
		return nil, fmt.Errorf("find pending escalations: %w", err)
	}
	var cands []Escalation
	for rows.Next() {
		e, err := scanEscalation(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		cands = append(cands, e)
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}
	var out []Escalation
	for _, e := range cands {
		res, err := s.write.ExecContext(ctx, `UPDATE escalations SET lease_until = $1 WHERE id = $2 AND status = 'pending'
			AND (lease_until IS NULL OR lease_until < $3)`, micros(leaseUntil), e.ID, micros(now))
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			out = append(out, e)
		}
	}
	return out, nil
}

// FinishEscalation records the outcome of notifying an escalation: status
// notified or failed (with errMsg); pending keeps it for another try.
func (s *Store) FinishEscalation(ctx context.Context, id, status, notify, errMsg string, now time.Time) error {
	var at sql.NullInt64
	if status == EscalationNotified {
		at = sql.NullInt64{Int64: micros(now), Valid: true}
	}
	_, err := s.write.ExecContext(ctx, `UPDATE escalations SET status = $1, notify = $2, error = $3, notified_at = $4,
		lease_until = NULL WHERE id = $5`, status, notify, errMsg, at, id)
	return err
}

// Escalations lists a task's (or, with taskID empty, a run's)
// escalations in order.
func (s *Store) Escalations(ctx context.Context, taskID, runID string) ([]Escalation, error) {
	rows, err := s.read.QueryContext(ctx, "SELECT "+escalationCols+` FROM escalations
		WHERE ($1 = '' OR task_id = $1) AND ($2 = '' OR run_id = $2) ORDER BY created_at, level`, taskID, runID)
	if err != nil {
		return nil, fmt.Errorf("list escalations: %w", err)
	}
	defer rows.Close()
	out := []Escalation{}
	return appendRows(out, rows, scanEscalation)
}

// Send is one email or webhook a playbook sent (or tried to), for the
// account's timeline and for not sending it twice.
type Send struct {
	ID        string     `json:"id"`
	Key       string     `json:"-"`
	RunID     string     `json:"run_id,omitempty"`
	StepIndex int        `json:"-"`
	AccountID string     `json:"account_id"`
	Kind      string     `json:"kind"`
	Recipient string     `json:"recipient"`
	Subject   string     `json:"subject,omitempty"`
	MessageID string     `json:"message_id"`
	Status    string     `json:"status"`
	Detail    string     `json:"detail,omitempty"`
	Error     string     `json:"error,omitempty"`
	Attempts  int        `json:"attempts"`
	CreatedAt time.Time  `json:"created_at"`
	SentAt    *time.Time `json:"sent_at,omitempty"`
}

// Send statuses.
const (
	SendSent   = "sent"
	SendFailed = "failed"
)

const sendCols = `id, key, run_id, step_index, account_id, kind, recipient, subject, message_id, status, detail, error,
	attempts, created_at, sent_at`

func scanSend(r scanner) (Send, error) {
	var (
		x       Send
		created int64
		sent    sql.NullInt64
	)
	err := r.Scan(&x.ID, &x.Key, &x.RunID, &x.StepIndex, &x.AccountID, &x.Kind, &x.Recipient, &x.Subject, &x.MessageID,
		&x.Status, &x.Detail, &x.Error, &x.Attempts, &created, &sent)
	x.CreatedAt, x.SentAt = fromMicros(created), timePtr(sent)
	return x, err
}

// SendByKey returns the send recorded under key, or ErrNotFound.
func (s *Store) SendByKey(ctx context.Context, key string) (Send, error) {
	x, err := scanSend(s.write.QueryRowContext(ctx, "SELECT "+sendCols+" FROM sends WHERE key = $1", key))
	if errors.Is(err, sql.ErrNoRows) {
		return x, ErrNotFound
	}
	return x, err
}

// RecordSend stores the latest attempt of the send under x.Key, counting
// attempts; a send once recorded as sent stays sent.
func (s *Store) RecordSend(ctx context.Context, x Send) error {
	_, err := s.write.ExecContext(ctx, `INSERT INTO sends (id, key, run_id, step_index, account_id, kind, recipient, subject,
		message_id, status, detail, error, attempts, created_at, sent_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 1, $13, $14)
		ON CONFLICT (key) DO UPDATE SET attempts = sends.attempts + 1, status = excluded.status, detail = excluded.detail,
		error = excluded.error, sent_at = excluded.sent_at WHERE sends.status <> 'sent'`,
		x.ID, x.Key, x.RunID, x.StepIndex, x.AccountID, x.Kind, x.Recipient, x.Subject, x.MessageID, x.Status, x.Detail,
		x.Error, micros(x.CreatedAt), nullTime(x.SentAt))
	if err != nil {
		return fmt.Errorf("record %s to %s: %w", x.Kind, x.Recipient, err)
	}
	return nil
}

// CountAccountSends counts an account's sends of kind in status created
// since since; the email limit per account reads it.
func (s *Store) CountAccountSends(ctx context.Context, accountID, kind, status string, since time.Time) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM sends WHERE account_id = $1 AND kind = $2 AND status = $3 AND created_at >= $4`,
		accountID, kind, status, micros(since)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count sends: %w", err)
	}
	return n, nil
}

// AccountSends lists the emails and webhooks sent for an account, newest
// first, for its timeline; runID, when set, narrows to one run.
func (s *Store) AccountSends(ctx context.Context, accountID, runID string, limit int) ([]Send, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	rows, err := s.read.QueryContext(ctx, "SELECT "+sendCols+` FROM sends WHERE ($1 = '' OR account_id = $1)
		AND ($2 = '' OR run_id = $2) ORDER BY created_at DESC, id DESC LIMIT `+strconv.Itoa(limit), accountID, runID)
	if err != nil {
		return nil, fmt.Errorf("list sends: %w", err)
	}
	defer rows.Close()
	out := []Send{}
	return appendRows(out, rows, scanSend)
}
