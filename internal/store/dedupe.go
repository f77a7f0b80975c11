package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
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
//   - older keys are in runs (dedupe_runs): each merge writes the pending
//     keys, sorted, as a new run of blocks of up to runBlockKeys keys, one
//     row per block, appended after every earlier run. A merge therefore
//     writes about 16 bytes per key, sequentially, whatever the size of the
//     database; the unique index it replaces (message_keys) had every merge
//     insert each key into a B-tree holding all earlier keys, and that
//     merge was a fifth of ingestion's CPU on a 1-million-event database;
//   - each run has a Bloom filter in memory (rebuilt from the runs at
//     start-up): a key that no filter may hold is new without reading the
//     database. A key that a filter may hold (a duplicate, or about one new
//     key in a thousand per run) is looked up in that run's one block that
//     could hold it. Deduplication stays exact: a filter only decides
//     whether to look.
//
// A crash during a merge loses nothing: dedupe_merged_through moves in the
// merge's last transaction, and the blocks of a run past it (a merge cut
// short) are deleted at start-up while its keys are still pending.
type dedupe struct {
	pending map[[16]byte]int64 // key → event id
	// order holds the pending keys in the order they were committed, for
	// the merge.
	order []pendingKey
	// sortSlice and chunk are mergeSortSlice and the keys of a merge
	// transaction (mergeBlocks blocks); tests lower them.
	sortSlice, chunk int
	mergedThrough    int64
	mergeEvery       int
	// runs are the merged runs, oldest first.
	runs []keyRun
}

// pendingKey is a pending key and its event's id.
type pendingKey struct {
	key [16]byte
	id  int64
}

// keyRun is one run of merged keys: id is the last event id whose key it
// holds (dedupe_runs.run).
type keyRun struct {
	id     int64
	filter bloom
}

// mergeSortSlice is the keys a step of a merge sorts, or drops from the
// pending set once merged (a few milliseconds).
const mergeSortSlice = 16_384

// defaultMergeEvery bounds the memory of pending keys (about 50 bytes each).
const defaultMergeEvery = 250_000

// runBlockKeys is the keys in one block of a run: 4,000 bytes, so that a
// block row fits a 4 KiB page without overflow pages.
const runBlockKeys = 250

// mergeBlocks is the blocks one merge transaction writes (about 160 KB):
// ingestion commits between them, so it waits a few milliseconds at most.
const mergeBlocks = 40

const (
	lookupRunSQL = "SELECT keys FROM dedupe_runs WHERE run = $1 AND last_key >= $2 ORDER BY last_key LIMIT 1"
	runBlockSQL  = "SELECT last_key, keys FROM dedupe_runs WHERE run = $1 AND last_key >= $2 ORDER BY last_key LIMIT 1"
)

// insertRunSQL writes n blocks of a run.
func (s *Store) insertRunSQL(n int) string {
	return s.dialect.rows("INSERT INTO dedupe_runs (run, last_key, keys) VALUES ", n, 3, "")
}

func (w *writer) loadDedupe(ctx context.Context) error {
	d := &dedupe{pending: map[[16]byte]int64{}, mergeEvery: w.s.mergeEvery, sortSlice: mergeSortSlice,
		chunk: mergeBlocks * runBlockKeys}
	if d.mergeEvery <= 0 {
		d.mergeEvery = defaultMergeEvery
	}
	db := w.s.write
	err := db.QueryRowContext(ctx, "SELECT value FROM store_meta WHERE name = 'dedupe_merged_through'").Scan(&d.mergedThrough)
	if err != nil {
		return fmt.Errorf("read dedupe state: %w", err)
	}
	// The blocks of a merge that did not finish: their keys are pending.
	if _, err := db.ExecContext(ctx, "DELETE FROM dedupe_runs WHERE run > $1", d.mergedThrough); err != nil {
		return fmt.Errorf("clear an unfinished dedupe merge: %w", err)
	}
	if err := w.convertMessageKeys(ctx, d.mergedThrough); err != nil {
		return err
	}
	if err := d.loadRuns(ctx, db); err != nil {
		return err
	}
	rows, err := db.QueryContext(ctx, "SELECT id, dedupe_key FROM events WHERE id > $1 ORDER BY id", d.mergedThrough)
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
		d.order = append(d.order, pendingKey{[16]byte(key), id})
	}
	w.dedupe = d
	return rows.Err()
}

