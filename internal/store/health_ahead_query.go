package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"hash/maphash"
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

// HealthRecordsRead holds the records HealthRecordsAhead read, compactly
// (a recompute holds every account's until its page is written, beside
// every account's aggregate: one small object per column would be
// millions of objects for the garbage collector to walk).
type HealthRecordsRead struct {
	index map[string]int
	rows  []aheadRow
}

// aheadRow is one account's stored record as read.
type aheadRow struct {
	found, warned           bool
	hs                      healthScan
	traits, recent          string
	hasAggregate, hasRecent bool
	// The stored aggregate (1.6 KB here) is only compared with the new
	// one: its digest and size are kept, not its bytes.
	aggregateSum  [2]uint64
	aggregateSize int
	codes, texts  string
}

// Record returns the stored record of id as HealthRecordsTx reads it,
// with its stored warnings (see SameWarnings): a new one at each call; nil
// for an account that was not read or was forgotten.
func (a *HealthRecordsRead) Record(id string) *HealthRecord {
	i, ok := a.index[id]
	if !ok {
		return nil
	}
	row := &a.rows[i]
	r := &HealthRecord{AccountHealth: AccountHealth{AccountID: id}}
	if !row.found {
		return r
	}
	r.RawTraits = []byte(row.traits)
	row.hs.fill(&r.AccountHealth)
	r.Exists = r.Version > 0
	r.stored = r.path()
	if row.hasAggregate {
		r.summed, r.storedAggregateSum, r.storedAggregateSize = true, row.aggregateSum, row.aggregateSize
	}
	if row.hasRecent {
		r.Recent = []byte(row.recent)
		r.storedRecent = r.Recent
	}
	if row.warned {
		r.warnings = &storedWarnings{row.codes, row.texts}
	}
	return r
}

// Forget drops what was read of id.
func (a *HealthRecordsRead) Forget(id string) {
	if i, ok := a.index[id]; ok {
		a.rows[i] = aheadRow{}
		delete(a.index, id)
	}
}

// HealthRecordsAhead reads the stored records of ids as HealthRecordsTx
// reads them, and their stored warnings, reading each table whole in
// storage order through the memory-mapped reader, outside any
// transaction. A record is valid in a later transaction while its
// account's version has not moved (HealthVersionsTx).
func (s *Store) HealthRecordsAhead(ctx context.Context, ids []string) (*HealthRecordsRead, error) {
	a := &HealthRecordsRead{index: make(map[string]int, len(ids)), rows: make([]aheadRow, len(ids))}
	for i, id := range ids {
		a.index[id] = i
	}
	q, release, err := s.mappedReader(ctx)
	if err != nil {
		return nil, fmt.Errorf("read health records: %w", err)
	}
	defer release()
	// As in HealthRecordsTx, only an account that exists has its stored
	// health read: the accounts first.
	row := func(id string) *aheadRow {
		if i, ok := a.index[id]; ok {
			return &a.rows[i]
		}
		return nil
	}
	err = eachRow(ctx, q, `SELECT id, traits FROM accounts`, func(rows *sql.Rows) error {
		var id, traits string
		if err := rows.Scan(&id, &traits); err != nil {
			return err
		}
		if r := row(id); r != nil {
			r.found, r.traits = true, traits
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read health records: %w", err)
	}
	var (
		hs     healthScan
		id     string
		dest   = hs.dest([]any{&id})
		common = map[string]string{}
	)
	// The texts of the state (quadrants, paths, milestones) recur from
	// account to account: kept once.
	intern := func(ns *sql.NullString) {
		if c, ok := common[ns.String]; ok {
			ns.String = c
		} else if len(common) < 10_000 {
			common[ns.String] = ns.String
		}
	}
	err = eachRow(ctx, q, `SELECT h.account_id, `+healthCols+` FROM account_health h`, func(rows *sql.Rows) error {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if r := row(id); r != nil && r.found {
			for _, ns := range []*sql.NullString{&hs.quad, &hs.prev, &hs.path, &hs.next, &hs.nextName} {
				intern(ns)
			}
			r.hs = hs
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read health records: %w", err)
	}
	pairs := func(query string, set func(r *aheadRow, v string)) error {
		return eachRow(ctx, q, query, func(rows *sql.Rows) error {
			var id, v string
			if err := rows.Scan(&id, &v); err != nil {
				return err
			}
			if r := row(id); r != nil && r.found {
				set(r, v)
			}
			return nil
		})
	}
	if err := pairs(`SELECT account_id, aggregate FROM health_aggregates`, func(r *aheadRow, v string) {
		r.hasAggregate, r.aggregateSum, r.aggregateSize = true, aggregateSum(v), len(v)
	}); err != nil {
		return nil, fmt.Errorf("read health records: %w", err)
	}
	if err := pairs(`SELECT account_id, recent FROM health_recent`, func(r *aheadRow, v string) {
		r.recent, r.hasRecent = v, true
	}); err != nil {
		return nil, fmt.Errorf("read health records: %w", err)
	}
	err = eachRow(ctx, q, `SELECT account_id, codes, texts FROM health_warnings`, func(rows *sql.Rows) error {
		var id, codes, texts string
		if err := rows.Scan(&id, &codes, &texts); err != nil {
			return err
		}
		if r := row(id); r != nil && r.found {
			r.warned, r.codes, r.texts = true, codes, texts
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read health records: %w", err)
	}
	return a, nil
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

// aggregateSeeds seed the digests of stored aggregates read ahead: two
// 64-bit hashes, compared within this process only, where two different
// aggregates have a chance of about 2^-128 to compare equal.
var aggregateSeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

// aggregateSum is the digest of an aggregate's stored text.
func aggregateSum(s string) [2]uint64 {
	return [2]uint64{maphash.String(aggregateSeeds[0], s), maphash.String(aggregateSeeds[1], s)}
}

// aggregateBytesSum is aggregateSum of the same bytes.
func aggregateBytesSum(b []byte) [2]uint64 {
	return [2]uint64{maphash.Bytes(aggregateSeeds[0], b), maphash.Bytes(aggregateSeeds[1], b)}
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
