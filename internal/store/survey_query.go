package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/moments-cs/moments/internal/vocab"
)

// Survey send statuses. A pending send is reserved (it counts against the
// fatigue budget) while its email goes out; a failed one counts against
// nothing and is reserved again when its step is retried.
const (
	SurveyPending   = "pending"
	SurveySent      = "sent"
	SurveyFailed    = "failed"
	SurveySkipped   = "skipped"
	SurveyWithdrawn = "withdrawn"
)

// SurveySend is one survey sent (or skipped) to one contact.
type SurveySend struct {
	ID  string `json:"id"`
	Key string `json:"-"`
	// TokenHash and ReminderHash are SHA-256 hashes of the link tokens.
	TokenHash    []byte     `json:"-"`
	ReminderHash []byte     `json:"-"`
	SurveyID     string     `json:"survey"`
	Kind         string     `json:"kind"`
	AccountID    string     `json:"account_id"`
	ContactID    string     `json:"contact_id"`
	Email        string     `json:"email,omitempty"`
	Role         string     `json:"role,omitempty"`
	Language     string     `json:"language,omitempty"`
	MomentID     string     `json:"moment,omitempty"`
	RunID        string     `json:"run_id,omitempty"`
	StepIndex    int        `json:"-"`
	MapVersion   int        `json:"map_version,omitempty"`
	Status       string     `json:"status"`
	Reason       string     `json:"reason,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	SentAt       *time.Time `json:"sent_at,omitempty"`
	ExpiresAt    *time.Time `json:"expires_at,omitempty"`
	RemindedAt   *time.Time `json:"reminded_at,omitempty"`
	Score        *int       `json:"score,omitempty"`
	AnsweredAt   *time.Time `json:"answered_at,omitempty"`
	Comment      string     `json:"comment,omitempty"`
	CommentedAt  *time.Time `json:"commented_at,omitempty"`
	EventAt      *time.Time `json:"-"`
}

const surveySendCols = `id, key, token_hash, reminder_hash, survey_id, kind, account_id, contact_id, email, role, language,
	moment_id, run_id, step_index, map_version, status, reason, created_at, sent_at, expires_at, reminded_at, score,
	answered_at, comment, commented_at, event_at`

func scanSurveySend(r scanner) (SurveySend, error) {
	var (
		x                                                  SurveySend
		created                                            int64
		sent, expires, reminded, answered, commented, evAt sql.NullInt64
		score                                              sql.NullInt64
	)
	err := r.Scan(&x.ID, &x.Key, &x.TokenHash, &x.ReminderHash, &x.SurveyID, &x.Kind, &x.AccountID, &x.ContactID, &x.Email,
		&x.Role, &x.Language, &x.MomentID, &x.RunID, &x.StepIndex, &x.MapVersion, &x.Status, &x.Reason, &created, &sent,
		&expires, &reminded, &score, &answered, &x.Comment, &commented, &evAt)
	if err != nil {
		return x, err
	}
	x.CreatedAt = fromMicros(created)
	x.SentAt, x.ExpiresAt, x.RemindedAt = timePtr(sent), timePtr(expires), timePtr(reminded)
	x.AnsweredAt, x.CommentedAt, x.EventAt = timePtr(answered), timePtr(commented), timePtr(evAt)
	if score.Valid {
		v := int(score.Int64)
		x.Score = &v
	}
	return x, nil
}

// SurveyHistory is what the fatigue budget weighs before a send: the
// surveys the contact and the account's people received (pending or sent)
// since the given times, and whether the account has an open escalation.
type SurveyHistory struct {
	Contact        []SurveySend
	Account        []SurveySend
	OpenEscalation bool
}

// SurveyDecision is the fatigue budget's verdict on one send: Skip, when
// set, is the reason it is not sent; Withdraw lists unanswered sends that
// the new one replaces.
type SurveyDecision struct {
	Skip     string
	Withdraw []string
}

// ReserveSurveySend records x under its key as pending (or skipped, as
// decide says), in one transaction with reading the history decide weighs,
// so two sends at once cannot both pass the budget. A send already recorded
// under the key as sent, skipped or withdrawn is returned as it is with
// existing set; a pending or failed one (its email did not go, or its
// server died while sending) is decided again with x's new token.
func (s *Store) ReserveSurveySend(ctx context.Context, x SurveySend, contactSince, accountSince time.Time,
	decide func(SurveyHistory) SurveyDecision) (out SurveySend, existing bool, err error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return x, false, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if s.dialect == Postgres {
		// Serialises budget decisions per account across replicas; SQLite
		// has one writer, which does the same.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "survey:"+x.AccountID); err != nil {
			return x, false, fmt.Errorf("lock survey budget: %w", err)
		}
	}
	prev, err := scanSurveySend(tx.QueryRowContext(ctx, "SELECT "+surveySendCols+" FROM survey_sends WHERE key = $1", x.Key))
	switch {
	case err == nil && prev.Status != SurveyPending && prev.Status != SurveyFailed:
		return prev, true, nil
	case err == nil:
		if _, err := tx.ExecContext(ctx, `DELETE FROM survey_sends WHERE id = $1`, prev.ID); err != nil {
			return x, false, err
		}
	case !errors.Is(err, sql.ErrNoRows):
		return x, false, fmt.Errorf("read survey send: %w", err)
	}
	var h SurveyHistory
	if h.Contact, err = s.recentSurveys(ctx, tx, "contact_id", x.ContactID, contactSince); err != nil {
		return x, false, err
	}
	if h.Account, err = s.recentSurveys(ctx, tx, "account_id", x.AccountID, accountSince); err != nil {
		return x, false, err
	}
	if h.OpenEscalation, err = openEscalation(ctx, tx, x.AccountID); err != nil {
		return x, false, err
	}
	d := decide(h)
	x.Status = SurveyPending
	if d.Skip != "" {
		x.Status, x.Reason, x.TokenHash, x.ExpiresAt = SurveySkipped, d.Skip, nil, nil
	} else {
		for _, id := range d.Withdraw {
			if _, err := tx.ExecContext(ctx, `UPDATE survey_sends SET status = 'withdrawn', reason = $1
				WHERE id = $2 AND score IS NULL`, "replaced by survey "+x.SurveyID, id); err != nil {
				return x, false, fmt.Errorf("withdraw survey: %w", err)
			}
		}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO survey_sends (id, key, token_hash, survey_id, kind, account_id, contact_id,
		email, role, language, moment_id, run_id, step_index, map_version, status, reason, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
		x.ID, x.Key, nullBytes(x.TokenHash), x.SurveyID, x.Kind, x.AccountID, x.ContactID, x.Email, x.Role, x.Language,
		x.MomentID, x.RunID, x.StepIndex, x.MapVersion, x.Status, x.Reason, micros(x.CreatedAt), nullTime(x.ExpiresAt))
	if err != nil {
		return x, false, fmt.Errorf("record survey send: %w", err)
	}
	return x, false, tx.Commit()
}

func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// recentSurveys lists the pending and sent surveys of one contact or
// account created since a time, newest first.
func (s *Store) recentSurveys(ctx context.Context, tx *sql.Tx, col, id string, since time.Time) ([]SurveySend, error) {
	rows, err := tx.QueryContext(ctx, "SELECT "+surveySendCols+" FROM survey_sends WHERE "+col+` = $1
		AND created_at >= $2 AND status IN ('pending', 'sent') ORDER BY created_at DESC, id DESC`, id, micros(since))
	if err != nil {
		return nil, fmt.Errorf("read recent surveys: %w", err)
	}
	defer rows.Close()
	return appendRows([]SurveySend{}, rows, scanSurveySend)
}

// openEscalation reports whether the account has an escalation still open:
// its task not done, or, without a task, its run still going.
func openEscalation(ctx context.Context, tx *sql.Tx, accountID string) (bool, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM escalations e
		LEFT JOIN tasks t ON t.id = e.task_id
		LEFT JOIN runs r ON r.id = e.run_id
		WHERE e.account_id = $1 AND ((e.task_id <> '' AND t.status <> 'done')
			OR (e.task_id = '' AND r.status IN ('running', 'waiting')))`, accountID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("read open escalations: %w", err)
	}
	return n > 0, nil
}

