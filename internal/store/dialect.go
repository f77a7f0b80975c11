package store

import (
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3"
)

// Dialect names the database behind a Store and owns what differs between
// the two: parameter markers, row locking, JSON access, date arithmetic
// and the behaviour of an embedded database. All other SQL is shared.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// embedded reports whether the database is an embedded SQLite file: one
// writing connection (which is lock enough, so rows are never locked), a
// WAL the store checkpoints itself, statements the store prepares itself
// (modernc's SQLite keeps no statement cache), per-connection pragmas and
// the in-memory dedupe set (dedupe.go).
func (d Dialect) embedded() bool { return d == SQLite }

// migrations returns the directory of the dialect's migrations and goose's
// name for it.
func (d Dialect) migrations() (string, goose.Dialect) {
	if d == Postgres {
		return "migrations/postgres", goose.DialectPostgres
	}
	return "migrations/sqlite", goose.DialectSQLite3
}

// placeholders returns n parameter markers numbered from `from`. SQLite
// gets anonymous "?" markers: it treats "$1" as a named parameter and looks
// names up by a linear scan, which made a 2,800-parameter insert spend most
// of its time matching names.
func (d Dialect) placeholders(from, n int) string {
	var sb strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		if d.embedded() {
			sb.WriteByte('?')
		} else {
			sb.WriteString("$" + strconv.Itoa(from+i))
		}
	}
	return sb.String()
}

// numbered is placeholders that a statement may repeat (byAccount): on
// SQLite "?1"-style markers, numbered without the lookup by name.
func (d Dialect) numbered(from, n int) string {
	if !d.embedded() {
		return d.placeholders(from, n)
	}
	var sb strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString("?" + strconv.Itoa(from+i))
	}
	return sb.String()
}

// locksRows reports whether reads that precede a write must lock their
// rows: on PostgreSQL several server processes may write at once; SQLite
// has one writer, which is lock enough.
func (d Dialect) locksRows() bool { return !d.embedded() }

// forUpdate is the clause that ends a SELECT whose rows (of the named
// tables, or all when none is named) are about to be written: " FOR
// UPDATE" where rows are locked, "" on SQLite.
func (d Dialect) forUpdate(tables ...string) string {
	if !d.locksRows() {
		return ""
	}
	if len(tables) == 0 {
		return " FOR UPDATE"
	}
	return " FOR UPDATE OF " + strings.Join(tables, ", ")
}

// jsonText is a JSON column as text.
func (d Dialect) jsonText(col string) string {
	if d == Postgres {
		return col + "::text"
	}
	return col
}

// jsonHasKey is a condition true when the JSON object in col has the top
// level key. On SQLite it is a text search, which may also match the key
// deeper in the object: callers use it to select rows to decode, not to
// decide.
func (d Dialect) jsonHasKey(col, key string) string {
	if d == Postgres {
		return col + " ? '" + key + "'"
	}
	return "instr(" + col + `, '"` + key + `"') > 0`
}

// daysBetween is the whole number of days from the date `from` to the date
// `to`, both dates as YYYY-MM-DD text (a column or a parameter).
func (d Dialect) daysBetween(from, to string) string {
	if d == Postgres {
		return "(" + to + "::date - " + from + "::date)"
	}
	return "CAST(julianday(" + to + ") - julianday(" + from + ") AS INTEGER)"
}

// greatest is the larger of two numbers.
func (d Dialect) greatest(a, b string) string {
	if d == Postgres {
		return "GREATEST(" + a + ", " + b + ")"
	}
	return "MAX(" + a + ", " + b + ")"
}

// rows returns a multi-row statement: prefix, n parenthesised groups of
// cols parameters, then suffix.
func (d Dialect) rows(prefix string, n, cols int, suffix string) string {
	var q strings.Builder
	q.WriteString(prefix)
	for i := 0; i < n; i++ {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString("(" + d.placeholders(i*cols+1, cols) + ")")
	}
	q.WriteString(suffix)
	return q.String()
}

// upsert is the ON CONFLICT clause that, when a row with the same key
// columns exists, replaces its cols with the new row's. Both dialects
// spell it alike; it lives here so that the statements do not each spell
// it out.
func (d Dialect) upsert(key string, cols ...string) string {
	set := make([]string, len(cols))
	for i, c := range cols {
		set[i] = c + " = excluded." + c
	}
	return " ON CONFLICT (" + key + ") DO UPDATE SET " + strings.Join(set, ", ")
}

// Retryable reports whether err is PostgreSQL giving up a transaction to
// break a deadlock (40P01) or a serialisation conflict (40001): the whole
// transaction may be run again. Such waits are rare — writers lock rows in
// sorted order — but a row created by one transaction and locked by
// another can still close a cycle.
func Retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}
