package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Partitions of events on PostgreSQL. The events table is partitioned by
// RANGE (id) in spans of Config.EventPartitionSpan ids (migration 00022), so
// that retention drops whole partitions (retention.go). Ids follow arrival
// order, so a partition holds a range of time. There is no DEFAULT
// partition (its rows would have to be moved before any detach): an insert
// whose id has no partition fails, so partitions are created ahead of the
// sequence — once the next id passes half of the last span — when the
// store opens, with each retention run and after commits (in the
// background); and when an insert fails for want of a partition, the
// committer creates it and commits again. message_keys stays one table
// (retention deletes a dropped partition's keys after its detach).
//
// A partition is created empty and attached (ALTER TABLE … ATTACH
// PARTITION takes a SHARE UPDATE EXCLUSIVE lock on events, which neither
// ingestion nor reads wait for), not created with CREATE TABLE … PARTITION
// OF, whose ACCESS EXCLUSIVE lock would queue every query of events behind
// the longest one running.

// DefaultEventPartitionSpan is the ids of one partition of events on
// PostgreSQL: at 1,000,000 events a day, a partition holds five days and a
// year fewer than a hundred partitions.
const DefaultEventPartitionSpan = 5_000_000

// The advisory locks of partitions, per schema (installations may share a
// database): partitions are created under the first (every server reads
// the bounds and creates the missing spans under it), and one retention
// run at a time drops them under the second.
const (
	partitionsLock  = "pg_advisory_xact_lock(1836019056, hashtext(current_schema()))"
	retentionLock   = "pg_try_advisory_lock(1836019057, hashtext(current_schema()))"
	retentionUnlock = "pg_advisory_unlock(1836019057, hashtext(current_schema()))"
)

// partitionLockTimeout bounds how long creating a partition waits for its
// lock on events (a detach in progress holds it until the readers of the
// detached partition finish).
const partitionLockTimeout = "10s"

// partitionRetries is how many times the committer runs a transaction
// again: after PostgreSQL rolled it back to break a deadlock, or after
// creating partitions when an insert found none.
const partitionRetries = 5

// eventPartition is a partition of events holding the ids lo ≤ id < hi
// (lo is math.MinInt64 for MINVALUE: the table an upgrade attached).
type eventPartition struct {
	name   string
	lo, hi int64
}

var partitionBound = regexp.MustCompile(`FROM \((MINVALUE|'?-?\d+'?)\) TO \('?(-?\d+)'?\)`)

// eventPartitions lists the attached partitions of events in id order; a
// partition being detached is left out.
func eventPartitions(ctx context.Context, q Querier) ([]eventPartition, error) {
	rows, err := q.QueryContext(ctx, `SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass AND NOT i.inhdetachpending`)
	if err != nil {
		return nil, fmt.Errorf("list the partitions of events: %w", err)
	}
	defer rows.Close()
	var out []eventPartition
	for rows.Next() {
		var p eventPartition
		var bound string
		if err := rows.Scan(&p.name, &bound); err != nil {
			return nil, err
		}
		m := partitionBound.FindStringSubmatch(bound)
		if m == nil {
			return nil, fmt.Errorf("partition %s of events has bounds %q, not a range of ids", p.name, bound)
		}
		p.lo = math.MinInt64
		if m[1] != "MINVALUE" {
			p.lo, _ = strconv.ParseInt(strings.Trim(m[1], "'"), 10, 64)
		}
		p.hi, _ = strconv.ParseInt(m[2], 10, 64)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b eventPartition) int { return compareInt(a.lo, b.lo) })
	return out, nil
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// nextEventID is the id the sequence of events gives next.
func nextEventID(ctx context.Context, q Querier) (int64, error) {
	var last int64
	var called bool
	if err := q.QueryRowContext(ctx, "SELECT last_value, is_called FROM events_id_seq").Scan(&last, &called); err != nil {
		return 0, fmt.Errorf("read the event id sequence: %w", err)
	}
	if called {
		last++
	}
	return last, nil
}