// FinishSurveySend records how a reserved send's email went: sent (with
// when it was sent) or failed (with the reason).
func (s *Store) FinishSurveySend(ctx context.Context, id, status, reason string, at time.Time) error {
	var sent sql.NullInt64
	if status == SurveySent {
		sent = nullMicros(at)
	}
	_, err := s.write.ExecContext(ctx, `UPDATE survey_sends SET status = $1, reason = $2, sent_at = $3
		WHERE id = $4 AND status = 'pending'`, status, reason, sent, id)
	if err != nil {
		return fmt.Errorf("record survey send: %w", err)
	}
	return nil
}

// SurveySendByToken returns the send whose first or reminder link has the
// token hash h.
func (s *Store) SurveySendByToken(ctx context.Context, h []byte) (SurveySend, error) {
	x, err := scanSurveySend(s.write.QueryRowContext(ctx, "SELECT "+surveySendCols+
		" FROM survey_sends WHERE token_hash = $1 OR reminder_hash = $1", h))
	if errors.Is(err, sql.ErrNoRows) {
		return x, ErrNotFound
	}
	return x, err
}

// SurveySend returns a send by id.
func (s *Store) SurveySend(ctx context.Context, id string) (SurveySend, error) {
	x, err := scanSurveySend(s.write.QueryRowContext(ctx, "SELECT "+surveySendCols+" FROM survey_sends WHERE id = $1", id))
	if errors.Is(err, sql.ErrNoRows) {
		return x, ErrNotFound
	}
	return x, err
}

