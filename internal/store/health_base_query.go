package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// HealthBase is an account's health aggregate over its events up to an
// event id, as the daily recompute keeps it (see health_bases in the
// migrations): the recompute starts from it and reads only later events.
type HealthBase struct {
	AccountID string
	// Model fingerprints the health model the aggregate was built under; a
	// base of another model is rebuilt from the events.
	Model string
	// Through is the largest event id the aggregate covers: the account's
	// events with ids up to it, and none after it.
	Through   int64
	Aggregate []byte
	// First is the JSON object of the earliest time of each event name a
	// milestone listens to.
	First []byte
}

// HealthBases calls fn with every stored base, in the order they are
// stored. The HealthBase passed to fn is its own (its bytes are not
// reused).
func (s *Store) HealthBases(ctx context.Context, fn func(*HealthBase) error) error {
	// Memory-mapped and in storage order: in account order SQLite walked
	// the primary key's index and looked every row up, and each page read
	// through its page cache cost an allocation; this read of every base
	// (1–3 KB each) was a sixth of a daily recompute.
	q, release, err := s.mappedReader(ctx)
	if err != nil {
		return fmt.Errorf("read health bases: %w", err)
	}
	defer release()
	rows, err := q.QueryContext(ctx, `SELECT account_id, model, through, aggregate, first FROM health_bases`)
	if err != nil {
		return fmt.Errorf("read health bases: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		b := &HealthBase{}
		if err := rows.Scan(&b.AccountID, &b.Model, &b.Through, &b.Aggregate, &b.First); err != nil {
			return fmt.Errorf("read health bases: %w", err)
		}
		if err := fn(b); err != nil {
			return err
		}
	}
	return rows.Err()
}

// SaveHealthBasesTx writes the bases in tx, replacing the accounts' stored
// ones (statements of the sizes of healthChunks, kept prepared).
func (s *Store) SaveHealthBasesTx(ctx context.Context, tx Querier, bases []HealthBase) error {
	args := make([]any, 0, 5*min(len(bases), healthSizes[0]))
	start := 0
	for _, n := range healthChunks(len(bases)) {
		args = args[:0]
		for _, b := range bases[start : start+n] {
			first := b.First
			if len(first) == 0 {
				first = []byte("{}")
			}
			args = append(args, b.AccountID, b.Model, b.Through, string(b.Aggregate), string(first))
		}
		start += n
		if _, err := s.healthExec(ctx, tx, s.healthSQL(saveBases, n), args...); err != nil {
			return fmt.Errorf("write health bases: %w", err)
		}
	}
	return nil
}

// forgetHealthBase drops an account's base in tx, so that the next
// recompute rebuilds the account from all its events: for events that
// joined the account with ids the base already covers (a contact linked
// to the account after its events arrived).
func (s *Store) forgetHealthBase(ctx context.Context, tx Querier, accountID string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM health_bases WHERE account_id = $1`, accountID); err != nil {
		return fmt.Errorf("forget the health base of %q: %w", accountID, err)
	}
	return nil
}

// HealthScanBounds returns the largest event id stored now (latest) and
// the largest id up to which a recompute may bring the accounts' bases
// (settled). A base must hold every event of its account up to its id, so
// settled is never beyond the events the ingest stages have consumed
// (ingest_progress): a recompute reads only consumed events (consumedCond),
// and an event it skipped as not yet consumed but below the base's id
// would be counted by the stages when they consume it and by no later
// recompute. On SQLite, whose one writer commits ids in order, every id up
// to latest is committed, so settled is latest or the stages' progress,
// whichever is smaller. On PostgreSQL an id is taken before its
// transaction commits, so an event with a smaller id may still become
// visible; settled is then at most the largest id when the previous
// recompute began (health_base_mark), which no transaction stays open
// across. Call SetHealthScanMark(latest) when the recompute is done.
func (s *Store) HealthScanBounds(ctx context.Context) (latest, settled int64, err error) {
	var last, consumed sql.NullInt64
	if err := s.read.QueryRowContext(ctx, `SELECT (SELECT MAX(id) FROM events), `+stagesFloorSQL).Scan(&last, &consumed); err != nil {
		return 0, 0, fmt.Errorf("read the last event id: %w", err)
	}
	settled = min(last.Int64, consumed.Int64)
	if s.dialect.embedded() {
		return last.Int64, settled, nil
	}
	var mark sql.NullInt64
	err = s.read.QueryRowContext(ctx, `SELECT seen FROM health_base_mark WHERE id = 1`).Scan(&mark)
	if err != nil && err != sql.ErrNoRows {
		return 0, 0, fmt.Errorf("read the health base mark: %w", err)
	}
	return last.Int64, min(mark.Int64, settled), nil
}

// SetHealthScanMark records latest, the largest event id when a recompute
// began, for the next recompute's HealthScanBounds.
func (s *Store) SetHealthScanMark(ctx context.Context, latest int64) error {
	_, err := s.write.ExecContext(ctx, `INSERT INTO health_base_mark (id, seen) VALUES (1, $1)
		ON CONFLICT (id) DO UPDATE SET seen = excluded.seen`, latest)
	if err != nil {
		return fmt.Errorf("record the health base mark: %w", err)
	}
	return nil
}

// HealthBasesTx returns the stored bases of ids, read in tx (accounts
// without one are absent).
func (s *Store) HealthBasesTx(ctx context.Context, tx Querier, ids []string) (map[string]*HealthBase, error) {
	out := make(map[string]*HealthBase, len(ids))
	for start := 0; start < len(ids); start += keyChunk {
		part := ids[start:min(start+keyChunk, len(ids))]
		args := make([]any, len(part))
		for i, id := range part {
			args[i] = id
		}
		rows, err := tx.QueryContext(ctx, `SELECT account_id, model, through, aggregate, first FROM health_bases WHERE account_id IN (`+
			s.dialect.placeholders(1, len(part))+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("read health bases: %w", err)
		}
		for rows.Next() {
			b := &HealthBase{}
			if err := rows.Scan(&b.AccountID, &b.Model, &b.Through, &b.Aggregate, &b.First); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read health bases: %w", err)
			}
			out[b.AccountID] = b
		}
		if err := closeRows(rows); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// healthBasesProgress is the ingest_progress row of the health bases:
// every account's base covers its events up to it. Event retention drops
// no event beyond it.
const healthBasesProgress = "health bases"

// SetHealthBasesThrough records that every account's health base covers
// its events up to event id through (a completed recompute).
func (s *Store) SetHealthBasesThrough(ctx context.Context, through int64, at time.Time) error {
	_, err := s.write.ExecContext(ctx, `INSERT INTO ingest_progress (name, last_event_id, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET last_event_id = excluded.last_event_id, updated_at = excluded.updated_at`,
		healthBasesProgress, through, micros(at))
	if err != nil {
		return fmt.Errorf("record how far the health bases reach: %w", err)
	}
	return nil
}

// HealthBasesThrough returns the event id that every account's health
// base covers (SetHealthBasesThrough: the last completed recompute), 0
// before the first. A base with a smaller Through covers the events up to
// it too: its account had none in between.
func (s *Store) HealthBasesThrough(ctx context.Context) (int64, error) {
	var through sql.NullInt64
	err := s.read.QueryRowContext(ctx, `SELECT last_event_id FROM ingest_progress WHERE name = $1`, healthBasesProgress).Scan(&through)
	if err != nil && err != sql.ErrNoRows {
		return 0, fmt.Errorf("read how far the health bases reach: %w", err)
	}
	return through.Int64, nil
}
