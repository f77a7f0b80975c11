package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/moments-cs/moments/internal/vocab"
)

// This file holds the queries of moment analytics (internal/report): the
// aggregates ingestion keeps for them (analytics_marks, survey scores) and
// the reads of occurrences, their steps and the accounts' time to value.

// backfillChunk is how many events one backfill transaction copies, so a
// backfill never holds SQLite's single writer for long.
const backfillChunk = 2000

// analyticsName is a watched event name: events from id from on are
// copied by ingestion, those below by the backfill once backfilled.
type analyticsName struct {
	from       int64
	backfilled bool
}

// analyticsNames reads the watched event names.
func analyticsNames(ctx context.Context, q Querier) (map[string]analyticsName, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, watched_from, backfilled_at FROM analytics_names`)
	if err != nil {
		return nil, fmt.Errorf("read the watched event names: %w", err)
	}
	defer rows.Close()
	out := map[string]analyticsName{}
	for rows.Next() {
		var name string
		var n analyticsName
		var at sql.NullInt64
		if err := rows.Scan(&name, &n.from, &at); err != nil {
			return nil, err
		}
		n.backfilled = at.Valid
		out[name] = n
	}
	return out, rows.Err()
}

// WatchAnalyticsNames makes sure the events of names (and every survey
// answer) are in the analytics aggregates: a name not watched yet is
// watched from the next event on, and the events stored before a name was
// watched are copied once, in chunks. It returns how many events it
// copied: none when ingestion has watched the names from the start.
func (s *Store) WatchAnalyticsNames(ctx context.Context, names []string) (int, error) {
	names = append([]string{vocab.EventSurveyResponded}, names...)
	have, err := analyticsNames(ctx, s.read)
	if err != nil {
		return 0, err
	}
	copied := 0
	for _, n := range names {
		if w, ok := have[n]; n == "" || (ok && w.backfilled) {
			continue
		}
		// Watched first, committed, then backfilled below that id: an event
		// stored after the insert is copied by ingestion, one before by the
		// backfill; ON CONFLICT makes any overlap harmless.
		if _, err := s.write.ExecContext(ctx, `INSERT INTO analytics_names (name, since, watched_from)
			VALUES ($1, $2, (SELECT COALESCE(MAX(id), 0) + 1 FROM events)) ON CONFLICT (name) DO NOTHING`,
			n, micros(s.now())); err != nil {
			return copied, fmt.Errorf("watch event %q: %w", n, err)
		}
		var below int64
		if err := s.write.QueryRowContext(ctx, `SELECT watched_from FROM analytics_names WHERE name = $1`, n).Scan(&below); err != nil {
			return copied, err
		}
		c, err := s.backfillName(ctx, n, below)
		copied += c
		if err != nil {
			return copied, err
		}
		if _, err := s.write.ExecContext(ctx, `UPDATE analytics_names SET backfilled_at = $2 WHERE name = $1`,
			n, micros(s.now())); err != nil {
			return copied, err
		}
	}
	return copied, nil
}

// backfillName copies the stored events of one name with ids below below
// into the aggregates, chunk by chunk in event id order.
func (s *Store) backfillName(ctx context.Context, name string, below int64) (int, error) {
	var after int64
	copied := 0
	for {
		rows, err := s.read.QueryContext(ctx, `SELECT id, name, account_id, timestamp, properties FROM events
			WHERE id > $1 AND id < $2 AND name = $3 AND account_id <> '' ORDER BY id LIMIT $4`, after, below, name, backfillChunk)
		if err != nil {
			return copied, fmt.Errorf("read %q events to backfill: %w", name, err)
		}
		var evs []Event
		for rows.Next() {
			var e Event
			var ts int64
			var props []byte
			if err := rows.Scan(&e.ID, &e.Name, &e.AccountID, &ts, &props); err != nil {
				rows.Close()
				return copied, err
			}
			e.Timestamp, e.Properties = fromMicros(ts), props
			evs = append(evs, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return copied, err
		}
		if len(evs) == 0 {
			return copied, nil
		}
		tx, err := s.write.BeginTx(ctx, nil)
		if err != nil {
			return copied, err
		}
		if err := insertMarks(ctx, s.dialect, tx, evs, map[string]bool{name: true}); err != nil {
			tx.Rollback() //nolint:errcheck // the insert error is the one to report
			return copied, err
		}
		if err := tx.Commit(); err != nil {
			return copied, err
		}
		copied += len(evs)
		after = evs[len(evs)-1].ID
	}
}

// RecordAnalyticsTx copies a batch's events of watched names into
// analytics_marks, and its survey answers into analytics_survey_scores, in
// the ingestion transaction. The names in measure (those the live map
// measures) that are not watched yet are watched from this batch on, so
// a map applied before its events arrive never needs a backfill.
func (s *Store) RecordAnalyticsTx(ctx context.Context, tx Querier, events []Event, measure []string) error {
	if len(events) == 0 {
		return nil
	}
	watched, err := analyticsNames(ctx, tx)
	if err != nil {
		return err
	}
	first := events[0].ID
	for _, e := range events {
		first = min(first, e.ID)
	}
	if !s.dialect.embedded() {
		// The stages' shards run at once on PostgreSQL (shards.go), each at
		// its own progress. A round that starts watching a name holds
		// analyticsLockKey exclusively, the others share it from before
		// they read the names to their commit: a round either sees the
		// name or has committed before it is watched. The name is then
		// watched from past every shard's progress (ingestion copies the
		// events after it; the backfill those below, overlaps being
		// harmless).
		mode := "pg_advisory_xact_lock_shared"
		for _, n := range append([]string{vocab.EventSurveyResponded}, measure...) {
			if _, ok := watched[n]; n != "" && !ok {
				mode = "pg_advisory_xact_lock"
			}
		}
		if _, err := tx.ExecContext(ctx, "SELECT "+mode+"($1)", analyticsLockKey); err != nil {
			return fmt.Errorf("read the watched event names: %w", err)
		}
		if watched, err = analyticsNames(ctx, tx); err != nil {
			return err
		}
		var past int64
		if err := tx.QueryRowContext(ctx, "SELECT "+stagesCeilSQL).Scan(&past); err != nil {
			return fmt.Errorf("read ingest stage progress: %w", err)
		}
		first = max(first, past+1)
	}
	names := make(map[string]bool, len(watched)+len(measure)+1)
	for n := range watched {
		names[n] = true
	}
	for _, n := range append([]string{vocab.EventSurveyResponded}, measure...) {
		if n == "" || names[n] {
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO analytics_names (name, since, watched_from) VALUES ($1, $2, $3)
			ON CONFLICT (name) DO NOTHING`, n, micros(s.now()), first); err != nil {
			return fmt.Errorf("watch event %q: %w", n, err)
		}
		names[n] = true
	}
	return insertMarks(ctx, s.dialect, tx, events, names)
}