// RecordSurveyAnswer records a score and a comment on a send. The score is
// set only if none is recorded yet (it never changes once recorded); a
// non-empty comment replaces the one before. It returns the send as
// stored afterwards.
func (s *Store) RecordSurveyAnswer(ctx context.Context, id string, score *int, comment string, at time.Time) (SurveySend, error) {
	if score != nil {
		if _, err := s.write.ExecContext(ctx, `UPDATE survey_sends SET score = $1, answered_at = $2
			WHERE id = $3 AND score IS NULL`, *score, micros(at), id); err != nil {
			return SurveySend{}, fmt.Errorf("record survey score: %w", err)
		}
	}
	if comment != "" {
		if _, err := s.write.ExecContext(ctx, `UPDATE survey_sends SET comment = $1, commented_at = $2
			WHERE id = $3 AND score IS NOT NULL`, comment, micros(at), id); err != nil {
			return SurveySend{}, fmt.Errorf("record survey comment: %w", err)
		}
	}
	return s.SurveySend(ctx, id)
}

// MarkSurveyEvent records that the answer's event was ingested.
func (s *Store) MarkSurveyEvent(ctx context.Context, id string, at time.Time) error {
	_, err := s.write.ExecContext(ctx, `UPDATE survey_sends SET event_at = $1 WHERE id = $2 AND event_at IS NULL`, micros(at), id)
	return err
}

// SurveysAwaitingEvent lists answers recorded before cutoff whose event is
// not yet ingested (a score given by one click whose page was never
// submitted, or a crash between the two).
func (s *Store) SurveysAwaitingEvent(ctx context.Context, cutoff time.Time, limit int) ([]SurveySend, error) {
	rows, err := s.read.QueryContext(ctx, "SELECT "+surveySendCols+` FROM survey_sends
		WHERE status = 'sent' AND score IS NOT NULL AND event_at IS NULL AND answered_at <= $1
		ORDER BY answered_at LIMIT `+strconv.Itoa(limit), micros(cutoff))
	if err != nil {
		return nil, fmt.Errorf("list answers awaiting their event: %w", err)
	}
	defer rows.Close()
	return appendRows([]SurveySend{}, rows, scanSurveySend)
}