// loadRuns builds every run's filter from its blocks.
func (d *dedupe) loadRuns(ctx context.Context, db *sql.DB) error {
	sizes := map[int64]int{}
	rows, err := db.QueryContext(ctx, "SELECT run, SUM(length(keys)) / 16 FROM dedupe_runs GROUP BY run ORDER BY run")
	if err != nil {
		return fmt.Errorf("read dedupe runs: %w", err)
	}
	for rows.Next() {
		var (
			id int64
			n  int
		)
		if err := rows.Scan(&id, &n); err != nil {
			rows.Close()
			return err
		}
		sizes[id] = n
		d.runs = append(d.runs, keyRun{id: id, filter: newBloom(n)})
	}
	if err := closeRows(rows); err != nil {
		return err
	}
	rows, err = db.QueryContext(ctx, "SELECT run, keys FROM dedupe_runs ORDER BY run")
	if err != nil {
		return fmt.Errorf("read dedupe runs: %w", err)
	}
	defer rows.Close()
	i := -1
	for rows.Next() {
		var (
			id   int64
			keys []byte
		)
		if err := rows.Scan(&id, &keys); err != nil {
			return err
		}
		for i < 0 || d.runs[i].id != id {
			i++
		}
		for j := 0; j+16 <= len(keys); j += 16 {
			d.runs[i].filter.add([16]byte(keys[j : j+16]))
		}
	}
	return rows.Err()
}

