package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// This file keeps the day cells of moment analytics (table moment_days):
// per moment and UTC day of occurrence, the facts of that day's
// occurrences in a compact binary form. A report reads one cell per day of
// its period; a write that can change an occurrence's facts clears its
// day's cell (in the writer's transaction), and the next report rebuilds
// it from the runs and analytics_marks (scanOccurrences).

// dayMicros is one day in microseconds, the unit of every stored time.
const dayMicros = int64(24 * time.Hour / time.Microsecond)

// dayOf is the UTC day number (days since 1970-01-01) of a time.
func dayOf(t time.Time) int64 {
	m := micros(t)
	d := m / dayMicros
	if m%dayMicros < 0 {
		d--
	}
	return d
}

// staleCells clears the day cells selected by the (moment_id, day) pairs
// the subquery returns; args are its parameters.
func staleCells(ctx context.Context, q Querier, pairs string, args ...any) error {
	_, err := q.ExecContext(ctx, `UPDATE moment_days SET gen = gen + 1, facts = NULL
		WHERE facts IS NOT NULL AND (moment_id, day) IN (`+pairs+`)`, args...)
	if err != nil {
		return fmt.Errorf("mark the moment analytics of the day to recompute: %w", err)
	}
	return nil
}

// staleDay clears one moment's cell of the day of at.
func staleDay(ctx context.Context, q Querier, momentID string, at time.Time) error {
	_, err := q.ExecContext(ctx, `UPDATE moment_days SET gen = gen + 1, facts = NULL WHERE moment_id = $1 AND day = $2`,
		momentID, dayOf(at))
	if err != nil {
		return fmt.Errorf("mark the moment analytics of the day to recompute: %w", err)
	}
	return nil
}

// staleRunDay clears the cell of a run's occurrence.
func staleRunDay(ctx context.Context, q Querier, runID string) error {
	return staleCells(ctx, q, `SELECT moment_id, occurred_at / 86400000000 FROM runs WHERE id = $1`, runID)
}