// ensurePartitions creates partitions of events, each span ids, until
// they cover the next ahead ids the sequence gives. A partition follows
// the last one; one that would end before the sequence (ids drawn by
// failed inserts) is stretched to a span past it.
func (s *Store) ensurePartitions(ctx context.Context, ahead int64) error {
	if s.dialect.embedded() {
		return nil
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := tx.ExecContext(ctx, "SET LOCAL lock_timeout = '"+partitionLockTimeout+"'"); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "SELECT "+partitionsLock); err != nil {
		return fmt.Errorf("lock the partitions of events: %w", err)
	}
	next, err := nextEventID(ctx, tx)
	if err != nil {
		return err
	}
	parts, err := eventPartitions(ctx, tx)
	if err != nil {
		return err
	}
	upper := next
	if len(parts) > 0 {
		upper = parts[len(parts)-1].hi
	}
	span := s.partitionSpan
	for upper < next+ahead {
		hi := upper + span
		if hi <= next {
			hi = next + span
		}
		name := "events_p" + strconv.FormatInt(upper, 10)
		if _, err := tx.ExecContext(ctx, "CREATE TABLE "+name+" (LIKE events INCLUDING DEFAULTS INCLUDING STORAGE)"); err != nil {
			return fmt.Errorf("create partition %s of events: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("ALTER TABLE events ATTACH PARTITION %s FOR VALUES FROM (%d) TO (%d)", name, upper, hi)); err != nil {
			return fmt.Errorf("attach partition %s of events: %w", name, err)
		}
		s.log.Info("created a partition of events", "partition", name, "from", upper, "to", hi)
		upper = hi
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create partitions of events: %w", err)
	}
	s.partitionsUpper.Store(upper)
	return nil
}

// noPartition reports whether err is PostgreSQL refusing a row of events
// whose id no partition holds.
func noPartition(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23514" && strings.HasPrefix(pe.Message, "no partition of relation")
}

// commitExtending is commit; on PostgreSQL it first creates partitions
// when the group's ids may run past the last one this process knows of;
// an insert that still found no partition for its ids (the sequence moved
// on in other servers) creates partitions covering the group and commits
// again (the failed transaction claimed no key: it rolled back); and a
// commit past half of the last span creates the next in the background.
func (w *writer) commitExtending(ctx context.Context, group []*ingestReq, ordered bool) ([]IngestResult, error) {
	s := w.s
	if s.dialect.embedded() {
		return w.commit(ctx, group, ordered)
	}
	var n int64
	for _, r := range group {
		n += int64(len(r.msgs))
	}
	// A group that would run past the partitions this process knows of
	// waits for the next ones (it would fail without them).
	if w.lastCommitted()+n >= s.partitionsUpper.Load() {
		if err := s.ensurePartitions(ctx, s.partitionSpan/2+n); err != nil {
			return nil, fmt.Errorf("write events: creating the partitions for their ids failed: %w", err)
		}
	}
	res, err := w.commit(ctx, group, ordered)
	for try := 0; err != nil && try < partitionRetries; try++ {
		switch {
		case noPartition(err):
			// Other servers drew the ids this process expected, and may
			// draw past the new partitions again before the retry (with
			// small spans).
			if err := s.ensurePartitions(ctx, s.partitionSpan/2+n); err != nil {
				return nil, fmt.Errorf("write events: no partition for their ids, and creating one failed: %w", err)
			}
		case Retryable(err):
			// PostgreSQL broke a deadlock with another server's (or
			// committer's) transaction by rolling this one back: nothing
			// of it is stored, so it runs again, after a random pause
			// that lets the other finish first. Without this the group's
			// calls were retried one by one, and one that met another
			// deadlock answered 500.
			s.log.Warn("ingestion transaction rolled back by PostgreSQL to break a deadlock; running it again", "calls", len(group), "try", try+1)
			time.Sleep(time.Duration(5+rand.IntN(20)) * time.Millisecond)
		default:
			return res, err
		}
		res, err = w.commit(ctx, group, ordered)
	}
	if err == nil && w.lastCommitted()+s.partitionSpan/2 >= s.partitionsUpper.Load() && s.extending.CompareAndSwap(false, true) {
		s.background.Add(1)
		go func() {
			defer s.background.Done()
			defer s.extending.Store(false)
			if err := s.ensurePartitions(context.Background(), s.partitionSpan/2); err != nil {
				s.log.Warn("could not create the next partition of events; ingestion creates it when it needs it", "err", err)
			}
		}()
	}
	return res, err
}

// detachedPartition is a partition retention is dropping (a row of
// event_partition_drops): through is the last id whose dedupe key and
// behaviour counts are already gone.
type detachedPartition struct {
	name    string
	through int64
}

// pendingDrops lists the partitions a retention run began to drop.
func pendingDrops(ctx context.Context, q Querier) ([]detachedPartition, error) {
	rows, err := q.QueryContext(ctx, "SELECT name, through FROM event_partition_drops ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("read the partitions being dropped: %w", err)
	}
	defer rows.Close()
	var out []detachedPartition
	for rows.Next() {
		var d detachedPartition
		if err := rows.Scan(&d.name, &d.through); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// dropPartition drops a partition of events whole: it records the drop,
// detaches the partition (CONCURRENTLY, outside a transaction: ingestion
// and reads go on), then finishes it (finishDrop). A server stopped in
// between leaves the row in event_partition_drops, and the next run
// finishes it.
func (s *Store) dropPartition(ctx context.Context, conn *sql.Conn, p eventPartition, st *DropStats) error {
	if _, err := conn.ExecContext(ctx, "INSERT INTO event_partition_drops (name, through) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
		p.name, math.MinInt64); err != nil {
		return fmt.Errorf("record the drop of partition %s: %w", p.name, err)
	}
	return s.finishDrop(ctx, conn, detachedPartition{name: p.name, through: math.MinInt64}, st)
}

// finishDrop completes the drop of a partition: the detach if it is still
// attached (or was left half detached), then in chunks of ids the events'
// dedupe keys (by a join on the detached table's dedupe_key: a message
// stays deduplicated until its event is gone from events, and a little
// longer) and their behaviour counts, then the table.
func (s *Store) finishDrop(ctx context.Context, conn *sql.Conn, d detachedPartition, st *DropStats) error {
	var pending sql.NullBool
	if err := conn.QueryRowContext(ctx, "SELECT inhdetachpending FROM pg_inherits WHERE inhrelid = to_regclass($1) AND inhparent = 'events'::regclass",
		d.name).Scan(&pending); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("find partition %s: %w", d.name, err)
	}
	if pending.Valid {
		stmt := "ALTER TABLE events DETACH PARTITION " + d.name + " CONCURRENTLY"
		if pending.Bool {
			stmt = "ALTER TABLE events DETACH PARTITION " + d.name + " FINALIZE"
		}
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("detach partition %s of events: %w", d.name, err)
		}
	}
	for {
		n, more, err := s.forgetChunk(ctx, conn, d.name)
		if err != nil {
			return err
		}
		st.Events += n
		if !more {
			break
		}
	}
	var through sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT MAX(id) FROM "+d.name).Scan(&through); err != nil {
		return fmt.Errorf("read partition %s: %w", d.name, err)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := tx.ExecContext(ctx, "DROP TABLE "+d.name); err != nil {
		return fmt.Errorf("drop partition %s: %w", d.name, err)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM event_partition_drops WHERE name = $1", d.name); err != nil {
		return fmt.Errorf("record the drop of partition %s: %w", d.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("drop partition %s: %w", d.name, err)
	}
	st.Partitions++
	st.Through = max(st.Through, through.Int64)
	return nil
}

// forgetChunk deletes the dedupe keys of the next dropChunk ids of a
// detached partition and takes them out of the behaviour counts, in one
// transaction with the progress it records; it returns the events it
// covered and whether ids remain.
func (s *Store) forgetChunk(ctx context.Context, conn *sql.Conn, table string) (int64, bool, error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return 0, false, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	var through int64
	if err := tx.QueryRowContext(ctx, "SELECT through FROM event_partition_drops WHERE name = $1 FOR UPDATE", table).Scan(&through); err != nil {
		return 0, false, fmt.Errorf("read the drop of partition %s: %w", table, err)
	}
	var from sql.NullInt64
	if err := tx.QueryRowContext(ctx, "SELECT MIN(id) FROM "+table+" WHERE id > $1", through).Scan(&from); err != nil {
		return 0, false, fmt.Errorf("read partition %s: %w", table, err)
	}
	if !from.Valid {
		return 0, false, nil
	}
	to := from.Int64 + dropChunk - 1
	if err := s.uncountBehavioursTx(ctx, tx, table, from.Int64, to); err != nil {
		return 0, false, err
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM message_keys WHERE key IN (SELECT dedupe_key FROM "+table+" WHERE id BETWEEN $1 AND $2)",
		from.Int64, to); err != nil {
		return 0, false, fmt.Errorf("drop dedupe keys of partition %s: %w", table, err)
	}
	var n int64
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table+" WHERE id BETWEEN $1 AND $2", from.Int64, to).Scan(&n); err != nil {
		return 0, false, fmt.Errorf("read partition %s: %w", table, err)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE event_partition_drops SET through = $1 WHERE name = $2", to, table); err != nil {
		return 0, false, fmt.Errorf("record the drop of partition %s: %w", table, err)
	}
	return n, true, tx.Commit()
}

// EnsureEventPartitions creates, on PostgreSQL, the partitions of events
// for the next n ids the sequence gives. Ingest needs none of it: it is
// for code that inserts events with its own statements (the benchmarks'
// seeding of millions of rows).
func (s *Store) EnsureEventPartitions(ctx context.Context, n int64) error {
	return s.ensurePartitions(ctx, n+s.partitionSpan/2)
}
