package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// pgxRow is one row of eachPgxRow: its values as PostgreSQL sent them,
// valid only during the call.
type pgxRow struct {
	values [][]byte
	fields []pgconnField
}

// pgconnField is what a row's reader needs of a column: its format.
type pgconnField struct{ binary bool }

// bytes is column i's text (a TEXT column's bytes in either format).
func (r pgxRow) bytes(i int) []byte { return r.values[i] }

// int64 is column i as a BIGINT, in binary (8 bytes, big-endian) or text.
func (r pgxRow) int64(i int) (int64, error) {
	v := r.values[i]
	if r.fields[i].binary {
		if len(v) != 8 {
			return 0, fmt.Errorf("column %d: %d bytes, not a BIGINT", i, len(v))
		}
		return int64(binary.BigEndian.Uint64(v)), nil
	}
	return strconv.ParseInt(string(v), 10, 64)
}

// eachPgxRow runs a query on PostgreSQL and calls fn with each row's raw
// values, read by pgx itself on a connection of the read pool: a funnel
// reads hundreds of thousands of (account, time) rows, and through
// database/sql each row is converted to driver values (a string per TEXT
// value) and then scanned again, which cost more than the server's work.
func (s *Store) eachPgxRow(ctx context.Context, query string, args []any, fn func(r pgxRow) error) error {
	conn, err := s.read.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("not a pgx connection: %T", dc)
		}
		rows, err := c.Conn().Query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		var r pgxRow
		for rows.Next() {
			if r.fields == nil {
				for _, f := range rows.FieldDescriptions() {
					r.fields = append(r.fields, pgconnField{binary: f.Format == pgx.BinaryFormatCode})
				}
			}
			r.values = rows.RawValues()
			if err := fn(r); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}
