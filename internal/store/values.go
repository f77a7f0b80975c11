package store

// Conversions between Go values and the stored representations.

import (
	"database/sql"
	"sort"
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
