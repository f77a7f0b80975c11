package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/moments-cs/moments/internal/vocab"
)

// Behaviour counts. The drivers report counts, per account, the events of
// each name in a window before each outcome. Rather than reading every
// event of the window, it reads behaviour_blocks: per account, per event
// name and per UTC day, how many track, page and screen events it sent.
// A row holds one account's counts for one block of blockDays days.
//
// Which events the blocks count. The ingest stages add every batch of
// events they consume, in the transaction that records their progress
// (ingest_progress), so an event is counted exactly once, under the
// account it had when consumed. An event consumed without an account and
// linked to one later is counted when the stages hand its reattribution
// over. Retention subtracts the events it drops in the transaction that
// drops them. Events stored before the blocks existed (ids up to
// behaviour_backfill.boundary) are added by the backfill in chunks, in id
// order, up to behaviour_backfill.through; the stages leave those ids to
// it. So an event is counted in the blocks unless it is
//   - after the stages' progress (not consumed yet),
//   - waiting in reattributed_events (its account came later), or
//   - between the backfill's through and boundary (not filled yet),
// and a read adds exactly those from the events table, in the same
// snapshot: the counts equal a count of the events as they are stored.

// blockDays is the days per behaviour_blocks row.
const blockDays = 32

// behaviourBackfillChunk is the event ids one backfill transaction reads.
const behaviourBackfillChunk = 20_000

// dayOfMicros is dayOf of a stored time.
func dayOfMicros(us int64) int64 {
	d := us / dayMicros
	if us%dayMicros < 0 {
		d--
	}
	return d
}

// blockOf splits a day into its block and the day within the block.
func blockOf(day int64) (block int64, off int64) {
	block = day / blockDays
	if day%blockDays < 0 {
		block--
	}
	return block, day - block*blockDays
}

// counted says whether an event is one the blocks count: a track, page or
// screen call on an account, other than the milestones Moments records
// itself (which the stages never see).
func counted(typ, account, writeKey, name string) bool {
	return account != "" && (typ == "track" || typ == "page" || typ == "screen") && !recordedByStages(writeKey, name)
}

// countedSQL is counted as a condition on the events table.
const countedSQL = `account_id <> '' AND type IN ('track', 'page', 'screen') AND NOT (write_key_id = '` + SystemWriteKey +
	`' AND name = '` + vocab.EventMilestoneReached + `')`

// dayKey is one account's events of one name on one day.
type dayKey struct {
	account string
	day     int64
	name    string
}

// behaviourDelta is counts to add to (or, negative, take from) the
// blocks.
type behaviourDelta map[dayKey]int64

func (d behaviourDelta) add(account, name string, ts time.Time, n int64) {
	d[dayKey{account, dayOf(ts), name}] += n
}

// backfillState is the row of behaviour_backfill.
type backfillState struct{ through, boundary int64 }

// pending says whether the backfill still has to add event id.
func (b backfillState) pending(id int64) bool { return id > b.through && id <= b.boundary }

func readBackfill(ctx context.Context, q Querier) (backfillState, error) {
	var b backfillState
	if err := q.QueryRowContext(ctx, "SELECT through, boundary FROM behaviour_backfill WHERE id = 1").Scan(&b.through, &b.boundary); err != nil {
		return b, fmt.Errorf("read the behaviour backfill: %w", err)
	}
	return b, nil
}

// countBehavioursTx adds a stage round's events to the blocks, in the
// round's transaction: the events it consumed, except those whose
// reattribution stays queued (deferred: they are added when it is handed
// over), and the reattributed events it handed over. Events the backfill
// has still to add are left to it.
func (s *Store) countBehavioursTx(ctx context.Context, tx *sql.Tx, events []Event, deferred map[int64]bool, handed []Event) error {
	bf, err := readBackfill(ctx, tx)
	if err != nil {
		return err
	}
	delta := behaviourDelta{}
	add := func(e Event) {
		// The stages never see Moments' own milestones: any write key but
		// the system's will do.
		if counted(e.Type, e.AccountID, "-", e.Name) && !bf.pending(e.ID) {
			delta.add(e.AccountID, e.Name, e.Timestamp, 1)
		}
	}
	for _, e := range events {
		if !deferred[e.ID] {
			add(e)
		}
	}
	for _, e := range handed {
		add(e)
	}
	return s.applyBehaviours(ctx, tx, delta)
}