// execStalingRun runs write (an INSERT or UPDATE of one row of runs, or of
// a table with a run_id column, named by runCol) and clears the cell of
// the run's occurrence when it wrote the row, as staleRunDay after it; it
// returns the rows written. On PostgreSQL both go in one statement (a
// data-modifying WITH), which saves the round trip of the second on every
// step and run a stage round or a playbook worker records.
func (s *Store) execStalingRun(ctx context.Context, q Querier, write, runCol, runID string, args ...any) (int64, error) {
	if !s.dialect.embedded() {
		var n int64
		err := q.QueryRowContext(ctx, `WITH w AS (`+write+` RETURNING `+runCol+` AS run_id),
			s AS (UPDATE moment_days SET gen = gen + 1, facts = NULL WHERE facts IS NOT NULL AND (moment_id, day) IN
				(SELECT r.moment_id, r.occurred_at / 86400000000 FROM runs r WHERE r.id IN (SELECT run_id FROM w)))
			SELECT count(*) FROM w`, args...).Scan(&n)
		return n, err
	}
	res, err := q.ExecContext(ctx, write, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil || n == 0 {
		return n, err
	}
	return n, staleRunDay(ctx, q, runID)
}

// staleTaskDay clears the cell of the occurrence a task belongs to.
func staleTaskDay(ctx context.Context, q Querier, taskID string) error {
	return staleCells(ctx, q, `SELECT r.moment_id, r.occurred_at / 86400000000 FROM tasks t JOIN runs r ON r.id = t.run_id
		WHERE t.id = $1`, taskID)
}

// staleAccountDays clears the cells of every occurrence of an account: an
// event of a measured name may be the first one after any of them (or the
// last one before).
func staleAccountDays(ctx context.Context, q Querier, accountID string) error {
	return staleCells(ctx, q, `SELECT moment_id, occurred_at / 86400000000 FROM runs WHERE account_id = $1`, accountID)
}

// spec names what an occurrence query measures; a cell built for another
// spec (the map changed what the moment measures) is rebuilt.
func (oq OccurrenceQuery) spec() string {
	var b strings.Builder
	for _, n := range oq.Events {
		b.WriteString("e:" + n + "\n")
	}
	for _, n := range oq.Steps {
		b.WriteString("s:" + n + "\n")
	}
	b.WriteString("f:" + oq.TimeFrom + "\nt:" + oq.TimeTo)
	if oq.Path {
		b.WriteString("\np")
	}
	return b.String()
}

// DayOf is the UTC day number (days since 1970-01-01) of a time: the day
// of the cell that holds an occurrence of that time.
func DayOf(t time.Time) int64 { return dayOf(t) }

// DayStart is the start of a UTC day number.
func DayStart(day int64) time.Time { return fromMicros(day * dayMicros) }

// DaySummaryQuery asks for the day summaries of one moment over the days
// that [From, To) touches; the OccurrenceQuery names what its cells
// measure.
type DaySummaryQuery struct {
	OccurrenceQuery
	// Spec names what the caller's summary of a day depends on besides the
	// cell's facts (the moment's ideal steps, targets and SLA); a summary
	// kept for another spec is rebuilt.
	Spec string
	// Edges are days whose occurrences are wanted as well as their
	// summary: the days a period's bound cuts in two.
	Edges []int64
}

// MomentDays is what MomentDaySummaries returns for one query.
type MomentDays struct {
	// Summaries holds every day's summary, a day without occurrences
	// included.
	Summaries map[int64][]byte
	// Edges holds the occurrences of the edge days, oldest first.
	Edges map[int64][]Occurrence
}

// dayCell is one moment_days row as MomentDaySummaries found it.
type dayCell struct {
	gen       int64
	validFact bool
	facts     []byte
	summary   []byte
	occ       []Occurrence
	decoded   bool
	rebuilt   bool // facts computed from the runs and marks
}

// MomentDaySummaries returns, per query, the summary of every day of its
// period and the occurrences of its edge days. A summary is read as kept;
// one missing, cleared since it was built, or built for another spec is
// computed by summarise (q is the query's index) from the day's
// occurrences, decoded from the cell's facts or, when those are cleared
// too, read from the runs and marks. Everything is read first; the cells
// and summaries computed are stored at the end in one transaction (on
// SQLite a write makes every reading connection drop its page cache, so
// reads and writes that alternate cost more than the reads), each only if
// no write changed its day meanwhile. When nothing was missing, it writes
// nothing.
func (s *Store) MomentDaySummaries(ctx context.Context, qs []DaySummaryQuery,
	summarise func(q int, occ []Occurrence) []byte) ([]MomentDays, error) {
	cells := make([]map[int64]*dayCell, len(qs))
	type key struct {
		q   int
		day int64
	}
	var missing []key
	for i, q := range qs {
		cells[i] = map[int64]*dayCell{}
		if !q.From.Before(q.To) {
			continue
		}
		first, last := dayOf(q.From), dayOf(q.To.Add(-time.Microsecond))
		edges := "0 = 1"
		args := []any{q.MomentID, first, last, q.spec(), q.Spec}
		for _, d := range q.Edges {
			args = append(args, d)
			edges += fmt.Sprintf(" OR d.day = $%d", len(args))
		}
		// Facts are read only where the summary will not do; a NULL
		// there means the cell must be rebuilt.
		rows, err := s.read.QueryContext(ctx, `SELECT d.day, d.gen, x.summary,
			CASE WHEN d.spec = $4 AND (x.summary IS NULL OR `+edges+`) THEN d.facts END
			FROM moment_days d LEFT JOIN moment_day_summaries x ON x.moment_id = d.moment_id AND x.day = d.day
				AND x.gen = d.gen AND x.spec = $5 AND d.spec = $4
			WHERE d.moment_id = $1 AND d.day >= $2 AND d.day <= $3`, args...)
		if err != nil {
			return nil, fmt.Errorf("read the moment analytics of %q: %w", q.MomentID, err)
		}
		for rows.Next() {
			var day int64
			c := &dayCell{}
			if err := rows.Scan(&day, &c.gen, &c.summary, &c.facts); err != nil {
				rows.Close()
				return nil, err
			}
			// A summary of this generation was built from valid facts.
			c.validFact = c.summary != nil || c.facts != nil
			cells[i][day] = c
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		for d := first; d <= last; d++ {
			if _, ok := cells[i][d]; !ok {
				cells[i][d] = &dayCell{}
				missing = append(missing, key{i, d})
			}
		}
	}
	// A missing row is created (generation 0) before its facts are read,
	// so that a write committed after the read bumps a generation this
	// build has seen.
	if len(missing) > 0 {
		tx, err := s.write.BeginTx(ctx, nil)
		if err != nil {
			return nil, err
		}
		for _, k := range missing {
			if _, err := tx.ExecContext(ctx, `INSERT INTO moment_days (moment_id, day) VALUES ($1, $2) ON CONFLICT (moment_id, day) DO NOTHING`,
				qs[k.q].MomentID, k.day); err != nil {
				tx.Rollback() //nolint:errcheck // the error returned is the insert's
				return nil, fmt.Errorf("prepare the moment analytics of %q: %w", qs[k.q].MomentID, err)
			}
		}
		if err := tx.Commit(); err != nil {
			return nil, err
		}
	}
	out := make([]MomentDays, len(qs))
	var writes []key
	for i, q := range qs {
		out[i] = MomentDays{Summaries: map[int64][]byte{}, Edges: map[int64][]Occurrence{}}
		if !q.From.Before(q.To) {
			continue
		}
		first, last := dayOf(q.From), dayOf(q.To.Add(-time.Microsecond))
		if err := s.rebuildFacts(ctx, q.OccurrenceQuery, cells[i], first, last); err != nil {
			return nil, err
		}
		for d := first; d <= last; d++ {
			c := cells[i][d]
			edge := slices.Contains(q.Edges, d)
			if (c.summary == nil || edge) && !c.decoded {
				occ, err := decodeOccurrences(c.facts, q.OccurrenceQuery)
				if err != nil {
					return nil, fmt.Errorf("read the moment analytics of %q on day %d: %w", q.MomentID, d, err)
				}
				c.occ, c.decoded = occ, true
			}
			if c.summary == nil {
				c.summary = summarise(i, c.occ)
				writes = append(writes, key{i, d})
			}
			out[i].Summaries[d] = c.summary
			if edge {
				out[i].Edges[d] = c.occ
			}
		}
	}
	if len(writes) == 0 {
		return out, nil
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	for _, k := range writes {
		q, c := qs[k.q], cells[k.q][k.day]
		if c.rebuilt {
			if _, err := tx.ExecContext(ctx, `UPDATE moment_days SET spec = $1, facts = $2 WHERE moment_id = $3 AND day = $4 AND gen = $5`,
				q.spec(), encodeOccurrences(c.occ, q.OccurrenceQuery), q.MomentID, k.day, c.gen); err != nil {
				return nil, fmt.Errorf("store the moment analytics of %q: %w", q.MomentID, err)
			}
		}
		// Tagged with the generation its facts were read at: if a write
		// cleared the cell since, the summary is never read.
		if _, err := tx.ExecContext(ctx, `INSERT INTO moment_day_summaries (moment_id, day, gen, spec, summary) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (moment_id, day) DO UPDATE SET gen = excluded.gen, spec = excluded.spec, summary = excluded.summary`,
			q.MomentID, k.day, c.gen, q.Spec, c.summary); err != nil {
			return nil, fmt.Errorf("store the moment analytics of %q: %w", q.MomentID, err)
		}
	}
	return out, tx.Commit()
}

// rebuildFacts computes the facts of the cells whose facts are missing or
// stale from the runs and marks, one read per run of consecutive days.
func (s *Store) rebuildFacts(ctx context.Context, oq OccurrenceQuery, cells map[int64]*dayCell, first, last int64) error {
	for d := first; d <= last; d++ {
		if cells[d].validFact {
			continue
		}
		end := d
		for end < last && !cells[end+1].validFact {
			end++
		}
		q := oq
		q.From, q.To = fromMicros(d*dayMicros), fromMicros((end+1)*dayMicros)
		occ, err := s.scanOccurrences(ctx, q)
		if err != nil {
			return err
		}
		for x := d; x <= end; x++ {
			c := cells[x]
			c.occ, c.decoded, c.rebuilt, c.summary = nil, true, true, nil
		}
		for _, o := range occ {
			c := cells[dayOf(o.OccurredAt)]
			c.occ = append(c.occ, o)
		}
		d = end
	}
	return nil
}

// The binary form of a cell: a count, then per occurrence its run and
// account ids, time, status, finish time, escalated flag, effort, the
// asked events' times in oq.Events order, the time metric's from and to,
// the asked steps' times in oq.Steps order, and with oq.Path the account's
// path id, time to value and to implementation. Times (and durations) are
// microseconds; an absent time is written as 0 and a present one as 1 and
// its value.

func encodeOccurrences(occ []Occurrence, oq OccurrenceQuery) []byte {
	b := binary.AppendUvarint(make([]byte, 0, 16+len(occ)*64), uint64(len(occ)))
	str := func(v string) {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	at := func(t *time.Time) {
		if t == nil {
			b = append(b, 0)
			return
		}
		b = append(b, 1)
		b = binary.AppendVarint(b, micros(*t))
	}
	dur := func(d *time.Duration) {
		if d == nil {
			b = append(b, 0)
			return
		}
		b = append(b, 1)
		b = binary.AppendVarint(b, d.Microseconds())
	}
	for _, o := range occ {
		str(o.RunID)
		str(o.AccountID)
		b = binary.AppendVarint(b, micros(o.OccurredAt))
		str(o.Status)
		at(o.FinishedAt)
		if o.Escalated {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
		b = binary.AppendVarint(b, int64(o.EffortMinutes))
		for _, n := range oq.Events {
			t, ok := o.Marks[n]
			at(cond(ok, &t))
		}
		at(o.From)
		at(o.To)
		for _, n := range oq.Steps {
			t, ok := o.Steps[n]
			at(cond(ok, &t))
		}
		if oq.Path {
			str(o.Path.PathID)
			dur(o.Path.TimeToValue)
			dur(o.Path.TimeToImplementation)
		}
	}
	return b
}

func cond(ok bool, t *time.Time) *time.Time {
	if ok {
		return t
	}
	return nil
}

var errBadCell = errors.New("malformed day cell")

func decodeOccurrences(b []byte, oq OccurrenceQuery) ([]Occurrence, error) {
	var err error
	uv := func() uint64 {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			err = errBadCell
			return 0
		}
		b = b[n:]
		return v
	}
	sv := func() int64 {
		v, n := binary.Varint(b)
		if n <= 0 {
			err = errBadCell
			return 0
		}
		b = b[n:]
		return v
	}
	str := func() string {
		l := uv()
		if err != nil || uint64(len(b)) < l {
			err = errBadCell
			return ""
		}
		v := string(b[:l])
		b = b[l:]
		return v
	}
	at := func() (time.Time, bool) {
		if len(b) == 0 {
			err = errBadCell
			return time.Time{}, false
		}
		flag := b[0]
		b = b[1:]
		if flag == 0 {
			return time.Time{}, false
		}
		return fromMicros(sv()), true
	}
	ptr := func() *time.Time {
		if t, ok := at(); ok {
			return &t
		}
		return nil
	}
	n := uv()
	if err != nil || n > uint64(len(b)) {
		return nil, errBadCell
	}
	out := make([]Occurrence, 0, n)
	for range n {
		var o Occurrence
		o.RunID, o.AccountID = str(), str()
		o.OccurredAt = fromMicros(sv())
		o.Status = str()
		o.FinishedAt = ptr()
		if len(b) == 0 {
			return nil, errBadCell
		}
		o.Escalated, b = b[0] == 1, b[1:]
		o.EffortMinutes = int(sv())
		o.Marks = make(map[string]time.Time, len(oq.Events))
		for _, name := range oq.Events {
			if t, ok := at(); ok {
				o.Marks[name] = t
			}
		}
		o.From, o.To = ptr(), ptr()
		for _, step := range oq.Steps {
			if t, ok := at(); ok {
				if o.Steps == nil {
					o.Steps = map[string]time.Time{}
				}
				o.Steps[step] = t
			}
		}
		if oq.Path {
			o.Path.PathID = str()
			for _, d := range []**time.Duration{&o.Path.TimeToValue, &o.Path.TimeToImplementation} {
				if t, ok := at(); ok {
					v := time.Duration(micros(t)) * time.Microsecond
					*d = &v
				}
			}
		}
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}
