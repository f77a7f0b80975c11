package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
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
	return b.String()
}

// MomentOccurrences returns the occurrences of a moment that happened in
// the query's period, oldest first, with the first event of each asked
// name at or after them and the completion of the asked playbook steps.
// It reads one day cell per day of the period and filters the first and
// last day to the exact bounds; the cells missing or cleared since they
// were built are rebuilt first (scanOccurrences) and stored.
func (s *Store) MomentOccurrences(ctx context.Context, oq OccurrenceQuery) ([]Occurrence, error) {
	if !oq.From.Before(oq.To) {
		return nil, nil
	}
	spec := oq.spec()
	first, last := dayOf(oq.From), dayOf(oq.To.Add(-time.Microsecond))
	cells := make(map[int64][]byte, last-first+1)
	rows, err := s.read.QueryContext(ctx, `SELECT day, facts FROM moment_days
		WHERE moment_id = $1 AND day >= $2 AND day <= $3 AND spec = $4 AND facts IS NOT NULL`, oq.MomentID, first, last, spec)
	if err != nil {
		return nil, fmt.Errorf("read the moment analytics of %q: %w", oq.MomentID, err)
	}
	for rows.Next() {
		var day int64
		var facts []byte
		if err := rows.Scan(&day, &facts); err != nil {
			rows.Close()
			return nil, err
		}
		cells[day] = facts
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	built := map[int64][]Occurrence{}
	for d := first; d <= last; d++ {
		if _, ok := cells[d]; ok {
			continue
		}
		end := d
		for end < last {
			if _, ok := cells[end+1]; ok {
				break
			}
			end++
		}
		if err := s.buildDays(ctx, oq, spec, d, end, built); err != nil {
			return nil, err
		}
		d = end
	}
	from, to := micros(oq.From), micros(oq.To)
	var out []Occurrence
	for d := first; d <= last; d++ {
		occ, ok := built[d]
		if !ok {
			if occ, err = decodeOccurrences(cells[d], oq); err != nil {
				return nil, fmt.Errorf("read the moment analytics of %q on day %d: %w", oq.MomentID, d, err)
			}
		}
		for _, o := range occ {
			if at := micros(o.OccurredAt); at >= from && at < to {
				out = append(out, o)
			}
		}
	}
	return out, nil
}

// buildDays computes the cells of days first to last from the runs and
// marks, puts each day's occurrences in into, and stores the cells whose
// generation did not move while they were computed (a write in between
// cleared them again: the next report rebuilds them).
func (s *Store) buildDays(ctx context.Context, oq OccurrenceQuery, spec string, first, last int64, into map[int64][]Occurrence) error {
	// The rows exist before the facts are read, so a write committed after
	// the read bumps a generation this build has seen.
	for d := first; d <= last; d += 400 {
		var sb strings.Builder
		args := []any{oq.MomentID}
		sb.WriteString(`INSERT INTO moment_days (moment_id, day) VALUES `)
		for x := d; x <= min(last, d+399); x++ {
			if x > d {
				sb.WriteString(", ")
			}
			args = append(args, x)
			fmt.Fprintf(&sb, "($1, $%d)", len(args))
		}
		sb.WriteString(` ON CONFLICT (moment_id, day) DO NOTHING`)
		if _, err := s.write.ExecContext(ctx, sb.String(), args...); err != nil {
			return fmt.Errorf("prepare the moment analytics of %q: %w", oq.MomentID, err)
		}
	}
	gens := map[int64]int64{}
	rows, err := s.read.QueryContext(ctx, `SELECT day, gen FROM moment_days WHERE moment_id = $1 AND day >= $2 AND day <= $3`,
		oq.MomentID, first, last)
	if err != nil {
		return err
	}
	for rows.Next() {
		var day, gen int64
		if err := rows.Scan(&day, &gen); err != nil {
			rows.Close()
			return err
		}
		gens[day] = gen
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	q := oq
	q.From, q.To = fromMicros(first*dayMicros), fromMicros((last+1)*dayMicros)
	occ, err := s.scanOccurrences(ctx, q)
	if err != nil {
		return err
	}
	for d := first; d <= last; d++ {
		into[d] = nil // a day without occurrences is built too
	}
	for _, o := range occ {
		d := dayOf(o.OccurredAt)
		into[d] = append(into[d], o)
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	for d := first; d <= last; d++ {
		gen, ok := gens[d]
		if !ok {
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE moment_days SET spec = $1, facts = $2 WHERE moment_id = $3 AND day = $4 AND gen = $5`,
			spec, encodeOccurrences(into[d], oq), oq.MomentID, d, gen); err != nil {
			return fmt.Errorf("store the moment analytics of %q: %w", oq.MomentID, err)
		}
	}
	return tx.Commit()
}

// The binary form of a cell: a count, then per occurrence its run and
// account ids, time, status, finish time, escalated flag, effort, the
// asked events' times in oq.Events order, the time metric's from and to,
// and the asked steps' times in oq.Steps order. Times are microseconds;
// an absent time is written as 0 and a present one as 1 and its value.

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
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}
