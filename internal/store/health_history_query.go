package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/moments-cs/moments/internal/vocab"
)

// HealthDay is one row of the daily health history: an account's health
// at the start of a UTC day. Components is the packed component values
// (internal/health's Day), Warnings the bit set of its warnings.
type HealthDay struct {
	AccountID                        string
	Day                              int64
	Behavioural, Emotional, Combined *float64
	Quadrant                         string
	Warnings                         int
	Components                       []byte
	// Rebuilt is set for a day rebuilt from events afterwards, clear for
	// a day written as it passed.
	Rebuilt bool
}

// HistoryWrite says what writing a day that is already kept does.
type HistoryWrite int

const (
	// HistoryKeep keeps the row already there: a day is written once, as
	// it passes.
	HistoryKeep HistoryWrite = iota
	// HistoryReplaceRebuilt replaces a row that was itself rebuilt, and
	// keeps a row written as the day passed.
	HistoryReplaceRebuilt
	// HistoryReplace replaces any row.
	HistoryReplace
)

const historyCols = "account_id, day, behavioural, emotional, combined, quadrant, warnings, components, rebuilt"

// historySuffix is the conflict clause of a history write in mode.
func historySuffix(d Dialect, mode HistoryWrite) string {
	switch mode {
	case HistoryKeep:
		return " ON CONFLICT (account_id, day) DO NOTHING"
	case HistoryReplaceRebuilt:
		return d.upsert("account_id, day", "behavioural", "emotional", "combined", "quadrant", "warnings",
			"components", "rebuilt") + " WHERE health_history.rebuilt = 1"
	default:
		return d.upsert("account_id, day", "behavioural", "emotional", "combined", "quadrant", "warnings",
			"components", "rebuilt")
	}
}

// SaveHealthDaysTx writes rows of the daily health history on q (a
// transaction, or DB() for a write of its own), in the statement sizes of
// healthChunks. It sorts rows into the table's key order (day, then
// account) first: a rebuild's rows come account by account, and written so
// they would land all over the table (on SQLite 3–4 times slower for a
// rebuild's 500 accounts × 365 days).
func (s *Store) SaveHealthDaysTx(ctx context.Context, q Querier, rows []HealthDay, mode HistoryWrite) error {
	slices.SortFunc(rows, func(a, b HealthDay) int {
		return cmp.Or(cmp.Compare(a.Day, b.Day), strings.Compare(a.AccountID, b.AccountID))
	})
	args := make([]any, 0, 9*min(len(rows), healthSizes[0]))
	start := 0
	for _, n := range healthChunks(len(rows)) {
		args = args[:0]
		for _, r := range rows[start : start+n] {
			rebuilt := 0
			if r.Rebuilt {
				rebuilt = 1
			}
			args = append(args, r.AccountID, r.Day, floatArg(r.Behavioural), floatArg(r.Emotional), floatArg(r.Combined),
				r.Quadrant, int64(r.Warnings), r.Components, int64(rebuilt))
		}
		start += n
		if _, err := s.healthExec(ctx, q, s.healthSQL(saveHistory+healthStatement(mode), n), args...); err != nil {
			return fmt.Errorf("write health history: %w", err)
		}
	}
	return nil
}

func scanHealthDay(rows *sql.Rows) (HealthDay, error) {
	var (
		d       HealthDay
		b, e, c sql.NullFloat64
		rebuilt int
	)
	if err := rows.Scan(&d.AccountID, &d.Day, &b, &e, &c, &d.Quadrant, &d.Warnings, &d.Components, &rebuilt); err != nil {
		return d, fmt.Errorf("read health history: %w", err)
	}
	d.Behavioural, d.Emotional, d.Combined = floatPtr(b), floatPtr(e), floatPtr(c)
	d.Rebuilt = rebuilt != 0
	return d, nil
}