// convertMessageKeys moves the keys of a database written before runs
// existed from message_keys into one run, once.
func (w *writer) convertMessageKeys(ctx context.Context, through int64) error {
	var any int
	if err := w.s.write.QueryRowContext(ctx, "SELECT COUNT(*) FROM (SELECT 1 FROM message_keys LIMIT 1)").Scan(&any); err != nil {
		return fmt.Errorf("read message keys: %w", err)
	}
	if any == 0 {
		return nil
	}
	tx, err := w.s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	keys, err := readKeys(ctx, tx, "SELECT key FROM message_keys ORDER BY key")
	if err != nil {
		return fmt.Errorf("read message keys: %w", err)
	}
	for start := 0; start < len(keys); start += mergeBlocks * runBlockKeys {
		if err := w.writeBlocks(ctx, tx, through, keys[start:min(start+mergeBlocks*runBlockKeys, len(keys))]); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM message_keys"); err != nil {
		return fmt.Errorf("convert message keys: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("convert message keys: %w", err)
	}
	w.s.log.Info("dedupe keys converted to a run", "keys", len(keys))
	return nil
}

// readKeys reads a column of 16-byte keys.
func readKeys(ctx context.Context, tx *sql.Tx, query string, args ...any) ([][16]byte, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var keys [][16]byte
	for rows.Next() {
		var k []byte
		if err := rows.Scan(&k); err != nil {
			rows.Close()
			return nil, err
		}
		keys = append(keys, [16]byte(k))
	}
	return keys, closeRows(rows)
}

// known returns which of keys were already stored.
func (d *dedupe) known(ctx context.Context, b *ingestBatch, keys [][]byte) (map[string]bool, error) {
	known := map[string]bool{}
	for _, k := range keys {
		key := [16]byte(k)
		if _, ok := d.pending[key]; ok {
			known[string(k)] = true
			continue
		}
		for i := len(d.runs) - 1; i >= 0; i-- {
			if !d.runs[i].filter.has(key) {
				continue
			}
			in, err := b.inRun(ctx, d.runs[i].id, k)
			if err != nil {
				return nil, err
			}
			if in {
				known[string(k)] = true
				break
			}
		}
	}
	return known, nil
}

// inRun reads the one block of a run that could hold key.
func (b *ingestBatch) inRun(ctx context.Context, run int64, key []byte) (bool, error) {
	var block []byte
	err := b.tx.StmtContext(ctx, b.w.stmts[lookupRunSQL]).QueryRowContext(ctx, run, key).Scan(&block)
	if err == sql.ErrNoRows {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up a message key: %w", err)
	}
	return blockHas(block, key), nil
}

// blockHas searches a block's sorted keys.
func blockHas(block, key []byte) bool {
	n := len(block) / 16
	i := sort.Search(n, func(i int) bool { return bytes.Compare(block[i*16:i*16+16], key) >= 0 })
	return i < n && bytes.Equal(block[i*16:i*16+16], key)
}

// add records the keys of committed events.
func (d *dedupe) add(keys [][]byte, rows []Event) {
	for i, k := range keys {
		d.pending[[16]byte(k)] = rows[i].ID
		d.order = append(d.order, pendingKey{[16]byte(k), rows[i].ID})
	}
}

// drop forgets the pending keys of events up to id through (retention
// dropped them).
func (d *dedupe) drop(through int64) {
	for k, id := range d.pending {
		if id <= through {
			delete(d.pending, k)
		}
	}
	d.order = slices.DeleteFunc(d.order, func(k pendingKey) bool { return k.id <= through })
}

// mergeDedupe writes the pending keys as a new run once there are enough
// of them, in steps (merge_steps.go) with the requests that arrive
// meanwhile committed between them: sorting a slice of keys, writing one
// transaction's blocks, dropping a slice of merged keys from the pending
// set. Sorting a quarter of a million keys at once held acknowledgements
// for tens of milliseconds.
func (w *writer) mergeDedupe(ctx context.Context) error {
	d := w.dedupe
	if d == nil || len(d.pending) < d.mergeEvery {
		return nil
	}
	w.startSteps()
	// The keys in commit order are exactly the pending ones: taken whole,
	// no iteration over the pending set.
	order := d.order
	if len(order) == 0 {
		return nil
	}
	d.order = nil
	through := order[len(order)-1].id
	run := keyRun{id: through, filter: newBloom(len(order))}
	var sorted [][][16]byte
	for start := 0; start < len(order); start += d.sortSlice {
		slice := make([][16]byte, 0, min(d.sortSlice, len(order)-start))
		for _, k := range order[start:min(start+d.sortSlice, len(order))] {
			slice = append(slice, k.key)
			run.filter.add(k.key)
		}
		slices.SortFunc(slice, compareKeys)
		sorted = append(sorted, slice)
		w.step(HeldByDedupe, len(slice))
	}
	runs := &sortedRuns[[16]byte]{runs: sorted, cmp: compareKeys}
	for {
		chunk := runs.next(d.chunk)
		if len(chunk) == 0 {
			break
		}
		if err := w.mergeChunk(ctx, through, chunk, runs.empty()); err != nil {
			d.order = append(order, d.order...) // still pending; the next commit retries
			return err
		}
		w.step(HeldByDedupe, len(chunk))
	}
	d.runs = append(d.runs, run)
	// The merged keys leave the pending set a slice at a time. A key still
	// pending and already in a run is found twice, which changes no answer.
	for start := 0; start < len(order); start += d.sortSlice {
		end := min(start+d.sortSlice, len(order))
		for _, k := range order[start:end] {
			if d.pending[k.key] <= through {
				delete(d.pending, k.key)
			}
		}
		w.step(HeldByDedupe, end-start)
	}
	d.mergedThrough = through
	w.s.log.Info("dedupe keys merged", "keys", len(order), "through_event", through, "runs", len(d.runs))
	return nil
}

func compareKeys(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) }

// mergeChunk writes sorted keys as blocks of run through; the last chunk
// also records the merge.
func (w *writer) mergeChunk(ctx context.Context, through int64, keys [][16]byte, last bool) error {
	w.s.stages.yield() // listened events go first (fastlane.go)
	tx, end, err := w.beginMerge(ctx)
	if err != nil {
		return err
	}
	defer end()
	if err := w.writeBlocks(ctx, tx, through, keys); err != nil {
		return err
	}
	if last {
		if _, err := tx.ExecContext(ctx,
			"UPDATE store_meta SET value = $1 WHERE name = 'dedupe_merged_through'", through); err != nil {
			return fmt.Errorf("record dedupe merge: %w", err)
		}
	}
	return tx.Commit()
}

// writeBlocks writes at most mergeBlocks blocks of sorted keys to a run.
func (w *writer) writeBlocks(ctx context.Context, tx *sql.Tx, run int64, keys [][16]byte) error {
	n := (len(keys) + runBlockKeys - 1) / runBlockKeys
	args := make([]any, 0, 3*n)
	for start := 0; start < len(keys); start += runBlockKeys {
		end := min(start+runBlockKeys, len(keys))
		block := make([]byte, 0, 16*(end-start))
		for _, k := range keys[start:end] {
			block = append(block, k[:]...)
		}
		last := keys[end-1]
		args = append(args, run, last[:], block)
	}
	if err := w.exec(ctx, tx, w.s.insertRunSQL(n), args...); err != nil {
		return fmt.Errorf("merge dedupe keys: %w", err)
	}
	return nil
}