// BackfillBehaviours adds the events stored before the behaviour blocks
// existed, one chunk per transaction, until none is left or ctx ends, and
// returns how many events it added. The stage runner does it by itself
// when idle. It never passes the stages' progress: events they have not
// consumed wait for them (and a read counts them from the events table).
func (s *Store) BackfillBehaviours(ctx context.Context) (int64, error) {
	var total int64
	for {
		n, more, err := s.backfillChunk(ctx, true)
		total += n
		if err != nil || !more {
			return total, err
		}
	}
}

// backfillChunk adds the next chunk of the backfill and says whether
// another can follow now.
func (s *Store) backfillChunk(ctx context.Context, wait bool) (int64, bool, error) {
	// Most of the time there is nothing to fill: known without a lock.
	if bf, err := readBackfill(ctx, s.read); err != nil || bf.through >= bf.boundary {
		return 0, false, err
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, false, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	// Locking the stages' progress rows (every shard's, in name order)
	// takes turns with the stage runners and backfills of every server
	// (they lock them too), so an event's reattribution and its backfill
	// never pass each other, and two backfills never add the same chunk.
	// The backfill's state is read after the lock, so it is the state the
	// last holder committed. The backfill goes no further than every
	// shard's progress. On PostgreSQL the stage runner's backfill (not
	// wait) takes every shard's row or none (SKIP LOCKED): waiting for
	// them would hold the stages of every server up behind the slowest
	// round; it tries again when idle.
	lock := s.dialect.forUpdate()
	if !s.dialect.embedded() && !wait {
		lock += " SKIP LOCKED"
	}
	progress, err := func() (int64, error) {
		rows, err := tx.QueryContext(ctx, "SELECT last_event_id FROM ingest_progress WHERE "+stageRowsCond+" ORDER BY name"+lock)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		var lo int64 = -1
		n := 0
		for rows.Next() {
			n++
			var p int64
			if err := rows.Scan(&p); err != nil {
				return 0, err
			}
			if lo < 0 || p < lo {
				lo = p
			}
		}
		if err := rows.Err(); err == nil && lo < 0 {
			return 0, sql.ErrNoRows
		}
		if n < len(s.dialect.allShards()) {
			return -1, rows.Err() // a round holds a shard
		}
		return lo, rows.Err()
	}()
	if err != nil {
		return 0, false, fmt.Errorf("read ingest stage progress: %w", err)
	}
	if progress < 0 {
		return 0, false, nil
	}
	bf, err := readBackfill(ctx, tx)
	if err != nil || bf.through >= bf.boundary {
		return 0, false, err
	}
	hi := min(bf.through+behaviourBackfillChunk, bf.boundary, progress)
	if hi <= bf.through {
		return 0, false, nil
	}
	// An event waiting in reattributed_events is added when the stages
	// hand its reattribution over.
	rows, err := tx.QueryContext(ctx, `SELECT account_id, name, timestamp FROM events
		WHERE id > $1 AND id <= $2 AND `+countedSQL+` AND id NOT IN (SELECT event_id FROM reattributed_events)`, bf.through, hi)
	if err != nil {
		return 0, false, fmt.Errorf("read events to backfill: %w", err)
	}
	delta := behaviourDelta{}
	n, err := scanDelta(rows, delta, 1)
	if err != nil {
		return 0, false, fmt.Errorf("read events to backfill: %w", err)
	}
	if err := s.applyBehaviours(ctx, tx, delta); err != nil {
		return 0, false, err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE behaviour_backfill SET through = $1 WHERE id = 1", hi); err != nil {
		return 0, false, fmt.Errorf("record the behaviour backfill: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, false, fmt.Errorf("commit the behaviour backfill: %w", err)
	}
	return n, hi < bf.boundary && hi < progress, nil
}

// uncountBehavioursTx takes the events of table (events, or a partition
// of it retention has detached) with ids lo to hi, dropped by retention,
// out of the blocks: those the blocks count. Retention drops only events
// the stages consumed and no reattribution waits for (dropLimit), so of
// them the blocks count all but those the backfill has not reached.
func (s *Store) uncountBehavioursTx(ctx context.Context, tx *sql.Tx, table string, lo, hi int64) error {
	bf, err := readBackfill(ctx, tx)
	if err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, `SELECT account_id, name, timestamp FROM `+table+`
		WHERE id BETWEEN $1 AND $2 AND NOT (id > $3 AND id <= $4) AND `+countedSQL, lo, hi, bf.through, bf.boundary)
	if err != nil {
		return fmt.Errorf("read events to uncount: %w", err)
	}
	delta := behaviourDelta{}
	if _, err := scanDelta(rows, delta, -1); err != nil {
		return fmt.Errorf("read events to uncount: %w", err)
	}
	return s.applyBehaviours(ctx, tx, delta)
}

// scanDelta adds sign for each (account_id, name, timestamp) row and
// closes rows.
func scanDelta(rows *sql.Rows, delta behaviourDelta, sign int64) (int64, error) {
	defer rows.Close()
	var n int64
	for rows.Next() {
		var acct, name string
		var ts int64
		if err := rows.Scan(&acct, &name, &ts); err != nil {
			return n, err
		}
		delta[dayKey{acct, dayOfMicros(ts), name}] += sign
		n++
	}
	return n, rows.Err()
}

// behaviourNames returns the name ids, adding the names in want that have
// none yet (when add).
func behaviourNames(ctx context.Context, q Querier, want []string, add bool) (map[string]int64, error) {
	ids := map[string]int64{}
	load := func() error {
		rows, err := q.QueryContext(ctx, "SELECT id, name FROM behaviour_names")
		if err != nil {
			return fmt.Errorf("read behaviour names: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var name string
			if err := rows.Scan(&id, &name); err != nil {
				return err
			}
			ids[name] = id
		}
		return rows.Err()
	}
	if err := load(); err != nil {
		return nil, err
	}
	missing := false
	for _, n := range want {
		if _, ok := ids[n]; !ok && add {
			missing = true
			if _, err := q.ExecContext(ctx, "INSERT INTO behaviour_names (name) VALUES ($1) ON CONFLICT (name) DO NOTHING", n); err != nil {
				return nil, fmt.Errorf("add behaviour name: %w", err)
			}
		}
	}
	if missing {
		if err := load(); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// blockKey is one behaviour_blocks row.
type blockKey struct {
	block   int64
	account string
}

// cell is one count of a block: a day within it and a name id.
type cell struct{ off, name int64 }

// applyBehaviours adds delta to the blocks: the blocks touched are read,
// changed and written back (or deleted when nothing is left in them), a
// few statements per round rather than two per block: the read and the
// upsert come in the sizes of healthChunks, prepared on SQLite (statement
// by statement, reading and writing the blocks cost a stage round more
// than its health did).
func (s *Store) applyBehaviours(ctx context.Context, tx *sql.Tx, delta behaviourDelta) error {
	if len(delta) == 0 {
		return nil
	}
	var names []string
	seen := map[string]bool{}
	for k := range delta {
		if !seen[k.name] {
			seen[k.name] = true
			names = append(names, k.name)
		}
	}
	slices.Sort(names)
	ids, err := behaviourNames(ctx, tx, names, true)
	if err != nil {
		return err
	}
	byBlock := map[blockKey]map[cell]int64{}
	for k, n := range delta {
		if n == 0 {
			continue
		}
		b, off := blockOf(k.day)
		bk := blockKey{b, k.account}
		m := byBlock[bk]
		if m == nil {
			m = map[cell]int64{}
			byBlock[bk] = m
		}
		m[cell{off, ids[k.name]}] += n
	}
	keys := make([]blockKey, 0, len(byBlock))
	for k := range byBlock {
		keys = append(keys, k)
	}
	// A fixed order, so two servers' runners lock rows alike.
	slices.SortFunc(keys, func(a, b blockKey) int {
		if a.block != b.block {
			return int(a.block - b.block)
		}
		return strings.Compare(a.account, b.account)
	})
	stored, err := s.readBlocks(ctx, tx, keys)
	if err != nil {
		return err
	}
	args := make([]any, 0, 3*min(len(keys), healthSizes[0]))
	var save []blockKey
	var counts [][]byte
	for _, k := range keys {
		cur := map[cell]int64{}
		if err := decodeBlock(stored[k], func(off, name, n int64) { cur[cell{off, name}] += n }); err != nil {
			return err
		}
		for c, n := range byBlock[k] {
			if v := cur[c] + n; v > 0 {
				cur[c] = v
			} else {
				delete(cur, c)
			}
		}
		if len(cur) == 0 {
			// Only retention's uncounting empties a block: rare, one
			// statement each.
			if _, ok := stored[k]; !ok {
				continue
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM behaviour_blocks WHERE block = $1 AND account_id = $2", k.block, k.account); err != nil {
				return fmt.Errorf("write behaviour block: %w", err)
			}
			continue
		}
		save = append(save, k)
		counts = append(counts, encodeBlock(cur))
	}
	start := 0
	for _, n := range healthChunks(len(save)) {
		args = args[:0]
		for i := start; i < start+n; i++ {
			args = append(args, save[i].block, save[i].account, counts[i])
		}
		start += n
		if _, err := s.healthExec(ctx, tx, s.healthSQL(saveBlocks, n), args...); err != nil {
			return fmt.Errorf("write behaviour blocks: %w", err)
		}
	}
	return nil
}

// readBlocks reads the stored counts of the blocks of keys (sorted by
// block, then account), one statement per block and chunk of accounts (on
// PostgreSQL per block). Locked: retention's uncounting may change a block
// at the same time (the stages' shards never share an account).
func (s *Store) readBlocks(ctx context.Context, tx *sql.Tx, keys []blockKey) (map[blockKey][]byte, error) {
	out := make(map[blockKey][]byte, len(keys))
	read := func(block int64, q string, args ...any) error {
		rows, err := s.healthQuery(ctx, tx, q, args...)
		if err != nil {
			return fmt.Errorf("read behaviour blocks: %w", err)
		}
		for rows.Next() {
			var acct string
			var raw []byte
			if err := rows.Scan(&acct, &raw); err != nil {
				rows.Close()
				return fmt.Errorf("read behaviour blocks: %w", err)
			}
			out[blockKey{block, acct}] = raw
		}
		if err := closeRows(rows); err != nil {
			return fmt.Errorf("read behaviour blocks: %w", err)
		}
		return nil
	}
	args := make([]any, 0, 1+min(len(keys), healthSizes[0]))
	for len(keys) > 0 {
		same := 1
		for same < len(keys) && keys[same].block == keys[0].block {
			same++
		}
		block := keys[0].block
		if s.dialect.locksRows() {
			accounts := make([]string, same)
			for i, k := range keys[:same] {
				accounts[i] = k.account
			}
			if err := read(block, s.healthSQL(loadBlocks, 0), block, accounts); err != nil {
				return nil, err
			}
			keys = keys[same:]
			continue
		}
		start := 0
		for _, n := range healthChunks(same) {
			args = append(args[:0], block)
			for _, k := range keys[start : start+n] {
				args = append(args, k.account)
			}
			start += n
			if err := read(block, s.healthSQL(loadBlocks, n), args...); err != nil {
				return nil, err
			}
		}
		keys = keys[same:]
	}
	return out, nil
}

// encodeBlock writes a block's counts as uvarints (day within the block,
// name id, count), in that order.
func encodeBlock(m map[cell]int64) []byte {
	cells := make([]cell, 0, len(m))
	for c := range m {
		cells = append(cells, c)
	}
	slices.SortFunc(cells, func(a, b cell) int {
		if a.off != b.off {
			return int(a.off - b.off)
		}
		return int(a.name - b.name)
	})
	out := make([]byte, 0, 4*len(cells))
	for _, c := range cells {
		out = binary.AppendUvarint(out, uint64(c.off))
		out = binary.AppendUvarint(out, uint64(c.name))
		out = binary.AppendUvarint(out, uint64(m[c]))
	}
	return out
}

var errCorruptBlock = errors.New("a behaviour block is corrupt")

// decodeBlock calls fn with each count of a block.
func decodeBlock(b []byte, fn func(off, name, n int64)) error {
	for len(b) > 0 {
		off, name, n, rest, ok := nextCell(b)
		if !ok {
			return errCorruptBlock
		}
		fn(off, name, n)
		b = rest
	}
	return nil
}

// nextCell reads the first count of a block's counts (its day within the
// block, name id and count) and returns the rest.
func nextCell(b []byte) (off, name, n int64, rest []byte, ok bool) {
	var v [3]uint64
	for i := range v {
		// Days, name ids and most counts are under 128: one byte each.
		if len(b) > 0 && b[0] < 0x80 {
			v[i], b = uint64(b[0]), b[1:]
			continue
		}
		x, k := binary.Uvarint(b)
		if k <= 0 {
			return 0, 0, 0, nil, false
		}
		v[i], b = x, b[k:]
	}
	return int64(v[0]), int64(v[1]), int64(v[2]), b, true
}

// BehaviourCount is how many events of one name an account sent in a
// window.
type BehaviourCount struct {
	AccountID string
	Name      string
	Count     int
}

// BehaviourWindow is one account's window of behaviour, in whole UTC
// days: the days from From's up to, not including, To's.
type BehaviourWindow struct {
	AccountID string
	From, To  time.Time
}

// BehaviourCounts returns how many track, page and screen events of each
// name each account sent on the UTC days from from's up to, not including,
// to's: a window in whole days ends at the start of to's day, so it never
// reaches past to. The accounts are those given, or every account when ids
// is nil.
func (s *Store) BehaviourCounts(ctx context.Context, ids []string, from, to time.Time) ([]BehaviourCount, error) {
	if ids == nil {
		return s.behaviourCounts(ctx, &BehaviourWindow{From: from, To: to}, nil)
	}
	ws := make([]BehaviourWindow, 0, len(ids))
	for _, id := range sortedUnique(ids) {
		ws = append(ws, BehaviourWindow{AccountID: id, From: from, To: to})
	}
	return s.behaviourCounts(ctx, nil, ws)
}

// BehaviourCountsEach counts every account over the days from from's up to
// to's, except the accounts of own, each counted over its own window (the
// drivers report measures every positive before its own outcome and the
// others before now). It reads the blocks in one range scan, so its cost
// grows with the accounts, not with how many have a window of their own.
func (s *Store) BehaviourCountsEach(ctx context.Context, from, to time.Time, own []BehaviourWindow) ([]BehaviourCount, error) {
	return s.behaviourCounts(ctx, &BehaviourWindow{From: from, To: to}, own)
}

// span is a window's days: from span[0] up to, not including, span[1].
type span [2]int64

func spanOf(w BehaviourWindow) span { return span{dayOf(w.From), dayOf(w.To)} }

func (d span) empty() bool { return d[1] <= d[0] }

// blocks are the first and last blocks of a non-empty span.
func (d span) blocks() (int64, int64) {
	b0, _ := blockOf(d[0])
	b1, _ := blockOf(d[1] - 1)
	return b0, b1
}

// behaviourSums adds up counts by account and name: a row of counts per
// account, a column per name, so adding a count is one index.
type behaviourSums struct {
	accounts []string         // by account index
	index    map[string]int32 // account → index
	spans    []span           // by account index: the days counted
	names    []string         // by column
	column   map[string]int32 // name → column
	colOf    []int32          // name id → column (-1: no such name)
	counts   []int64          // account i's count of column c at i*len(names)+c
}

// newBehaviourSums starts sums with a column for each of names (name →
// id).
func newBehaviourSums(names map[string]int64) *behaviourSums {
	b := &behaviourSums{index: map[string]int32{}, column: make(map[string]int32, len(names))}
	sorted := make([]string, 0, len(names))
	var top int64 = -1
	for n, id := range names {
		sorted = append(sorted, n)
		top = max(top, id)
	}
	slices.Sort(sorted)
	b.colOf = make([]int32, top+1)
	for i := range b.colOf {
		b.colOf[i] = -1
	}
	for c, n := range sorted {
		b.names = append(b.names, n)
		b.column[n] = int32(c)
		if id := names[n]; id >= 0 {
			b.colOf[id] = int32(c)
		}
	}
	return b
}

// row is account i's counts, by column.
func (b *behaviourSums) row(i int32) []int64 {
	w := len(b.names)
	return b.counts[int(i)*w : int(i)*w+w]
}

// nameColumn returns name's column, adding one (and widening every row)
// for a name the blocks have never counted.
func (b *behaviourSums) nameColumn(name string) int {
	if c, ok := b.column[name]; ok {
		return int(c)
	}
	w := len(b.names)
	wider := make([]int64, len(b.accounts)*(w+1))
	for i := range b.accounts {
		copy(wider[i*(w+1):], b.counts[i*w:i*w+w])
	}
	b.counts = wider
	b.names = append(b.names, name)
	b.column[name] = int32(w)
	return w
}

// accountIndex returns a's index, adding it (counted over d) when it is
// new.
func (b *behaviourSums) accountIndex(a string, d span) int32 {
	if i, ok := b.index[a]; ok {
		return i
	}
	i := int32(len(b.accounts))
	b.accounts = append(b.accounts, a)
	b.index[a] = i
	b.spans = append(b.spans, d)
	b.counts = append(b.counts, make([]int64, len(b.names))...)
	return i
}

// sumBlock adds the counts of a block whose first day is first to row,
// those on the days of d (all of them when whole).
func (b *behaviourSums) sumBlock(raw []byte, first int64, d span, whole bool, row []int64) error {
	for len(raw) > 0 {
		off, name, n, rest, ok := nextCell(raw)
		if !ok || name >= int64(len(b.colOf)) || b.colOf[name] < 0 {
			return errCorruptBlock
		}
		raw = rest
		if day := first + off; whole || (day >= d[0] && day < d[1]) {
			row[b.colOf[name]] += n
		}
	}
	return nil
}

// byName is the columns' order by name.
func (b *behaviourSums) byName() []int {
	order := make([]int, len(b.names))
	for c := range order {
		order[c] = c
	}
	slices.SortFunc(order, func(x, y int) int { return strings.Compare(b.names[x], b.names[y]) })
	return order
}

// behaviourCounts counts every account over all (when all is not nil)
// except those of own, each over its own window, from the blocks and, for
// the events the blocks do not count yet, from the events table, all in
// one snapshot. With all, the blocks are read in one range scan; without,
// the accounts' blocks are read by account.
func (s *Store) behaviourCounts(ctx context.Context, all *BehaviourWindow, own []BehaviourWindow) ([]BehaviourCount, error) {
	b, err := s.behaviourSums(ctx, nil, all, own)
	if err != nil {
		return nil, err
	}
	order := make([]int32, len(b.accounts))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(x, y int32) int { return strings.Compare(b.accounts[x], b.accounts[y]) })
	cols := b.byName()
	var out []BehaviourCount
	for _, i := range order {
		row := b.row(i)
		for _, c := range cols {
			if row[c] != 0 {
				out = append(out, BehaviourCount{AccountID: b.accounts[i], Name: b.names[c], Count: int(row[c])})
			}
		}
	}
	return out, nil
}

// BehaviourTable is the behaviour counts of a list of accounts: a column
// per event name.
type BehaviourTable struct {
	// Names are the names some account sent in its window, sorted.
	Names []string
	// Counts[j][i] is how many events of Names[j] the i-th account sent.
	Counts [][]int64
}

// BehaviourColumns counts the accounts ids as BehaviourCountsEach does
// (each account of own over its own window, the others over the days from
// from's up to to's) and returns the counts by name, in the order of ids:
// the drivers report puts them straight into its columns. Accounts not in
// ids are not counted; an account of own must be in ids.
func (s *Store) BehaviourColumns(ctx context.Context, ids []string, from, to time.Time, own []BehaviourWindow) (BehaviourTable, error) {
	var t BehaviourTable
	b, err := s.behaviourSums(ctx, ids, &BehaviourWindow{From: from, To: to}, own)
	if err != nil {
		return t, err
	}
	w := len(b.names)
	for _, c := range b.byName() {
		var col []int64
		for i := range ids {
			if n := b.counts[i*w+c]; n != 0 {
				if col == nil {
					col = make([]int64, len(ids))
				}
				col[i] = n
			}
		}
		if col != nil {
			t.Names = append(t.Names, b.names[c])
			t.Counts = append(t.Counts, col)
		}
	}
	return t, nil
}

// behaviourSums sums the counts (see behaviourCounts). With ids, only
// those accounts are counted (in that order: ids[i] is account index i);
// without, every account the windows reach.
func (s *Store) behaviourSums(ctx context.Context, ids []string, all *BehaviourWindow, own []BehaviourWindow) (*behaviourSums, error) {
	opts := &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead}
	if s.dialect.embedded() {
		opts = nil // a read transaction on SQLite reads one snapshot
	}
	tx, err := s.read.BeginTx(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("count behaviours: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read only
	var progress int64
	if err := tx.QueryRowContext(ctx, "SELECT "+stagesFloorSQL).Scan(&progress); err != nil {
		return nil, fmt.Errorf("read ingest stage progress: %w", err)
	}
	bf, err := readBackfill(ctx, tx)
	if err != nil {
		return nil, err
	}
	names, err := behaviourNames(ctx, tx, nil, false)
	if err != nil {
		return nil, err
	}
	b := newBehaviourSums(names)
	var allD span
	if all != nil {
		allD = spanOf(*all)
	}
	// lo and hi are the blocks any window reaches.
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	reach := func(d span) {
		if !d.empty() {
			b0, b1 := d.blocks()
			lo, hi = min(lo, b0), max(hi, b1)
		}
	}
	if all != nil {
		reach(allD)
	}
	fixed := ids != nil
	if fixed {
		b.accounts = ids
		b.index = make(map[string]int32, len(ids))
		for i, id := range ids {
			b.index[id] = int32(i)
		}
		b.spans = make([]span, len(ids))
		for i := range b.spans {
			b.spans[i] = allD
		}
		b.counts = make([]int64, len(ids)*len(b.names))
	}
	var ownIdx []int32 // the accounts with a window of their own
	for _, w := range own {
		d := spanOf(w)
		i, ok := b.index[w.AccountID]
		if !ok {
			if fixed {
				continue
			}
			i = b.accountIndex(w.AccountID, d)
		}
		ownIdx = append(ownIdx, i)
		b.spans[i] = d
		reach(d)
	}
	slices.Sort(ownIdx)
	ownIdx = slices.Compact(ownIdx)
	// window returns the days counted for an account, and its index. The
	// rows of a block come in account order, as the accounts usually are:
	// the account after the last one found is tried before the map.
	next := int32(0)
	window := func(acct []byte) (int32, span, bool) {
		i, ok := next, int(next) < len(b.accounts) && b.accounts[next] == string(acct)
		if !ok {
			i, ok = b.index[string(acct)]
		}
		if !ok {
			if fixed || all == nil || allD.empty() {
				return 0, span{}, false
			}
			i = b.accountIndex(string(acct), allD)
		}
		next = i + 1
		return i, b.spans[i], true
	}
	scan := func(block int64, rows *sql.Rows) error {
		defer rows.Close()
		first := block * blockDays
		var acct, raw sql.RawBytes
		for rows.Next() {
			if err := rows.Scan(&acct, &raw); err != nil {
				return err
			}
			i, d, ok := window(acct)
			if !ok || d.empty() || first+blockDays <= d[0] || first >= d[1] {
				continue // the block is outside the account's window
			}
			whole := first >= d[0] && first+blockDays <= d[1]
			if err := b.sumBlock(raw, first, d, whole, b.row(i)); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	// Each block is read on its own, in account order: whole where
	// everyone's window reaches it, or else only the rows of the accounts
	// whose own windows do, by key.
	allB0, allB1 := int64(math.MaxInt64), int64(math.MinInt64)
	if all != nil && !allD.empty() {
		allB0, allB1 = allD.blocks()
	}
	var keys []string
	args := make([]any, 0, keyChunk+1)
	for block := lo; block <= hi; block++ {
		if block >= allB0 && block <= allB1 {
			rows, err := tx.QueryContext(ctx, "SELECT account_id, counts FROM behaviour_blocks WHERE block = $1", block)
			if err != nil {
				return nil, fmt.Errorf("count behaviours: %w", err)
			}
			if err := scan(block, rows); err != nil {
				return nil, fmt.Errorf("count behaviours: %w", err)
			}
			continue
		}
		keys = keys[:0]
		for _, i := range ownIdx {
			if d := b.spans[i]; !d.empty() && block*blockDays < d[1] && (block+1)*blockDays > d[0] {
				keys = append(keys, b.accounts[i])
			}
		}
		slices.Sort(keys)
		for start := 0; start < len(keys); start += keyChunk {
			chunk := keys[start:min(start+keyChunk, len(keys))]
			args = append(args[:0], block)
			for _, id := range chunk {
				args = append(args, id)
			}
			rows, err := tx.QueryContext(ctx, "SELECT account_id, counts FROM behaviour_blocks WHERE block = $1 AND account_id IN ("+
				s.dialect.placeholders(2, len(chunk))+")", args...)
			if err != nil {
				return nil, fmt.Errorf("count behaviours: %w", err)
			}
			if err := scan(block, rows); err != nil {
				return nil, fmt.Errorf("count behaviours: %w", err)
			}
		}
	}
	// The events the blocks do not count yet: after the stages' progress,
	// waiting for a reattribution, or not yet reached by the backfill. The
	// reattributed ones are looked up by id from the (short) queue, so the
	// read never walks the events table.
	uncounted := []string{"id > $1", "id IN (SELECT event_id FROM reattributed_events WHERE event_id <= $1)"}
	uargs := [][]any{{progress}, {progress}}
	if bf.through < bf.boundary {
		uncounted = append(uncounted, "id > $1 AND id <= $2 AND id <= $3 AND id NOT IN (SELECT event_id FROM reattributed_events)")
		uargs = append(uargs, []any{bf.through, bf.boundary, progress})
	}
	if !s.dialect.embedded() {
		// Each shard has its own progress (shards.go); progress is the
		// smallest.
		consumed := s.dialect.consumedSQL("events")
		uncounted = []string{"id > $1 AND NOT " + consumed, "id IN (SELECT event_id FROM reattributed_events) AND " + consumed}
		uargs = [][]any{{progress}, nil}
		if bf.through < bf.boundary {
			uncounted = append(uncounted, "id > $1 AND id <= $2 AND "+consumed+" AND id NOT IN (SELECT event_id FROM reattributed_events)")
			uargs = append(uargs, []any{bf.through, bf.boundary})
		}
	}
	for i, where := range uncounted {
		rows, err := tx.QueryContext(ctx, "SELECT account_id, name, timestamp FROM events WHERE "+where+" AND "+countedSQL, uargs[i]...)
		if err != nil {
			return nil, fmt.Errorf("count behaviours: %w", err)
		}
		err = func() error {
			defer rows.Close()
			for rows.Next() {
				var acct, name string
				var ts int64
				if err := rows.Scan(&acct, &name, &ts); err != nil {
					return err
				}
				i, d, ok := window([]byte(acct))
				if day := dayOfMicros(ts); ok && day >= d[0] && day < d[1] {
					c := b.nameColumn(name)
					b.row(i)[c]++
				}
			}
			return rows.Err()
		}()
		if err != nil {
			return nil, fmt.Errorf("count behaviours: %w", err)
		}
	}
	return b, nil
}

// BehaviourBackfill says how far the filling of the behaviour blocks from
// the events stored before them has got: through of boundary event ids.
func (s *Store) BehaviourBackfill(ctx context.Context) (through, boundary int64, err error) {
	bf, err := readBackfill(ctx, s.read)
	return bf.through, bf.boundary, err
}