// HealthDays returns an account's kept days from day `from` to day `to`
// (UTC day numbers, both included), oldest first.
func (s *Store) HealthDays(ctx context.Context, accountID string, from, to int64) ([]HealthDay, error) {
	rows, err := s.read.QueryContext(ctx, "SELECT "+historyCols+` FROM health_history
		WHERE account_id = $1 AND day >= $2 AND day <= $3 ORDER BY day`, accountID, from, to)
	if err != nil {
		return nil, fmt.Errorf("read health history: %w", err)
	}
	defer rows.Close()
	var out []HealthDay
	for rows.Next() {
		d, err := scanHealthDay(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// HealthDaysWholeRead is the number of accounts from which one day's rows
// are read whole (one range of the history, which is kept by day, then
// account) rather than by their keys: a read by key costs a few index
// pages, a whole read one row of every account, so it pays only for a
// large share of the accounts.
const HealthDaysWholeRead = 5000

// HealthDaysOn calls fn with the kept row of each account of accounts on
// day (accounts without a row that day are skipped); nil accounts means
// every account, left to fn to filter. Many accounts are read with one
// pass over the day's rows, a few by their keys.
func (s *Store) HealthDaysOn(ctx context.Context, day int64, accounts []string, fn func(HealthDay) error) error {
	if accounts == nil {
		return s.healthDaysQuery(ctx, fn, nil, "SELECT "+historyCols+" FROM health_history WHERE day = $1", day)
	}
	if len(accounts) >= HealthDaysWholeRead {
		want := make(map[string]bool, len(accounts))
		for _, a := range accounts {
			want[a] = true
		}
		return s.healthDaysQuery(ctx, fn, want, "SELECT "+historyCols+" FROM health_history WHERE day = $1", day)
	}
	for start := 0; start < len(accounts); start += keyChunk {
		chunk := accounts[start:min(start+keyChunk, len(accounts))]
		args := make([]any, 0, len(chunk)+1)
		args = append(args, day)
		for _, a := range chunk {
			args = append(args, a)
		}
		if err := s.healthDaysQuery(ctx, fn, nil, "SELECT "+historyCols+" FROM health_history WHERE day = $1 AND account_id IN ("+
			s.dialect.placeholders(2, len(chunk))+")", args...); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) healthDaysQuery(ctx context.Context, fn func(HealthDay) error, want map[string]bool, q string, args ...any) error {
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("read health history: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		d, err := scanHealthDay(rows)
		if err != nil {
			return err
		}
		if want != nil && !want[d.AccountID] {
			continue
		}
		if err := fn(d); err != nil {
			return err
		}
	}
	return rows.Err()
}

// PruneHealthHistory deletes the kept days before `before`.
func (s *Store) PruneHealthHistory(ctx context.Context, before int64) (int64, error) {
	res, err := s.write.ExecContext(ctx, "DELETE FROM health_history WHERE day < $1", before)
	if err != nil {
		return 0, fmt.Errorf("prune health history: %w", err)
	}
	return res.RowsAffected()
}

// HealthHistoryWatermark returns the last event id the history rebuild
// has looked at.
func (s *Store) HealthHistoryWatermark(ctx context.Context) (int64, error) {
	var through int64
	if err := s.read.QueryRowContext(ctx, "SELECT through_event FROM health_history_rebuild WHERE id = 1").Scan(&through); err != nil {
		return 0, fmt.Errorf("read the health history watermark: %w", err)
	}
	return through, nil
}

// SetHealthHistoryWatermark records that the history rebuild has looked at
// the events up to through.
func (s *Store) SetHealthHistoryWatermark(ctx context.Context, through int64, at time.Time) error {
	if _, err := s.write.ExecContext(ctx, "UPDATE health_history_rebuild SET through_event = $1, at = $2 WHERE id = 1",
		through, at.UnixMicro()); err != nil {
		return fmt.Errorf("write the health history watermark: %w", err)
	}
	return nil
}

// AccountsWithPastEvents returns the accounts that received, among the
// events with ids in (after, through], a behavioural event dated before
// `before`: events imported or sent late, whose days of history are to be
// rebuilt. through is the last event id at the time of the call.
func (s *Store) AccountsWithPastEvents(ctx context.Context, after int64, before time.Time) (ids []string, through int64, err error) {
	last, err := s.LastEventID(ctx)
	if err != nil {
		return nil, 0, err
	}
	if last <= after {
		return nil, after, nil
	}
	rows, err := s.read.QueryContext(ctx, `SELECT DISTINCT account_id FROM events
		WHERE id > $1 AND id <= $2 AND account_id <> '' AND type IN ('track', 'page', 'screen') AND timestamp < $3
		AND name <> '`+vocab.EventMilestoneReached+`'`, after, last, micros(before))
	if err != nil {
		return nil, 0, fmt.Errorf("find events to rebuild history from: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, 0, err
		}
		ids = append(ids, id)
	}
	return ids, last, rows.Err()
}

// HealthHistoryStarts returns the first kept day of each of the accounts
// that has any.
func (s *Store) HealthHistoryStarts(ctx context.Context, ids []string) (map[string]int64, error) {
	out := make(map[string]int64, len(ids))
	list := sortedUnique(ids)
	for start := 0; start < len(list); start += keyChunk {
		chunk := list[start:min(start+keyChunk, len(list))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := s.read.QueryContext(ctx, "SELECT account_id, MIN(day) FROM health_history WHERE account_id IN ("+
			s.dialect.placeholders(1, len(chunk))+") GROUP BY account_id", args...)
		if err != nil {
			return nil, fmt.Errorf("read health history starts: %w", err)
		}
		for rows.Next() {
			var (
				id  string
				day int64
			)
			if err := rows.Scan(&id, &day); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read health history starts: %w", err)
			}
			out[id] = day
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("read health history starts: %w", err)
		}
	}
	return out, nil
}

// LastEventID returns the id of the last stored event, 0 when there is
// none.
func (s *Store) LastEventID(ctx context.Context) (int64, error) {
	var last sql.NullInt64
	if err := s.read.QueryRowContext(ctx, "SELECT MAX(id) FROM events").Scan(&last); err != nil {
		return 0, fmt.Errorf("read the last event id: %w", err)
	}
	return last.Int64, nil
}

// AccountDay names one account's day of history.
type AccountDay struct {
	AccountID string
	Day       int64
}

// dayPairChunk is the account days per HealthDaysAt statement when
// they are passed one parameter pair each (valuesPairsSQL).
const dayPairChunk = 400

// dayPairListChunk is the account days per HealthDaysAt statement when
// they are passed as two lists (a JSON array on SQLite, arrays on
// PostgreSQL): the statement's text is the same whatever their number.
const dayPairListChunk = 5000

// HealthDaysAt calls fn with the kept row of each account day asked for
// (days not kept are skipped), reading thousands of account days per
// statement: the backtest asks for each positive's own days, hundreds of
// different days, which one statement per day would make as many round
// trips. The account days are passed as lists, so that the statement is
// short: parsing one of a few hundred parameter pairs cost SQLite more
// than the reads it made (5 ms each).
func (s *Store) HealthDaysAt(ctx context.Context, want []AccountDay, fn func(HealthDay) error) error {
	const cols = "h.account_id, h.day, h.behavioural, h.emotional, h.combined, h.quadrant, h.warnings, h.components, h.rebuilt"
	for start := 0; start < len(want); {
		chunk := want[start:min(start+dayPairListChunk, len(want))]
		var (
			q    string
			args []any
		)
		switch {
		case !s.dialect.embedded():
			accounts, days := make([]string, len(chunk)), make([]int64, len(chunk))
			for i, w := range chunk {
				accounts[i], days[i] = w.AccountID, w.Day
			}
			q = "SELECT " + cols + " FROM unnest($1::text[], $2::bigint[]) AS w(a, d) JOIN health_history h ON h.account_id = w.a AND h.day = w.d"
			args = []any{accounts, days}
		case jsonSafe(chunk):
			list, err := pairsJSON(chunk)
			if err != nil {
				return fmt.Errorf("read health history: %w", err)
			}
			// CROSS JOIN keeps w the outer loop on SQLite: given a plain
			// join, SQLite 3.54 judged a few hundred pairs worth a scan of
			// the whole table through the day index (a minute a statement
			// at 730,000 rows) rather than one key lookup per pair.
			q = "WITH w(a, d) AS (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each($1)) " +
				"SELECT " + cols + " FROM w CROSS JOIN health_history h WHERE h.account_id = w.a AND h.day = w.d"
			args = []any{string(list)}
		default:
			chunk = want[start:min(start+dayPairChunk, len(want))]
			q, args = valuesPairsSQL(chunk, cols)
		}
		if err := s.healthDaysQuery(ctx, fn, nil, q, args...); err != nil {
			return err
		}
		start += len(chunk)
	}
	return nil
}

// pairsJSON writes account days as JSON: [["account", day], …].
func pairsJSON(p []AccountDay) ([]byte, error) {
	b := make([]byte, 0, 32*len(p))
	b = append(b, '[')
	for i, w := range p {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		id, err := json.Marshal(w.AccountID)
		if err != nil {
			return nil, err
		}
		b = append(b, id...)
		b = append(b, ',')
		b = strconv.AppendInt(b, w.Day, 10)
		b = append(b, ']')
	}
	return append(b, ']'), nil
}

// jsonSafe says whether the account ids come back from a JSON text
// through SQLite's json_extract as they are: valid UTF-8 without NUL
// (encoding/json would replace invalid bytes).
func jsonSafe(want []AccountDay) bool {
	for _, w := range want {
		if !utf8.ValidString(w.AccountID) || strings.IndexByte(w.AccountID, 0) >= 0 {
			return false
		}
	}
	return true
}

// valuesPairsSQL selects the account days given as a parameter pair each.
func valuesPairsSQL(chunk []AccountDay, cols string) (string, []any) {
	args := make([]any, 0, 2*len(chunk))
	var q strings.Builder
	q.WriteString("WITH w(a, d) AS (VALUES ")
	for i, w := range chunk {
		if i > 0 {
			q.WriteByte(',')
		}
		fmt.Fprintf(&q, "(CAST($%d AS TEXT), CAST($%d AS BIGINT))", 2*i+1, 2*i+2)
		args = append(args, w.AccountID, w.Day)
	}
	q.WriteString(") SELECT " + cols + " FROM w CROSS JOIN health_history h WHERE h.account_id = w.a AND h.day = w.d")
	return q.String(), args
}