// exec runs query in tx, prepared when it is one of the prepared
// statements (a merge's full chunk).
func (w *writer) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) error {
	var err error
	if st, ok := w.stmts[query]; ok {
		_, err = tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	} else {
		_, err = tx.ExecContext(ctx, query, args...)
	}
	return err
}

// dropMergedKeys removes the keys of the events with ids lo to hi from the
// runs, in the retention transaction tx: a message re-sent after its event
// was dropped is stored again. A run's filter keeps the dropped keys' bits,
// which costs at most a needless look-up.
func (w *writer) dropMergedKeys(ctx context.Context, tx *sql.Tx, lo, hi int64) error {
	d := w.dedupe
	if d == nil || lo > d.mergedThrough || len(d.runs) == 0 {
		return nil
	}
	keys, err := readKeys(ctx, tx, "SELECT dedupe_key FROM events WHERE id BETWEEN $1 AND $2", lo, min(hi, d.mergedThrough))
	if err != nil {
		return fmt.Errorf("read dropped events' dedupe keys: %w", err)
	}
	slices.SortFunc(keys, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
	for _, r := range d.runs {
		var in [][16]byte
		for _, k := range keys {
			if r.filter.has(k) {
				in = append(in, k)
			}
		}
		for len(in) > 0 {
			// The block that could hold in[0], and every other key it could
			// hold with it.
			var last, block []byte
			err := tx.QueryRowContext(ctx, runBlockSQL, r.id, in[0][:]).Scan(&last, &block)
			if err == sql.ErrNoRows {
				break // past the run's last key
			}
			if err != nil {
				return fmt.Errorf("read a dedupe block: %w", err)
			}
			n := sort.Search(len(in), func(i int) bool { return bytes.Compare(in[i][:], last) > 0 })
			kept := block[:0:0]
			for j := 0; j+16 <= len(block); j += 16 {
				k := [16]byte(block[j : j+16])
				if _, drop := slices.BinarySearchFunc(in[:n], k, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) }); !drop {
					kept = append(kept, k[:]...)
				}
			}
			switch {
			case len(kept) == len(block):
			case len(kept) == 0:
				_, err = tx.ExecContext(ctx, "DELETE FROM dedupe_runs WHERE run = $1 AND last_key = $2", r.id, last)
			default:
				// The block keeps its last_key as the bound of the keys it
				// may hold, even if that key itself was dropped.
				_, err = tx.ExecContext(ctx, "UPDATE dedupe_runs SET keys = $1 WHERE run = $2 AND last_key = $3", kept, r.id, last)
			}
			if err != nil {
				return fmt.Errorf("drop dedupe keys: %w", err)
			}
			in = in[n:]
		}
	}
	return nil
}

// bloom is a blocked Bloom filter over dedupe keys: each key sets
// bloomProbes bits within one 512-bit block (one cache line), so a test
// costs one memory access. Keys are halves of SHA-256 digests, so their
// bytes serve as the hash: the first 8 pick the block, the last 8 the bits.
type bloom []uint64

// bloomBitsPerKey and bloomProbes give about one false positive in 1,000.
const (
	bloomBitsPerKey = 16
	bloomProbes     = 7
)

func newBloom(keys int) bloom {
	blocks := max(1, (keys*bloomBitsPerKey+511)/512)
	return make(bloom, 8*blocks)
}

func (f bloom) block(k [16]byte) []uint64 {
	i := binary.LittleEndian.Uint64(k[:8]) % uint64(len(f)/8)
	return f[8*i : 8*i+8]
}

func (f bloom) add(k [16]byte) {
	b, h := f.block(k), binary.LittleEndian.Uint64(k[8:])
	for range bloomProbes {
		bit := h & 511
		b[bit>>6] |= 1 << (bit & 63)
		h >>= 9
	}
}

func (f bloom) has(k [16]byte) bool {
	b, h := f.block(k), binary.LittleEndian.Uint64(k[8:])
	for range bloomProbes {
		bit := h & 511
		if b[bit>>6]&(1<<(bit&63)) == 0 {
			return false
		}
		h >>= 9
	}
	return true
}