// analyticsLockKey is the PostgreSQL advisory lock of the watched names
// (RecordAnalyticsTx).
const analyticsLockKey = ingestLockKey + 2

// RecordAnalytics is RecordAnalyticsTx as an ingest hook that watches no
// new name: for installations assembled without a journey map.
func (s *Store) RecordAnalytics(ctx context.Context, tx *sql.Tx, events []Event) error {
	return s.RecordAnalyticsTx(ctx, tx, events, nil)
}

// insertMarks writes the marks (and survey scores) of the events whose
// name is in names. The marks go in one statement (column arrays on
// PostgreSQL, multi-row inserts on SQLite): a statement per mark was a
// round trip per event on PostgreSQL.
func insertMarks(ctx context.Context, d Dialect, q Querier, events []Event, names map[string]bool) error {
	var (
		accts, evNames []string
		at, ids        []int64
		scores         surveyScores
	)
	staled := map[string]bool{}
	for i := range events {
		e := &events[i]
		if e.AccountID == "" || e.Name == "" || !names[e.Name] {
			continue
		}
		accts, evNames = append(accts, e.AccountID), append(evNames, e.Name)
		at, ids = append(at, micros(e.Timestamp)), append(ids, e.ID)
		if !staled[e.AccountID] {
			// A mark can change the occurrences of its account's moments:
			// their day cells are rebuilt on the next report.
			if err := staleAccountDays(ctx, q, e.AccountID); err != nil {
				return err
			}
			staled[e.AccountID] = true
		}
		if e.Name != vocab.EventSurveyResponded {
			continue
		}
		if survey, score, ok := surveyAnswer(e.Properties); ok {
			scores.add(survey, micros(e.Timestamp), e.ID, e.AccountID, score)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	if err := scores.insert(ctx, d, q); err != nil {
		return err
	}
	if !d.embedded() {
		_, err := q.ExecContext(ctx, `INSERT INTO analytics_marks (account_id, name, at, event_id)
			SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) ON CONFLICT DO NOTHING`, accts, evNames, at, ids)
		if err != nil {
			return fmt.Errorf("record events for analytics: %w", err)
		}
		return nil
	}
	for start := 0; start < len(ids); start += touchChunk {
		end := min(start+touchChunk, len(ids))
		args := make([]any, 0, 4*(end-start))
		for i := start; i < end; i++ {
			args = append(args, accts[i], evNames[i], at[i], ids[i])
		}
		if _, err := q.ExecContext(ctx, d.rows("INSERT INTO analytics_marks (account_id, name, at, event_id) VALUES ", end-start, 4,
			" ON CONFLICT DO NOTHING"), args...); err != nil {
			return fmt.Errorf("record events for analytics: %w", err)
		}
	}
	return nil
}

// surveyScores are the survey answers of a batch, as columns.
type surveyScores struct {
	surveys, accts []string
	at, ids        []int64
	scores         []float64
}

func (ss *surveyScores) add(survey string, at, id int64, account string, score float64) {
	ss.surveys, ss.at, ss.ids = append(ss.surveys, survey), append(ss.at, at), append(ss.ids, id)
	ss.accts, ss.scores = append(ss.accts, account), append(ss.scores, score)
}

// insert writes the answers in one statement (column arrays on
// PostgreSQL, multi-row inserts on SQLite), as insertMarks the marks.
func (ss *surveyScores) insert(ctx context.Context, d Dialect, q Querier) error {
	if len(ss.ids) == 0 {
		return nil
	}
	if !d.embedded() {
		if _, err := q.ExecContext(ctx, `INSERT INTO analytics_survey_scores (survey, at, event_id, account_id, score)
			SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::float8[]) ON CONFLICT DO NOTHING`,
			ss.surveys, ss.at, ss.ids, ss.accts, ss.scores); err != nil {
			return fmt.Errorf("record survey answers for analytics: %w", err)
		}
		return nil
	}
	for start := 0; start < len(ss.ids); start += touchChunk {
		end := min(start+touchChunk, len(ss.ids))
		args := make([]any, 0, 5*(end-start))
		for i := start; i < end; i++ {
			args = append(args, ss.surveys[i], ss.at[i], ss.ids[i], ss.accts[i], ss.scores[i])
		}
		if _, err := q.ExecContext(ctx, d.rows("INSERT INTO analytics_survey_scores (survey, at, event_id, account_id, score) VALUES ", end-start, 5,
			" ON CONFLICT DO NOTHING"), args...); err != nil {
			return fmt.Errorf("record survey answers for analytics: %w", err)
		}
	}
	return nil
}

// surveyAnswer reads the survey id and the numeric score of a survey
// answer's properties; ok is false when either is missing.
func surveyAnswer(props json.RawMessage) (survey string, score float64, ok bool) {
	var p struct {
		Survey string          `json:"survey"`
		Score  json.RawMessage `json:"score"`
	}
	if json.Unmarshal(props, &p) != nil || p.Survey == "" || len(p.Score) == 0 {
		return "", 0, false
	}
	var f float64
	if json.Unmarshal(p.Score, &f) == nil {
		return p.Survey, f, true
	}
	var text string
	if json.Unmarshal(p.Score, &text) == nil {
		if _, err := fmt.Sscanf(strings.TrimSpace(text), "%g", &f); err == nil {
			return p.Survey, f, true
		}
	}
	return "", 0, false
}

// Occurrence is one occurrence of a moment (one run) with what moment
// analytics need of it.
type Occurrence struct {
	RunID      string
	AccountID  string
	OccurredAt time.Time
	Status     string
	FinishedAt *time.Time
	// Escalated is true when service recovery escalated the run or one of
	// its tasks.
	Escalated bool
	// EffortMinutes is the effort recorded on the run's tasks.
	EffortMinutes int
	// Marks holds, per event name asked for, the time of the first such
	// event on the account at or after OccurredAt.
	Marks map[string]time.Time
	// From and To bound the moment's time metric: From is the first
	// metrics.time.from event at or after the occurrence began (or, when
	// none, the last one before it), To the first metrics.time.to event at
	// or after From.
	From, To *time.Time
	// Steps holds, per playbook step id asked for, when the step showed
	// it was done: its task completed, or its email, survey or webhook sent.
	Steps map[string]time.Time
	// Path is the account's success path state now, when the query asks
	// for it (OccurrenceQuery.Path): a scorecard's time to value reads it.
	Path OccurrencePath
}

// OccurrencePath is an account's success path state as a scorecard's time
// to value (or implementation) reads it; empty without a health row.
type OccurrencePath struct {
	PathID                            string
	TimeToValue, TimeToImplementation *time.Duration
}

// Equal reports whether p and q hold the same state.
func (p OccurrencePath) Equal(q OccurrencePath) bool {
	same := func(a, b *time.Duration) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
	return p.PathID == q.PathID && same(p.TimeToValue, q.TimeToValue) && same(p.TimeToImplementation, q.TimeToImplementation)
}

// OccurrenceQuery asks for the occurrences of one moment in [From, To).
type OccurrenceQuery struct {
	MomentID string
	From, To time.Time
	// Events are the event names whose first arrival at or after each
	// occurrence is wanted (ideal steps with event:).
	Events []string
	// TimeFrom and TimeTo are the moment's metrics.time events.
	TimeFrom, TimeTo string
	// Steps are the playbook step ids whose completion is wanted (ideal
	// steps with task:).
	Steps []string
	// Path asks for each occurrence's account's success path state
	// (Occurrence.Path).
	Path bool
}

// scanOccurrences reads the occurrences of a moment that happened in the
// query's period, oldest first, from the runs, their steps, tasks and
// escalations and analytics_marks: each lookup is one index seek, no event
// is scanned, but the work grows with the occurrences. MomentOccurrences
// reads them from the day cells and calls this only to build a cell.
func (s *Store) scanOccurrences(ctx context.Context, oq OccurrenceQuery) ([]Occurrence, error) {
	args := []any{oq.MomentID, micros(oq.From), micros(oq.To)}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	var cols strings.Builder
	for _, n := range oq.Events {
		fmt.Fprintf(&cols, `, (SELECT MIN(m.at) FROM analytics_marks m WHERE m.account_id = r.account_id AND m.name = %s
			AND m.at >= r.occurred_at)`, arg(n))
	}
	timeCols := ", NULL, NULL"
	if oq.TimeFrom != "" && oq.TimeTo != "" {
		from, to := arg(oq.TimeFrom), arg(oq.TimeTo)
		timeCols = fmt.Sprintf(`, x.f, (SELECT MIN(m.at) FROM analytics_marks m WHERE m.account_id = x.account_id AND m.name = %s
			AND m.at >= x.f)`, to)
		fmt.Fprintf(&cols, `, COALESCE(
			(SELECT MIN(m.at) FROM analytics_marks m WHERE m.account_id = r.account_id AND m.name = %[1]s AND m.at >= r.occurred_at),
			(SELECT MAX(m.at) FROM analytics_marks m WHERE m.account_id = r.account_id AND m.name = %[1]s AND m.at < r.occurred_at)) AS f`, from)
	}
	inner := `SELECT r.id, r.account_id, r.occurred_at, r.status, r.finished_at,
		CASE WHEN EXISTS (SELECT 1 FROM escalations e WHERE e.run_id = r.id)
			OR EXISTS (SELECT 1 FROM tasks t WHERE t.run_id = r.id AND t.escalation_level > 0) THEN 1 ELSE 0 END AS escalated,
		COALESCE((SELECT SUM(t.effort_minutes) FROM tasks t WHERE t.run_id = r.id), 0) AS effort` + cols.String() + `
		FROM runs r WHERE r.moment_id = $1 AND r.occurred_at >= $2 AND r.occurred_at < $3`
	pathCols, pathJoin := "", ""
	if oq.Path {
		pathCols = ", COALESCE(h.path_id, ''), h.time_to_value, h.time_to_implementation"
		pathJoin = " LEFT JOIN account_health h ON h.account_id = x.account_id"
	}
	query := `SELECT x.*` + timeCols + pathCols + ` FROM (` + inner + `) x` + pathJoin + ` ORDER BY x.occurred_at, x.id`
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read the occurrences of moment %q: %w", oq.MomentID, err)
	}
	defer rows.Close()
	var out []Occurrence
	byRun := map[string]int{}
	nCols := 7 + len(oq.Events)
	if oq.TimeFrom != "" && oq.TimeTo != "" {
		nCols++
	}
	nCols += 2
	for rows.Next() {
		var o Occurrence
		var occurred int64
		var finished sql.NullInt64
		var escalated int
		vals := make([]sql.NullInt64, nCols-7)
		dest := []any{&o.RunID, &o.AccountID, &occurred, &o.Status, &finished, &escalated, &o.EffortMinutes}
		for i := range vals {
			dest = append(dest, &vals[i])
		}
		var ttv, tti sql.NullInt64
		if oq.Path {
			dest = append(dest, &o.Path.PathID, &ttv, &tti)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		o.OccurredAt, o.FinishedAt, o.Escalated = fromMicros(occurred), timePtr(finished), escalated != 0
		o.Path.TimeToValue, o.Path.TimeToImplementation = durationPtr(ttv), durationPtr(tti)
		o.Marks = map[string]time.Time{}
		for i, n := range oq.Events {
			if vals[i].Valid {
				o.Marks[n] = fromMicros(vals[i].Int64)
			}
		}
		o.From, o.To = timePtr(vals[len(vals)-2]), timePtr(vals[len(vals)-1])
		if o.From == nil {
			o.To = nil
		}
		byRun[o.RunID] = len(out)
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(oq.Steps) == 0 || len(out) == 0 {
		return out, nil
	}
	return out, s.stepEvidence(ctx, oq, out, byRun)
}

// stepEvidence fills Occurrence.Steps: a task step counts when its task is
// done (at its completion), another step when it finished as done.
func (s *Store) stepEvidence(ctx context.Context, oq OccurrenceQuery, out []Occurrence, byRun map[string]int) error {
	args := []any{oq.MomentID, micros(oq.From), micros(oq.To)}
	marks := make([]string, len(oq.Steps))
	for i, id := range oq.Steps {
		args = append(args, id)
		marks[i] = fmt.Sprintf("$%d", len(args))
	}
	rows, err := s.read.QueryContext(ctx, `SELECT rs.run_id, rs.step_key, rs.kind, rs.status, rs.finished_at, t.status, t.completed_at
		FROM runs r JOIN run_steps rs ON rs.run_id = r.id
		LEFT JOIN tasks t ON t.run_id = rs.run_id AND t.step_index = rs.step_index
		WHERE r.moment_id = $1 AND r.occurred_at >= $2 AND r.occurred_at < $3 AND rs.step_key IN (`+strings.Join(marks, ", ")+`)`, args...)
	if err != nil {
		return fmt.Errorf("read the playbook steps of moment %q: %w", oq.MomentID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var run, key, kind, status string
		var taskStatus sql.NullString
		var finished, completed sql.NullInt64
		if err := rows.Scan(&run, &key, &kind, &status, &finished, &taskStatus, &completed); err != nil {
			return err
		}
		i, ok := byRun[run]
		if !ok {
			continue
		}
		var at sql.NullInt64
		switch {
		case kind == "task":
			if taskStatus.String == vocab.TaskDone {
				at = completed
			}
		case status == StepDone:
			at = finished
		}
		if !at.Valid {
			continue
		}
		if out[i].Steps == nil {
			out[i].Steps = map[string]time.Time{}
		}
		out[i].Steps[key] = fromMicros(at.Int64)
	}
	return rows.Err()
}

// SurveyScore is the count and mean of a survey's answers in a period.
type SurveyScore struct {
	Answers int
	Mean    float64
	// Scores are the answers themselves, for an interval.
	Scores []float64
}

// SurveyScores returns the answers of a survey (by id) given in [from, to),
// from any source.
func (s *Store) SurveyScores(ctx context.Context, survey string, from, to time.Time) (SurveyScore, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT score FROM analytics_survey_scores WHERE survey = $1 AND at >= $2 AND at < $3`,
		survey, micros(from), micros(to))
	if err != nil {
		return SurveyScore{}, fmt.Errorf("read the answers of survey %q: %w", survey, err)
	}
	defer rows.Close()
	var out SurveyScore
	sum := 0.0
	for rows.Next() {
		var v float64
		if err := rows.Scan(&v); err != nil {
			return SurveyScore{}, err
		}
		out.Scores = append(out.Scores, v)
		sum += v
	}
	if out.Answers = len(out.Scores); out.Answers > 0 {
		out.Mean = sum / float64(out.Answers)
	}
	return out, rows.Err()
}

// EachFirstMark calls fn with the events of a watched name (or, with
// milestone set, the reaching of a success-path milestone by id) between
// from and to, in time order (so each account's marks come in time order
// too): the order of the name's index, which SQLite then needs not sort by
// account. account is valid only during the call (a funnel looks most of
// them up and keeps few), at is in Unix microseconds.
func (s *Store) EachFirstMark(ctx context.Context, name string, milestone bool, from, to time.Time,
	fn func(account []byte, at int64)) error {
	q := `SELECT account_id, at FROM analytics_marks WHERE name = $1 AND at >= $2 AND at <= $3 ORDER BY at`
	if milestone {
		q = `SELECT account_id, reached_at FROM health_milestones WHERE milestone_id = $1 AND reached_at >= $2 AND reached_at <= $3
			ORDER BY reached_at`
	}
	if !s.dialect.embedded() {
		err := s.eachPgxRow(ctx, q, []any{name, micros(from), micros(to)}, func(r pgxRow) error {
			at, err := r.int64(1)
			if err == nil {
				fn(r.bytes(0), at)
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("read %q for a funnel: %w", name, err)
		}
		return nil
	}
	rows, err := s.read.QueryContext(ctx, q, name, micros(from), micros(to))
	if err != nil {
		return fmt.Errorf("read %q for a funnel: %w", name, err)
	}
	defer rows.Close()
	var account sql.RawBytes
	var at int64
	for rows.Next() {
		if err := rows.Scan(&account, &at); err != nil {
			return err
		}
		fn(account, at)
	}
	return rows.Err()
}

// NotReached is the time EachAccountMilestones gives a milestone the
// account has not reached.
const NotReached = math.MinInt64

// EachAccountMilestones calls fn once per account that has reached any
// milestone, with when it first reached each of ids (at[i] for ids[i], in
// Unix microseconds, NotReached when it has not), from the milestones kept
// gathered by account (account_milestones): one row per account, where
// health_milestones has one per milestone reached. key is the account's
// id, or with column "segment" or "plan" its segment or plan ("" when it
// has none or no accounts row; labels repeat and are one string per run of
// equal ones). key and at are valid only during the call.
func (s *Store) EachAccountMilestones(ctx context.Context, column string, ids []string, fn func(key []byte, at []int64)) error {
	q := `SELECT account_id, reaches FROM account_milestones`
	switch column {
	case "segment", "plan":
		q = `SELECT COALESCE(a.` + column + `, ''), m.reaches FROM account_milestones m LEFT JOIN accounts a ON a.id = m.account_id`
	case "account":
	default:
		return fmt.Errorf("account milestones: no column %q (account, segment or plan)", column)
	}
	at := make([]int64, len(ids))
	row := func(key, reaches []byte) {
		for i := range at {
			at[i] = NotReached
		}
		eachReach(reaches, func(id []byte, t int64) {
			for i, want := range ids {
				if string(id) == want && (at[i] == NotReached || t < at[i]) {
					at[i] = t
				}
			}
		})
		fn(key, at)
	}
	if !s.dialect.embedded() {
		if err := s.eachPgxRow(ctx, q, nil, func(r pgxRow) error {
			row(r.bytes(0), r.bytes(1))
			return nil
		}); err != nil {
			return fmt.Errorf("read the accounts' milestones: %w", err)
		}
		return nil
	}
	rows, err := s.read.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("read the accounts' milestones: %w", err)
	}
	defer rows.Close()
	var key, reaches sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&key, &reaches); err != nil {
			return err
		}
		row(key, reaches)
	}
	return rows.Err()
}

// eachReach calls fn with each "<milestone id>:<Unix microseconds>" entry
// of an account_milestones row (entries joined by commas); an entry that
// does not read as one is skipped.
func eachReach(reaches []byte, fn func(id []byte, at int64)) {
	for len(reaches) > 0 {
		entry := reaches
		if i := bytes.IndexByte(reaches, ','); i >= 0 {
			entry, reaches = reaches[:i], reaches[i+1:]
		} else {
			reaches = nil
		}
		c := bytes.LastIndexByte(entry, ':')
		if c < 0 {
			continue
		}
		if at, ok := parseMicros(entry[c+1:]); ok {
			fn(entry[:c], at)
		}
	}
}

// parseMicros reads a decimal integer, optionally negative, without the
// string strconv would need.
func parseMicros(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, true
}

// AccountProfile is what reports break figures down by: the account's
// segment and plan, the start of its contract and its success path state.
type AccountProfile struct {
	AccountID            string
	Segment              string
	Plan                 string
	PathID               string
	ContractStart        *time.Time
	TimeToValue          *time.Duration
	TimeToImplementation *time.Duration
}

// AccountProfiles returns every account with its health row's success
// path state (accounts without one have empty path fields), in no
// particular order. The contract start is the health row's, or else the
// account's contract_start trait (YYYY-MM-DD).
func (s *Store) AccountProfiles(ctx context.Context) ([]AccountProfile, error) {
	q := `SELECT a.id, a.segment, a.plan, COALESCE(h.path_id, ''), h.contract_start,
		h.time_to_value, h.time_to_implementation, CASE WHEN h.contract_start IS NULL THEN CAST(a.traits AS TEXT) ELSE '' END
		FROM accounts a LEFT JOIN account_health h ON h.account_id = a.id`
	rows, err := s.read.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("read the accounts' success paths: %w", err)
	}
	defer rows.Close()
	// Segments, plans and paths repeat: one string each, not one per row.
	intern := interner{}.of
	var out []AccountProfile
	var segment, plan, path, traits sql.RawBytes
	for rows.Next() {
		var p AccountProfile
		var start, ttv, tti sql.NullInt64
		if err := rows.Scan(&p.AccountID, &segment, &plan, &path, &start, &ttv, &tti, &traits); err != nil {
			return nil, err
		}
		p.Segment, p.Plan, p.PathID = intern(segment), intern(plan), intern(path)
		p.ContractStart = timePtr(start)
		if p.ContractStart == nil {
			p.ContractStart = traitContractStart(traits)
		}
		p.TimeToValue, p.TimeToImplementation = durationPtr(ttv), durationPtr(tti)
		out = append(out, p)
	}
	return out, rows.Err()
}

// interner gives one string per distinct value of the bytes it is given:
// labels read from many rows (segments, plans, paths) repeat.
type interner map[string]string

func (m interner) of(b []byte) string {
	if v, ok := m[string(b)]; ok {
		return v
	}
	v := string(b)
	m[v] = v
	return v
}

// traitContractStart reads the contract_start trait (YYYY-MM-DD) of an
// account's traits; nil when there is none.
func traitContractStart(traits []byte) *time.Time {
	if len(traits) == 0 {
		return nil
	}
	var t struct {
		ContractStart string `json:"contract_start"`
	}
	if json.Unmarshal(traits, &t) == nil {
		if d, ok := ParseDate(t.ContractStart); ok {
			return &d
		}
	}
	return nil
}

// PathAccount is what a time-to-value curve needs of an account on a
// success path. Values, not pointers: a report reads 100,000 of them.
type PathAccount struct {
	Segment, Plan string
	// ContractStart is the health row's, or else the contract_start
	// trait; TimeToValue counts only when Reached (the account has
	// reached value).
	ContractStart time.Time
	TimeToValue   time.Duration
	Reached       bool
}

// PathAccounts returns the accounts on a success path (their health
// row's) with a known contract start, in no particular order: one pass
// over the health rows, five columns each.
func (s *Store) PathAccounts(ctx context.Context, pathID string) ([]PathAccount, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT a.segment, a.plan, h.contract_start, h.time_to_value,
		CASE WHEN h.contract_start IS NULL THEN CAST(a.traits AS TEXT) ELSE '' END
		FROM account_health h JOIN accounts a ON a.id = h.account_id WHERE h.path_id = $1`, pathID)
	if err != nil {
		return nil, fmt.Errorf("read the accounts on path %q: %w", pathID, err)
	}
	defer rows.Close()
	// Segments and plans repeat: one string each, not one per row. The
	// rows go in chunks, so a growing slice never copies them all.
	var segment, plan, traits sql.RawBytes
	intern := interner{}.of
	var chunks [][]PathAccount
	chunk := make([]PathAccount, 0, 1024)
	n := 0
	for rows.Next() {
		var p PathAccount
		var start, ttv sql.NullInt64
		if err := rows.Scan(&segment, &plan, &start, &ttv, &traits); err != nil {
			return nil, err
		}
		p.Segment, p.Plan = intern(segment), intern(plan)
		if start.Valid {
			p.ContractStart = fromMicros(start.Int64)
		} else if t := traitContractStart(traits); t != nil {
			p.ContractStart = *t
		} else {
			continue
		}
		if p.Reached = ttv.Valid; p.Reached {
			p.TimeToValue = time.Duration(ttv.Int64) * time.Microsecond
		}
		if len(chunk) == cap(chunk) {
			chunks, chunk = append(chunks, chunk), make([]PathAccount, 0, 2*cap(chunk))
		}
		chunk = append(chunk, p)
		n++
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]PathAccount, 0, n)
	for _, c := range append(chunks, chunk) {
		out = append(out, c...)
	}
	return out, nil
}

// EachAccountLabel calls fn with every account's segment (column
// "segment") or plan ("plan"), from the accounts table alone: a funnel
// broken down by either needs no success path state (AccountProfiles joins
// it), and the segments come from their index without reading the table.
// account is valid only during the call; labels repeat and are one string
// per run of equal ones.
func (s *Store) EachAccountLabel(ctx context.Context, column string, fn func(account []byte, label string)) error {
	if column != "segment" && column != "plan" {
		return fmt.Errorf("account labels: no column %q (segment or plan)", column)
	}
	var last string
	if !s.dialect.embedded() {
		err := s.eachPgxRow(ctx, `SELECT id, `+column+` FROM accounts`, nil, func(r pgxRow) error {
			if label := r.bytes(1); string(label) != last {
				last = string(label)
			}
			fn(r.bytes(0), last)
			return nil
		})
		if err != nil {
			return fmt.Errorf("read the accounts' %ss: %w", column, err)
		}
		return nil
	}
	rows, err := s.read.QueryContext(ctx, `SELECT id, `+column+` FROM accounts`)
	if err != nil {
		return fmt.Errorf("read the accounts' %ss: %w", column, err)
	}
	defer rows.Close()
	var account, label sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&account, &label); err != nil {
			return err
		}
		if string(label) != last {
			last = string(label)
		}
		fn(account, last)
	}
	return rows.Err()
}

func durationPtr(v sql.NullInt64) *time.Duration {
	if !v.Valid {
		return nil
	}
	d := time.Duration(v.Int64) * time.Microsecond
	return &d
}

// RecordTaskEffort sets the effort, in minutes, spent on a task; it counts
// in its moment's cost. It returns ErrNotFound when there is no such task.
func (s *Store) RecordTaskEffort(ctx context.Context, taskID string, minutes int, now time.Time) error {
	if minutes < 0 {
		return fmt.Errorf("effort must be zero or more minutes, got %d", minutes)
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	res, err := tx.ExecContext(ctx, `UPDATE tasks SET effort_minutes = $2, updated_at = $3 WHERE id = $1`,
		taskID, minutes, micros(now))
	if err != nil {
		return fmt.Errorf("record effort on task %q: %w", taskID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return ErrNotFound
	}
	if err := staleTaskDay(ctx, tx, taskID); err != nil {
		return err
	}
	return tx.Commit()
}