// SurveysToRemind lists sends not answered, not reminded, sent at or before
// sentBefore and not expired at now.
func (s *Store) SurveysToRemind(ctx context.Context, sentBefore, now time.Time, limit int) ([]SurveySend, error) {
	rows, err := s.read.QueryContext(ctx, "SELECT "+surveySendCols+` FROM survey_sends
		WHERE status = 'sent' AND score IS NULL AND reminded_at IS NULL AND sent_at <= $1 AND expires_at > $2
		ORDER BY sent_at LIMIT `+strconv.Itoa(limit), micros(sentBefore), micros(now))
	if err != nil {
		return nil, fmt.Errorf("list surveys to remind: %w", err)
	}
	defer rows.Close()
	return appendRows([]SurveySend{}, rows, scanSurveySend)
}

// ClaimSurveyReminder marks a send reminded, with the reminder link's token
// hash, unless it was answered or reminded already; only the claimer
// sends the reminder, so it goes at most once.
func (s *Store) ClaimSurveyReminder(ctx context.Context, id string, h []byte, at time.Time) (bool, error) {
	res, err := s.write.ExecContext(ctx, `UPDATE survey_sends SET reminded_at = $1, reminder_hash = $2
		WHERE id = $3 AND reminded_at IS NULL AND score IS NULL AND status = 'sent'`, micros(at), h, id)
	if err != nil {
		return false, fmt.Errorf("claim survey reminder: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// SurveySendFilter narrows SurveySends.
type SurveySendFilter struct {
	AccountID string
	// Since, when set, keeps sends created at or after it.
	Since time.Time
	// Limit bounds the rows, newest first (default and most 100,000).
	Limit int
}

// SurveySends lists survey sends of every status, newest first.
func (s *Store) SurveySends(ctx context.Context, f SurveySendFilter) ([]SurveySend, error) {
	if f.Limit <= 0 || f.Limit > 100000 {
		f.Limit = 100000
	}
	rows, err := s.read.QueryContext(ctx, "SELECT "+surveySendCols+` FROM survey_sends
		WHERE ($1 = '' OR account_id = $1) AND created_at >= $2 ORDER BY created_at DESC, id DESC LIMIT `+strconv.Itoa(f.Limit),
		f.AccountID, micros(f.Since))
	if err != nil {
		return nil, fmt.Errorf("list survey sends: %w", err)
	}
	defer rows.Close()
	return appendRows([]SurveySend{}, rows, scanSurveySend)
}

// SurveyAnswerEvents lists the "Survey Responded" events from every source
// with a timestamp in [from, to), oldest first.
func (s *Store) SurveyAnswerEvents(ctx context.Context, from, to time.Time) ([]Event, error) {
	// The name is a literal so that the partial index on these events
	// serves the query.
	rows, err := s.read.QueryContext(ctx, "SELECT "+eventCols+` FROM events
		WHERE name = '`+vocab.EventSurveyResponded+`' AND timestamp >= $1 AND timestamp < $2 ORDER BY timestamp, id`,
		micros(from), micros(to))
	if err != nil {
		return nil, fmt.Errorf("list survey answers: %w", err)
	}
	defer rows.Close()
	return appendRows([]Event{}, rows, scanEvent)
}

// Recovery is what followed one event: the first run it started and when
// that run's first task was done.
type Recovery struct {
	EventID   int64
	RunID     string
	MomentID  string
	StartedAt time.Time
	// FirstTaskDoneAt is when the earliest done task of the run was done.
	FirstTaskDoneAt *time.Time
}

// RecoveriesFor returns, per event id, the first run the event started and
// its first task done.
func (s *Store) RecoveriesFor(ctx context.Context, eventIDs []int64) (map[int64]Recovery, error) {
	out := map[int64]Recovery{}
	for len(eventIDs) > 0 {
		n := min(len(eventIDs), 500)
		batch := eventIDs[:n]
		eventIDs = eventIDs[n:]
		args := make([]any, len(batch))
		ph := make([]string, len(batch))
		for i, id := range batch {
			args[i], ph[i] = id, "$"+strconv.Itoa(i+1)
		}
		rows, err := s.read.QueryContext(ctx, `SELECT r.event_id, r.id, r.moment_id, r.created_at,
			(SELECT MIN(t.completed_at) FROM tasks t WHERE t.run_id = r.id AND t.status = 'done')
			FROM runs r WHERE r.event_id IN (`+strings.Join(ph, ", ")+`) ORDER BY r.created_at, r.id`, args...)
		if err != nil {
			return nil, fmt.Errorf("read recovery runs: %w", err)
		}
		for rows.Next() {
			var (
				r       Recovery
				created int64
				done    sql.NullInt64
			)
			if err := rows.Scan(&r.EventID, &r.RunID, &r.MomentID, &created, &done); err != nil {
				rows.Close()
				return nil, err
			}
			r.StartedAt, r.FirstTaskDoneAt = fromMicros(created), timePtr(done)
			if _, ok := out[r.EventID]; !ok {
				out[r.EventID] = r
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SurveyReplies counts an account's surveys sent since a time: those
// answered, and those whose link expired (or, for a send without an
// expiry, that were sent before the time given as closed) without an
// answer.
type SurveyReplies struct {
	Answered   int
	Unanswered int
	// LastUnanswered is when the latest of the unanswered surveys was sent.
	LastUnanswered time.Time
}

// SurveyRepliesTx counts, per account of ids, the surveys sent since
// since: answered, and closed unanswered (link expired by now, or sent
// before closedBefore when the send has no expiry). Accounts with no such
// send are absent. With q nil it reads from the read pool.
func (s *Store) SurveyRepliesTx(ctx context.Context, q Querier, ids []string, since, closedBefore, now time.Time) (map[string]SurveyReplies, error) {
	if q == nil {
		q = s.read
	}
	out := map[string]SurveyReplies{}
	unanswered := `score IS NULL AND (expires_at <= $3 OR (expires_at IS NULL AND sent_at < $2))`
	err := s.eachRowIn(ctx, q, `SELECT account_id,
		COUNT(CASE WHEN score IS NOT NULL THEN 1 END),
		COUNT(CASE WHEN `+unanswered+` THEN 1 END),
		MAX(CASE WHEN `+unanswered+` THEN sent_at END)
		FROM survey_sends WHERE status = 'sent' AND sent_at >= $1 AND account_id IN (`+idsMarker+`)
		GROUP BY account_id`, []any{micros(since), micros(closedBefore), micros(now)}, sortedUnique(ids), func(r scanner) error {
		var (
			id   string
			x    SurveyReplies
			last sql.NullInt64
		)
		if err := r.Scan(&id, &x.Answered, &x.Unanswered, &last); err != nil {
			return err
		}
		if last.Valid {
			x.LastUnanswered = fromMicros(last.Int64)
		}
		out[id] = x
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count survey replies: %w", err)
	}
	return out, nil
}

// PastSurvey is one survey sent to an account's contact, with when it was
// answered: enough to count its replies as they stood at any past time.
type PastSurvey struct {
	SentAt time.Time
	// ExpiresAt is when its link expired (nil: no recorded expiry);
	// AnsweredAt when it was answered (nil: never).
	ExpiresAt, AnsweredAt *time.Time
}

// SurveysSent returns, per account of ids, the surveys sent to its
// contacts (status sent), in no particular order. The health history's
// rebuild reads them to raise unanswered_surveys on past days.
func (s *Store) SurveysSent(ctx context.Context, ids []string) (map[string][]PastSurvey, error) {
	out := map[string][]PastSurvey{}
	err := s.eachRowIn(ctx, s.read, `SELECT account_id, sent_at, expires_at, CASE WHEN score IS NOT NULL THEN COALESCE(answered_at, sent_at) END
		FROM survey_sends WHERE status = 'sent' AND sent_at IS NOT NULL AND account_id IN (`+idsMarker+`)`, nil, sortedUnique(ids),
		func(r scanner) error {
			var (
				id              string
				sent            int64
				expires, answer sql.NullInt64
			)
			if err := r.Scan(&id, &sent, &expires, &answer); err != nil {
				return err
			}
			x := PastSurvey{SentAt: fromMicros(sent)}
			if expires.Valid {
				t := fromMicros(expires.Int64)
				x.ExpiresAt = &t
			}
			if answer.Valid {
				t := fromMicros(answer.Int64)
				x.AnsweredAt = &t
			}
			out[id] = append(out[id], x)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("read surveys sent: %w", err)
	}
	return out, nil
}
