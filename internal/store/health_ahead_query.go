package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
)

// The daily recompute scores every account. Reading each page's records
// inside its write transaction (HealthRecordsTx) cost the single writer
// four b-tree lookups by text key per account (accounts, account_health,
// health_aggregates, health_recent) and the copy of a 1.6 KB aggregate: the
// largest part of its time. On SQLite the recompute reads them all ahead
// instead, each table once in the order it is stored, outside any
// transaction, and checks inside each page's transaction only that the
// accounts' versions did not move since (HealthVersionsTx): every write of
// an account's state, aggregate, recent scores and warnings goes with a new
// version (SaveHealthRecordsTx), so a record whose version stands is still
// the stored one.

// ReadsHealthAhead reports whether a recompute reads the accounts'
// records ahead (HealthRecordsAhead) rather than in each page's
// transaction: on SQLite. PostgreSQL's HealthRecordsTx locks the rows it
// reads, which the recompute's pages need there.
func (s *Store) ReadsHealthAhead() bool { return s.dialect.embedded() }

// HealthRecordsAhead returns the stored records of ids as HealthRecordsTx
// reads them, and with each its stored warnings (see SameWarnings), reading
// each table whole in storage order through the memory-mapped reader,
// outside any transaction. A record is valid in a later transaction while
// its account's version has not moved (HealthVersionsTx).
func (s *Store) HealthRecordsAhead(ctx context.Context, ids []string) (map[string]*HealthRecord, error) {
	out := make(map[string]*HealthRecord, len(ids))
	for _, id := range ids {
		out[id] = &HealthRecord{AccountHealth: AccountHealth{AccountID: id}}
	}
	q, release, err := s.mappedReader(ctx)
	if err != nil {
		return nil, fmt.Errorf("read health records: %w", err)
	}
	defer release()
	// The accounts first: as in HealthRecordsTx, only an account that
	// exists has its stored health read.
	found := make(map[string]*HealthRecord, len(ids))
	err = eachRow(ctx, q, `SELECT id, traits FROM accounts`, func(rows *sql.Rows) error {
		var (
			id     string
			traits []byte
		)
		if err := rows.Scan(&id, &traits); err != nil {
			return err
		}
		if r := out[id]; r != nil {
			r.RawTraits = traits
			found[id] = r
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read health records: %w", err)
	}
	var (
		hs   healthScan
		id   string
		dest = hs.dest([]any{&id})
	)
	err = eachRow(ctx, q, `SELECT h.account_id, `+healthCols+` FROM account_health h`, func(rows *sql.Rows) error {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if r := found[id]; r != nil {
			hs.fill(&r.AccountHealth)
			r.AccountID = id
			r.Exists = r.Version > 0
			r.stored = r.path()
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read health records: %w", err)
	}
	pairs := func(query string, set func(r *HealthRecord, v []byte)) error {
		return eachRow(ctx, q, query, func(rows *sql.Rows) error {
			var (
				id string
				v  []byte
			)
			if err := rows.Scan(&id, &v); err != nil {
				return err
			}
			if r := found[id]; r != nil {
				set(r, v)
			}
			return nil
		})
	}
	if err := pairs(`SELECT account_id, aggregate FROM health_aggregates`, func(r *HealthRecord, v []byte) {
		r.Aggregate, r.storedAggregate = v, v
	}); err != nil {
		return nil, fmt.Errorf("read health records: %w", err)
	}
	if err := pairs(`SELECT account_id, recent FROM health_recent`, func(r *HealthRecord, v []byte) {
		r.Recent, r.storedRecent = v, v
	}); err != nil {
		return nil, fmt.Errorf("read health records: %w", err)
	}
	err = eachRow(ctx, q, `SELECT account_id, codes, texts FROM health_warnings`, func(rows *sql.Rows) error {
		var id, codes, texts string
		if err := rows.Scan(&id, &codes, &texts); err != nil {
			return err
		}
		if r := found[id]; r != nil {
			r.warnings = &storedWarnings{codes, texts}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read health records: %w", err)
	}
	return out, nil
}

// eachRow runs query in q and calls fn for every row.
func eachRow(ctx context.Context, q Querier, query string, fn func(*sql.Rows) error) error {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	for rows.Next() {
		if err := fn(rows); err != nil {
			rows.Close()
			return err
		}
	}
	return closeRows(rows)
}

// storedWarnings is a health_warnings row as stored.
type storedWarnings struct{ codes, texts string }

// encodeWarnings returns the stored form of w's codes and texts.
func encodeWarnings(w HealthWarnings) (codes, texts string, err error) {
	b, err := json.Marshal(orEmptyStrings(w.Texts))
	return strings.Join(w.Codes, ","), string(b), err
}

// SameWarnings reports whether w is what r's account has stored, as read
// with the record by HealthRecordsAhead: SaveHealthWarningsTx would leave
// its row as it is, so the recompute need not write it. False for a record
// read otherwise.
func (r *HealthRecord) SameWarnings(w HealthWarnings) bool {
	if r.warnings == nil {
		return false
	}
	codes, texts, err := encodeWarnings(w)
	return err == nil && codes == r.warnings.codes && texts == r.warnings.texts
}

// HealthVersionsTx returns the version of the stored health of ids, read
// in tx (accounts without stored health are absent).
func (s *Store) HealthVersionsTx(ctx context.Context, tx Querier, ids []string) (map[string]int64, error) {
	out := make(map[string]int64, len(ids))
	args := make([]any, 0, min(len(ids), healthSizes[0]))
	start := 0
	for _, n := range healthChunks(len(ids)) {
		args = args[:0]
		for _, id := range ids[start : start+n] {
			args = append(args, id)
		}
		start += n
		rows, err := s.healthQuery(ctx, tx, s.healthSQL(loadVersions, n), args...)
		if err != nil {
			return nil, fmt.Errorf("read health versions: %w", err)
		}
		for rows.Next() {
			var (
				id string
				v  int64
			)
			if err := rows.Scan(&id, &v); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read health versions: %w", err)
			}
			out[id] = v
		}
		if err := closeRows(rows); err != nil {
			return nil, fmt.Errorf("read health versions: %w", err)
		}
	}
	return out, nil
}
