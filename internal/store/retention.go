package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"
)

// Retention. Raw events may be kept for a limited time (moments serve
// --event-retention). Old events are dropped in whole ranges of ids, oldest
// first: ids follow arrival order, so a range of ids is a range of time,
// never row by row on a timestamp.
//
// On SQLite a range is deleted, `id BETWEEN lo AND hi` along the rowid,
// each range in its own short transaction, so ingestion waits at most one
// range. On PostgreSQL events is partitioned by ranges of ids
// (partitions.go) and a partition is dropped whole once every event in
// it may go: detached, its dedupe keys and behaviour counts taken out,
// then dropped. Only the table an upgrade attached as the first partition
// (events_legacy, ids from MINVALUE) has its ranges deleted as on SQLite
// until all of it may go.
//
// What the stages derive from events (health, its bases and daily history,
// moment analytics, scorecards' day cells) lives in its own tables and is
// kept. The behaviour counts (behaviour_blocks) are the exception: they
// stand for the events themselves, so the drivers report reads the same
// counts from them as from the events kept, and a range's events are
// taken out of them in the transaction that drops the range (for a
// partition, in the chunks that follow its detach). Deduplication holds
// for as long as an event is kept: a range's dedupe keys go with its
// events (message_keys on PostgreSQL, the dedupe runs on SQLite:
// dedupe.go), so a message re-sent after its event was dropped is stored
// again.

// dropChunk is the ids one retention transaction deletes.
const dropChunk = 20_000

// DropStats is what DropEventsBefore dropped.
type DropStats struct {
	// Events is how many events were deleted.
	Events int64
	// Through is the highest event id dropped (0: none).
	Through int64
	// Ranges is how many id ranges (transactions) it deleted.
	Ranges int
	// Partitions is how many partitions of events it dropped whole
	// (PostgreSQL).
	Partitions int
}

// DropEventsBefore drops the oldest events, received before cutoff: on
// SQLite the longest run of ids, from the oldest, whose events were all
// received before cutoff, in ranges; on PostgreSQL the partitions, from
// the oldest, whose newest event was received before cutoff. Never the
// newest event on SQLite (see below), never an event the ingest stages have not consumed yet (ingest_progress), nor one
// the daily health recompute has not folded into the accounts' health
// bases, nor one a reattribution still waits to hand to the stages.
func (s *Store) DropEventsBefore(ctx context.Context, cutoff time.Time) (DropStats, error) {
	var st DropStats
	limit, err := s.dropLimit(ctx)
	if err != nil {
		return st, err
	}
	if !s.dialect.embedded() {
		return st, s.dropPartitionsBefore(ctx, cutoff, limit, &st)
	}
	// SQLite gives a new row the id after the largest one present, so
	// the newest event is never dropped: were the table emptied, ids would
	// start again from 1, below the stages' progress, and the events after
	// would never reach them.
	var lo, hi sql.NullInt64
	if err := s.read.QueryRowContext(ctx, "SELECT MIN(id), MAX(id) FROM events").Scan(&lo, &hi); err != nil {
		return st, fmt.Errorf("find the oldest event: %w", err)
	}
	if !lo.Valid {
		return st, nil
	}
	return st, s.dropRanges(ctx, cutoff, lo.Int64, min(limit, hi.Int64-1), &st)
}

// dropRanges deletes the events with ids from `from` to limit received
// before cutoff, range by range, up to the first one received after it.
func (s *Store) dropRanges(ctx context.Context, cutoff time.Time, from, limit int64, st *DropStats) error {
	at := micros(cutoff)
	for from <= limit {
		to := min(from+dropChunk-1, limit)
		// The first event of the range received at or after the cutoff
		// ends the drop: ids before it are all older.
		var newer sql.NullInt64
		if err := s.read.QueryRowContext(ctx, "SELECT MIN(id) FROM events WHERE id BETWEEN $1 AND $2 AND received_at >= $3",
			from, to, at).Scan(&newer); err != nil {
			return fmt.Errorf("find events to keep: %w", err)
		}
		last := to
		if newer.Valid {
			last = newer.Int64 - 1
		}
		if last >= from {
			n, err := s.dropRange(ctx, from, last)
			if err != nil {
				return err
			}
			st.Events += n
			st.Through = last
			st.Ranges++
		}
		if newer.Valid {
			break
		}
		from = to + 1
	}
	return nil
}

