package store

// Conversions between Go values and the stored representations.

import (
	"context"
	"database/sql"
	"sort"
	"strconv"
	"strings"
	"time"
)

// micros converts a time to the stored representation.
func micros(t time.Time) int64 { return t.UnixMicro() }

// fromMicros converts the stored representation back to UTC time.
func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func timePtr(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// appendRows scans every remaining row with scan, appending to out.
func appendRows[T any](out []T, rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func floatPtr(v sql.NullFloat64) *float64 {
	if !v.Valid {
		return nil
	}
	f := v.Float64
	return &f
}

func durPtr(v sql.NullInt64) *time.Duration {
	if !v.Valid {
		return nil
	}
	d := time.Duration(v.Int64) * time.Microsecond
	return &d
}

// floatArg, timeArg and durArg are the driver values of a nullable float,
// time (Unix microseconds; the zero time is NULL, as nullMicros has it) and
// duration (microseconds).
func floatArg(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

func timeArg(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func durArg(d *time.Duration) any {
	if d == nil {
		return nil
	}
	return d.Microseconds()
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func sortedUnique(ids []string) []string {
	out := append([]string(nil), ids...)
	sort.Strings(out)
	n := 0
	for i, id := range out {
		if i > 0 && id == out[n-1] {
			continue
		}
		out[n] = id
		n++
	}
	return out[:n]
}

// idsMarker stands, in a query given to eachRowIn, for the list of ids of
// one chunk: "… WHERE id IN (" + idsMarker + ")".
const idsMarker = "$IDS"

// eachRowIn runs query on q once per chunk of at most keyChunk ids, with
// idsMarker replaced by the chunk's parameters (numbered after those of
// lead, which every chunk passes first), and calls each with every row.
func (s *Store) eachRowIn(ctx context.Context, q Querier, query string, lead []any, ids []string, each func(scanner) error) error {
	for start := 0; start < len(ids); start += keyChunk {
		chunk := ids[start:min(start+keyChunk, len(ids))]
		args := append(make([]any, 0, len(lead)+len(chunk)), lead...)
		for _, id := range chunk {
			args = append(args, id)
		}
		rows, err := q.QueryContext(ctx, strings.Replace(query, idsMarker, s.dialect.placeholders(len(lead)+1, len(chunk)), 1), args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := each(rows); err != nil {
				rows.Close()
				return err
			}
		}
		if err := closeRows(rows); err != nil {
			return err
		}
	}
	return nil
}

// execIn runs statement on q once per chunk of at most keyChunk ids, with
// idsMarker replaced by the chunk's parameters.
func (s *Store) execIn(ctx context.Context, q Querier, statement string, ids []int64) error {
	for start := 0; start < len(ids); start += keyChunk {
		chunk := ids[start:min(start+keyChunk, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		if _, err := q.ExecContext(ctx, strings.Replace(statement, idsMarker, s.dialect.placeholders(1, len(chunk)), 1), args...); err != nil {
			return err
		}
	}
	return nil
}

// mapRowsIn is eachRowIn for rows scanned into values kept by key.
func mapRowsIn[T any](ctx context.Context, s *Store, q Querier, query string, ids []string, scan func(scanner) (T, error), key func(T) string) (map[string]T, error) {
	out := make(map[string]T, len(ids))
	err := s.eachRowIn(ctx, q, query, nil, ids, func(r scanner) error {
		v, err := scan(r)
		if err == nil {
			out[key(v)] = v
		}
		return err
	})
	return out, err
}

// where collects the conditions of a WHERE clause and their parameters,
// numbered in the order they are added.
type where struct {
	conds []string
	args  []any
}

// arg adds a parameter holding v and returns its marker.
func (w *where) arg(v any) string {
	w.args = append(w.args, v)
	return "$" + strconv.Itoa(len(w.args))
}

// add adds cond, whose "?" markers become, in order, parameters holding vs.
func (w *where) add(cond string, vs ...any) {
	for _, v := range vs {
		cond = strings.Replace(cond, "?", w.arg(v), 1)
	}
	w.conds = append(w.conds, cond)
}

// eq adds "col = v", unless v is empty (an empty filter field matches
// everything).
func (w *where) eq(col, v string) {
	if v != "" {
		w.add(col+" = ?", v)
	}
}

// and returns the conditions joined by AND, after prefix; "" when there
// are none.
func (w *where) and(prefix string) string {
	if len(w.conds) == 0 {
		return ""
	}
	return prefix + strings.Join(w.conds, " AND ")
}

// closeRows ends reading rows and returns what went wrong while reading them
// (rows.Err: on PostgreSQL a deadlock or a cancelled statement surfaces
// there, after Next returns false) or on closing. Without it such an error
// is lost and the transaction fails later with "current transaction is
// aborted".
func closeRows(rows *sql.Rows) error {
	if err := rows.Err(); err != nil {
		rows.Close()
		return err
	}
	return rows.Close()
}
