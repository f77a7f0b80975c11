package store

import (
	"bytes"
	"context"
	"fmt"
	"slices"
)

// dedupe is SQLite's exact deduplication set, built like a small LSM tree.
//
// Segment SDKs send random UUIDv4 messageIds, so a unique index written per
// event dirties one random B-tree page per event: on a database of millions
// of events each event then costs a 4 KiB page in the WAL, which capped
// ingestion near 20k events/s. Instead:
//
//   - every event row carries its 16-byte dedupe key (events.dedupe_key);
//   - the keys of events newer than store_meta.dedupe_merged_through are
//     held in memory (pending), rebuilt from the events table at start-up,
//     so they are as durable as the events themselves;
//   - older keys are in message_keys, which ingestion only reads;
//   - when pending grows past mergeEvery keys, the committer merges them
//     into message_keys in sorted order, in chunks between ingestion
//     commits, and then advances dedupe_merged_through. Sorted runs touch
//     each index page once per merge instead of once per event.
//
// A crash during a merge loses nothing: dedupe_merged_through moves only
// after every chunk is committed, and re-inserting a merged key is a no-op.
type dedupe struct {
	pending       map[[16]byte]int64 // key → event id
	mergedThrough int64
	mergeEvery    int
}

// defaultMergeEvery bounds the memory of pending keys (about 50 bytes each).
const defaultMergeEvery = 250_000

// mergeChunk is the keys per merge transaction: small enough that ingestion
// waits at most a few milliseconds between chunks.
const mergeChunk = 5000

func (w *writer) loadDedupe(ctx context.Context) error {
	d := &dedupe{pending: map[[16]byte]int64{}, mergeEvery: w.s.mergeEvery}
	if d.mergeEvery <= 0 {
		d.mergeEvery = defaultMergeEvery
	}
	err := w.s.write.QueryRowContext(ctx, "SELECT value FROM store_meta WHERE name = 'dedupe_merged_through'").Scan(&d.mergedThrough)
	if err != nil {
		return fmt.Errorf("read dedupe state: %w", err)
	}
	rows, err := w.s.write.QueryContext(ctx, "SELECT id, dedupe_key FROM events WHERE id > $1", d.mergedThrough)
	if err != nil {
		return fmt.Errorf("load recent dedupe keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id  int64
			key []byte
		)
		if err := rows.Scan(&id, &key); err != nil {
			return err
		}
		d.pending[[16]byte(key)] = id
	}
	w.dedupe = d
	return rows.Err()
}

// known returns which of keys were already stored.
func (d *dedupe) known(ctx context.Context, b *ingestBatch, keys [][]byte) (map[string]bool, error) {
	known := map[string]bool{}
	var ask [][]byte
	for _, k := range keys {
		if _, ok := d.pending[[16]byte(k)]; ok {
			known[string(k)] = true
			continue
		}
		ask = append(ask, k)
	}
	for start := 0; start < len(ask); start += keyChunk {
		end := min(start+keyChunk, len(ask))
		args := make([]any, 0, end-start)
		for _, k := range ask[start:end] {
			args = append(args, k)
		}
		rows, err := b.query(ctx, b.s.lookupKeysSQL(end-start), args...)
		if err != nil {
			return nil, fmt.Errorf("look up message keys: %w", err)
		}
		for rows.Next() {
			var k []byte
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return nil, err
			}
			known[string(k)] = true
		}
		if err := closeRows(rows); err != nil {
			return nil, err
		}
	}
	return known, nil
}

// add records the keys of committed events.
func (d *dedupe) add(keys [][]byte, rows []Event) {
	for i, k := range keys {
		d.pending[[16]byte(k)] = rows[i].ID
	}
}

// mergeDedupe moves pending keys into message_keys once there are enough of
// them. Ingestion requests that arrive meanwhile are committed between
// chunks.
func (w *writer) mergeDedupe(ctx context.Context) error {
	d := w.dedupe
	if d == nil || len(d.pending) < d.mergeEvery {
		return nil
	}
	var through int64
	keys := make([][16]byte, 0, len(d.pending))
	for k, id := range d.pending {
		keys = append(keys, k)
		through = max(through, id)
	}
	slices.SortFunc(keys, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
	for start := 0; start < len(keys); start += mergeChunk {
		end := min(start+mergeChunk, len(keys))
		if err := w.mergeChunk(ctx, keys[start:end]); err != nil {
			return err
		}
		select {
		case r := <-w.reqs:
			w.commitGroup(w.gather(r))
		default:
		}
	}
	if _, err := w.s.write.ExecContext(ctx,
		"UPDATE store_meta SET value = $1 WHERE name = 'dedupe_merged_through'", through); err != nil {
		return fmt.Errorf("record dedupe merge: %w", err)
	}
	for _, k := range keys {
		if d.pending[k] <= through {
			delete(d.pending, k)
		}
	}
	d.mergedThrough = through
	w.s.log.Info("dedupe keys merged", "keys", len(keys), "through_event", through)
	return nil
}

func (w *writer) mergeChunk(ctx context.Context, keys [][16]byte) error {
	tx, err := w.s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	for start := 0; start < len(keys); start += keyChunk {
		end := min(start+keyChunk, len(keys))
		args := make([]any, 0, end-start)
		for _, k := range keys[start:end] {
			args = append(args, k[:])
		}
		q := w.s.mergeKeysSQL(end - start)
		if st, ok := w.stmts[q]; ok {
			_, err = tx.StmtContext(ctx, st).ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, q, args...)
		}
		if err != nil {
			return fmt.Errorf("merge dedupe keys: %w", err)
		}
	}
	return tx.Commit()
}