// dropPartitionsBefore is DropEventsBefore on PostgreSQL. It first
// creates the partitions the sequence will soon need and finishes the
// drops a stopped server left, then drops, oldest first, each partition
// whose highest id is within limit and whose newest event (its highest
// id: ids follow arrival order) was received before cutoff. One server
// drops at a time (a session advisory lock; the others skip the run).
func (s *Store) dropPartitionsBefore(ctx context.Context, cutoff time.Time, limit int64, st *DropStats) error {
	if err := s.ensurePartitions(ctx, s.partitionSpan/2); err != nil {
		return err
	}
	conn, err := s.write.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var locked bool
	if err := conn.QueryRowContext(ctx, "SELECT "+retentionLock).Scan(&locked); err != nil {
		return fmt.Errorf("lock retention: %w", err)
	}
	if !locked {
		return nil
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT "+retentionUnlock) //nolint:errcheck // the lock goes with the session anyway
	pending, err := pendingDrops(ctx, conn)
	if err != nil {
		return err
	}
	for _, d := range pending {
		if err := s.finishDrop(ctx, conn, d, st); err != nil {
			return err
		}
	}
	parts, err := eventPartitions(ctx, conn)
	if err != nil {
		return err
	}
	at := micros(cutoff)
	for _, p := range parts {
		var newest sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT MAX(received_at) FROM (SELECT received_at FROM "+p.name+" ORDER BY id DESC LIMIT 1) x").
			Scan(&newest); err != nil {
			return fmt.Errorf("read partition %s: %w", p.name, err)
		}
		if p.hi-1 > limit || newest.Int64 >= at {
			if p.lo == math.MinInt64 {
				// The table an upgrade attached: its ranges go as on
				// SQLite until all of it may go.
				var lo sql.NullInt64
				if err := conn.QueryRowContext(ctx, "SELECT MIN(id) FROM "+p.name).Scan(&lo); err != nil {
					return fmt.Errorf("read partition %s: %w", p.name, err)
				}
				if lo.Valid {
					return s.dropRanges(ctx, cutoff, lo.Int64, min(limit, p.hi-1), st)
				}
			}
			return nil
		}
		if err := s.dropPartition(ctx, conn, p, st); err != nil {
			return err
		}
	}
	return nil
}

// dropLimit is the highest id retention may drop: consumed by the ingest
// stages, folded into every account's health base by a completed daily
// recompute (a later recompute reads only the events after an account's
// base) and older than every queued reattribution. Before the first
// recompute completes nothing is dropped.
func (s *Store) dropLimit(ctx context.Context) (int64, error) {
	var consumed, bases sql.NullInt64
	var queued sql.NullInt64
	err := s.read.QueryRowContext(ctx, "SELECT "+stagesFloorSQL+","+
		" (SELECT last_event_id FROM ingest_progress WHERE name = $1), (SELECT MIN(event_id) FROM reattributed_events)",
		healthBasesProgress).Scan(&consumed, &bases, &queued)
	if err != nil {
		return 0, fmt.Errorf("read the ingest stages' progress: %w", err)
	}
	limit := min(consumed.Int64, bases.Int64)
	if queued.Valid {
		limit = min(limit, queued.Int64-1)
	}
	return limit, nil
}

// dropRange deletes the events with ids from lo to hi and their dedupe
// keys in one transaction. On SQLite it runs in the committer, which owns
// the in-memory keys of recent events, and forgets those too.
func (s *Store) dropRange(ctx context.Context, lo, hi int64) (int64, error) {
	var n int64
	drop := func() error {
		tx, err := s.write.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback() //nolint:errcheck // a no-op after Commit
		if err := s.uncountBehavioursTx(ctx, tx, "events", lo, hi); err != nil {
			return err
		}
		if s.dialect.embedded() {
			if err := s.writer.dropMergedKeys(ctx, tx, lo, hi); err != nil {
				return fmt.Errorf("drop dedupe keys of events %d-%d: %w", lo, hi, err)
			}
		} else if _, err := tx.ExecContext(ctx, "DELETE FROM message_keys WHERE key IN (SELECT dedupe_key FROM events WHERE id BETWEEN $1 AND $2)",
			lo, hi); err != nil {
			return fmt.Errorf("drop dedupe keys of events %d-%d: %w", lo, hi, err)
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM events WHERE id BETWEEN $1 AND $2", lo, hi)
		if err != nil {
			return fmt.Errorf("drop events %d-%d: %w", lo, hi, err)
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		return tx.Commit()
	}
	if !s.dialect.embedded() {
		return n, drop()
	}
	err := s.writer.do(ctx, func() error {
		if err := drop(); err != nil {
			return err
		}
		if d := s.writer.dedupe; d != nil && hi > d.mergedThrough {
			d.drop(hi)
		}
		return nil
	})
	return n, err
}

// do runs f in the committer, between ingestion transactions.
func (w *writer) do(ctx context.Context, f func() error) error {
	done := make(chan error, 1)
	select {
	case w.ctl <- func() { done <- f() }:
	case <-ctx.Done():
		return ctx.Err()
	case <-w.quit:
		return ErrClosed
	}
	select {
	case err := <-done:
		return err
	case <-w.exited:
		select {
		case err := <-done:
			return err
		default:
			return ErrClosed
		}
	}
}
