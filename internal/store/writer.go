package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"crypto/sha256"
)

// ErrClosed is returned by Ingest after Close.
var ErrClosed = errors.New("store is closed")

// IngestResult says what happened to the messages of one Ingest call.
type IngestResult struct {
	// Stored counts messages written for the first time.
	Stored int
	// Duplicates counts messages whose (write key, messageId) was already
	// stored; they are acknowledged and not written again.
	Duplicates int
}

// IngestHook is an ingest stage: it runs after the batch's events are
// durably committed and acknowledged, inside the stage runner's
// transaction (stages.go), with committed events in id order that no stage
// has consumed yet (duplicates are never stored, so never handed over),
// followed by earlier events that have since joined an account (events
// sent before the call that linked their contact to the account). The
// runner records its progress in the same transaction, so what the hook
// writes (trigger runs, health counters) commits exactly once per event.
// An error rolls the round back; the events stay queued and the round is
// retried.
type IngestHook func(ctx context.Context, tx *sql.Tx, events []Event) error

// OnIngest registers a hook. Register hooks before the first Ingest and
// before StartIngestStages.
func (s *Store) OnIngest(h IngestHook) { s.stages.hooks = append(s.stages.hooks, h) }

// Ingest stores messages received with one write key, in one transaction
// with any messages of concurrent calls (group commit), and returns once the
// transaction is durably committed. It never stores half a call: either
// every message of the call is stored or deduplicated, or an error is
// returned and nothing of the call is stored.
func (s *Store) Ingest(ctx context.Context, writeKeyID string, msgs []Message) (IngestResult, error) {
	if len(msgs) == 0 {
		return IngestResult{}, nil
	}
	s.stages.begin()
	return s.writer.submit(ctx, writeKeyID, msgs)
}

// maxGroup bounds the messages one group commit takes, so a flood of
// requests still commits regularly and a transaction stays small enough to
// retry call by call when it fails.
const maxGroup = 5000

// pgCommitters is how many ingestion transactions one server keeps in
// flight on PostgreSQL, and pgGroup the messages each takes. One
// transaction keeps one PostgreSQL backend busy at a time, and between its
// statements and during its commit's WAL flush that backend idles while
// the committer encodes the next statement: with one committer a server
// used at most one core of the database however many it has. So that a
// committer does not take every waiting request and leave the others idle
// (senders wait for their acknowledgement before sending more), each takes
// a share. SQLite has one writer and one committer.
//
// Transactions side by side must not hide from each other what the
// stored events depend on: a batch of track calls committed beside the
// batch whose group call linked their contact to an account stored its
// events without the account (neither saw the other's rows, so the link's
// reattribution missed them). A group that changes accounts or contacts
// (changesState) therefore commits alone: it waits for the transactions in
// flight and the others wait for it (writer.order). Groups that only add
// events, most of the traffic, commit side by side.
const (
	pgCommitters = 3
	pgGroup      = 600
)

type ingestReq struct {
	writeKeyID string
	msgs       []Message
	// keys are the messages' dedupe keys (MessageKey), hashed by the
	// caller rather than by the one committer.
	keys [][16]byte
	done chan ingestResp
	// at is when the request reached the committer's queue.
	at time.Time
}

// oldestRequest is when the longest-waiting request of group reached the
// committer's queue.
func oldestRequest(group []*ingestReq) time.Time {
	oldest := group[0].at
	for _, r := range group[1:] {
		if r.at.Before(oldest) {
			oldest = r.at
		}
	}
	return oldest
}

type ingestResp struct {
	res IngestResult
	err error
}

type writer struct {
	s    *Store
	reqs chan *ingestReq
	// ctl runs work that must not interleave with a commit (do).
	ctl    chan func()
	quit   chan struct{}
	exited chan struct{}
	once   sync.Once
	// changing is the queue of groups that change accounts or contacts
	// (commitChanging).
	changing struct {
		mu      sync.Mutex
		pending []*ingestReq
		leading bool
	}
	// stmts holds the prepared statements of full chunks by their SQL
	// (see prepare); the committers share them.
	stmts map[string]*sql.Stmt
	// eventsSQL are the SQLite inserts of events by row count
	// (eventChunkSizes), built and prepared once.
	eventsSQL map[int]string
	// sharedEventsSQL are the same for events sharing their write key,
	// type and integrations (ingestSharedEventsSQL).
	sharedEventsSQL map[int]string
	// order lets groups that only add events commit side by side and a
	// group that changes accounts or contacts commit alone (pgCommitters).
	order sync.RWMutex
	// mu guards seen and committed, which several committers share on
	// PostgreSQL.
	mu sync.Mutex
	// seen remembers the last_seen_at this process last committed per
	// account and contact ("accounts\x00id"). Activity within seenPrecision
	// of it is not written again: without this, every track call would
	// rewrite its contact's and account's rows, costing more disk pages
	// than the event itself. last_seen_at is therefore accurate to the
	// hour.
	seen map[string]int64
	// owed are the last_seen_at this process still has to write on
	// PostgreSQL ("accounts\x00id" → micros): rows a transaction passed
	// over because another held them (touchSkippingLocked). Its next
	// transactions write them among their own rows.
	owed map[string]int64
	// dedupe is SQLite's deduplication set (dedupe.go).
	dedupe *dedupe
	// accounts is SQLite's index of events by account (account_index.go).
	accounts *accountIndex
	// committed is the largest event id this process committed.
	committed int64
	// stepAt is when the current step of a merge began (merge_steps.go);
	// onStep, when set (tests), is told of each step's end.
	stepAt time.Time
	onStep func(by string, rows int)
	// stats are the committer's counters (Store.CommitterStats).
	stats struct {
		commits, events, writeNanos, commitNanos, loopNanos atomic.Int64
	}
}

// CommitterStats are the counters of the ingestion committer since the
// store opened: how many transactions it committed, the events they
// stored, and the time it spent writing them (everything before the
// commit) and committing (writing the WAL and waiting for its fsync).
// The benchmarks report them to tell a committer that is busy computing
// from one that waits for the disk. Busy is the time the committer's loop
// spent on anything but waiting for work: the commits, the merges behind
// them (SQLite) and the work run in it (do); on SQLite, where it is the one
// writer, events over Busy is the most it could commit.
type CommitterStats struct {
	Commits, Events int64
	Writing         time.Duration
	Committing      time.Duration
	Busy            time.Duration
}

// CommitterStats returns the committer's counters.
func (s *Store) CommitterStats() CommitterStats {
	st := &s.writer.stats
	return CommitterStats{Commits: st.commits.Load(), Events: st.events.Load(),
		Writing: time.Duration(st.writeNanos.Load()), Committing: time.Duration(st.commitNanos.Load()),
		Busy: time.Duration(st.loopNanos.Load())}
}

// seenPrecision is how stale last_seen_at may be; maxSeen bounds the cache.
const (
	seenPrecision = time.Hour
	maxSeen       = 200_000
	// maxOwed bounds writer.owed: beyond it, a row passed over is written
	// with its account's or contact's next event instead.
	maxOwed = 10_000
)

func newWriter(s *Store) *writer {
	w := &writer{s: s, reqs: make(chan *ingestReq, 256), ctl: make(chan func()), quit: make(chan struct{}), exited: make(chan struct{}),
		stmts: map[string]*sql.Stmt{}, seen: map[string]int64{}, owed: map[string]int64{}}
	return w
}

func (w *writer) submit(ctx context.Context, writeKeyID string, msgs []Message) (IngestResult, error) {
	req := &ingestReq{writeKeyID: writeKeyID, msgs: msgs, keys: make([][16]byte, len(msgs)), done: make(chan ingestResp, 1)}
	for i := range msgs {
		req.keys[i] = messageKey(writeKeyID, msgs[i].MessageID)
	}
	req.at = time.Now()
	select {
	case w.reqs <- req:
	case <-ctx.Done():
		return IngestResult{}, ctx.Err()
	case <-w.quit:
		return IngestResult{}, ErrClosed
	}
	// Once accepted, the request is committed or failed by the loop even if
	// the caller goes away; waiting here is what makes a 200 mean "durable".
	select {
	case r := <-req.done:
		return r.res, r.err
	case <-w.exited:
		// The loop finishes every accepted request before exiting.
		r := <-req.done
		return r.res, r.err
	}
}

func (w *writer) stop() {
	w.once.Do(func() { close(w.quit) })
	<-w.exited
}

func (w *writer) loop() {
	defer close(w.exited)
	defer func() {
		for _, st := range w.stmts {
			st.Close()
		}
	}()
	if !w.s.dialect.embedded() {
		var more sync.WaitGroup
		for range pgCommitters - 1 {
			more.Add(1)
			go func() {
				defer more.Done()
				w.commitLoop()
			}()
		}
		defer more.Wait()
	}
	for {
		select {
		case r := <-w.reqs:
			started := time.Now()
			w.commitGroup(w.gather(r))
			if err := w.mergeDedupe(context.Background()); err != nil {
				// The keys stay pending (in memory and in the events
				// table); the next commit tries again.
				w.s.log.Error("dedupe merge failed; will retry", "err", err)
			}
			if err := w.mergeAccounts(context.Background()); err != nil {
				// The tail stays longer; readers scan it.
				w.s.log.Error("account index merge failed; will retry", "err", err)
			}
			w.stats.loopNanos.Add(int64(time.Since(started)))
		case m := <-w.accountMerges():
			started := time.Now()
			if err := w.applyAccountMerge(context.Background(), m); err != nil {
				// The tail stays longer; readers scan it.
				w.s.log.Error("account index merge failed; will retry", "err", err)
			}
			w.stats.loopNanos.Add(int64(time.Since(started)))
		case f := <-w.ctl:
			started := time.Now()
			if w.accounts != nil {
				// What runs here may change events (retention).
				w.accounts.gen++
			}
			f()
			w.stats.loopNanos.Add(int64(time.Since(started)))
		case <-w.quit:
			w.drain()
			return
		}
	}
}

// accountMerges hands over the account index's merges read off the
// committer (nil, never ready, without the index: PostgreSQL).
func (w *writer) accountMerges() <-chan *accountMerge {
	if w.accounts == nil {
		return nil
	}
	return w.accounts.ready
}

// lastCommitted is the largest event id this process committed; the
// committers share it on PostgreSQL.
func (w *writer) lastCommitted() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.committed
}

// commitLoop is an additional PostgreSQL committer: loop without the
// control channel and SQLite's dedupe merge.
func (w *writer) commitLoop() {
	for {
		select {
		case r := <-w.reqs:
			w.commitGroup(w.gather(r))
		case <-w.quit:
			w.drain()
			return
		}
	}
}

// drain commits whatever was accepted before the quit.
func (w *writer) drain() {
	for {
		select {
		case r := <-w.reqs:
			w.commitGroup(w.gather(r))
		default:
			return
		}
	}
}

// gather takes the requests that are waiting right now, up to maxGroup
// messages: while one transaction commits, the next group forms.
func (w *writer) gather(first *ingestReq) []*ingestReq {
	limit := maxGroup
	if !w.s.dialect.embedded() {
		limit = pgGroup
	}
	return w.takeWaiting([]*ingestReq{first}, limit)
}

// takeWaiting adds to group the requests waiting right now, until the
// group holds limit messages.
func (w *writer) takeWaiting(group []*ingestReq, limit int) []*ingestReq {
	n := 0
	for _, r := range group {
		n += len(r.msgs)
	}
	for n < limit {
		select {
		case r := <-w.reqs:
			group = append(group, r)
			n += len(r.msgs)
		default:
			return group
		}
	}
	return group
}

func (w *writer) commitGroup(group []*ingestReq) {
	if changesState(group) {
		w.commitChanging(group)
		return
	}
	w.answer(group)
}

// commitChanging commits a group that changes accounts or contacts. Such
// a group commits alone, after the stages have acted on every event this
// process committed before it (commit). That wait is a stage round, which
// on PostgreSQL costs a transaction of its own: so that groups arriving
// meanwhile share it rather than each wait for a round of their own, one
// committer at a time leads (changing), and the others hand it their
// groups; once the stages have caught up, the leader commits every group
// handed to it and every request waiting, in one transaction. A request
// that arrived during the wait had its sender's earlier calls committed
// before the wait began (they were acknowledged, and no other group
// commits while the leader holds the order), so it needs no wait of its
// own: the group is the one gather would have formed had the requests
// arrived sooner.
func (w *writer) commitChanging(group []*ingestReq) {
	c := &w.changing
	c.mu.Lock()
	c.pending = append(c.pending, group...)
	if c.leading {
		c.mu.Unlock()
		return // the leading committer commits it
	}
	c.leading = true
	c.mu.Unlock()
	ctx := context.Background()
	for {
		c.mu.Lock()
		if len(c.pending) == 0 {
			c.leading = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		if !w.s.dialect.embedded() {
			w.order.Lock()
		}
		if committed := w.lastCommitted(); committed > 0 {
			w.s.stages.waitFor(ctx, committed)
		}
		c.mu.Lock()
		group, c.pending = c.pending, nil
		c.mu.Unlock()
		group = w.takeWaiting(group, maxGroup)
		results, err := w.commitExtending(ctx, group, true)
		if !w.s.dialect.embedded() {
			w.order.Unlock()
		}
		w.answerWith(group, results, err)
	}
}

// answer commits group and answers its requests.
func (w *writer) answer(group []*ingestReq) {
	results, err := w.commitExtending(context.Background(), group, false)
	w.answerWith(group, results, err)
}

// answerWith answers the requests of a group whose commit gave results or
// err; after an error it commits them one by one.
func (w *writer) answerWith(group []*ingestReq, results []IngestResult, err error) {
	ctx := context.Background()
	if err == nil {
		for i, r := range group {
			r.done <- ingestResp{res: results[i]}
		}
		return
	}
	if len(group) == 1 {
		group[0].done <- ingestResp{err: err}
		return
	}
	// One call's failure must not fail the others that happened to share its
	// transaction: commit them one by one.
	w.s.log.Warn("group commit failed; retrying calls one by one", "calls", len(group), "err", err)
	for _, r := range group {
		res, err := w.commitExtending(ctx, []*ingestReq{r}, false)
		if err != nil {
			r.done <- ingestResp{err: err}
			continue
		}
		r.done <- ingestResp{res: res[0]}
	}
}

// commit commits group in one transaction. ordered says the caller holds
// the order alone and the stages have caught up (commitChanging).
func (w *writer) commit(ctx context.Context, group []*ingestReq, ordered bool) ([]IngestResult, error) {
	changes := changesState(group)
	if !w.s.dialect.embedded() && !ordered {
		// Alone when it changes accounts or contacts, side by side
		// otherwise (pgCommitters); held until the commit, so a group
		// that commits alone sees every row the others stored.
		if changes {
			w.order.Lock()
			defer w.order.Unlock()
		} else {
			w.order.RLock()
			defer w.order.RUnlock()
		}
	}
	if committed := w.lastCommitted(); committed > 0 && changes && !ordered {
		// The stages read accounts and contacts as they are when they run:
		// let them act on what this process committed before, so they see
		// each batch with the traits and roles it left (stages.go).
		w.s.stages.waitFor(ctx, committed)
	}
	if w.s.dialect.embedded() {
		// Listened events this process committed go first (fastlane.go).
		w.s.stages.yield()
	}
	started := time.Now()
	conn, tx, err := w.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	w.s.times.wait.observe(time.Since(oldestRequest(group)))
	if conn != nil {
		defer conn.Close()
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if !w.s.dialect.embedded() {
		// Held until commit, from before the first event id is drawn: the
		// stage runner waits for its holders to read events in commit
		// order (stages.go). Shared, so ingestion transactions never wait
		// for each other here.
		if _, err := tx.ExecContext(ctx, pgAnnounceSQL, ingestLockKey, ingestTxClass); err != nil {
			return nil, fmt.Errorf("announce ingestion: %w", err)
		}
	}
	b := &ingestBatch{s: w.s, w: w, conn: conn, tx: tx, now: w.s.now()}
	results, err := b.run(ctx, group)
	if err != nil {
		return nil, err
	}
	if w.s.dialect.embedded() {
		// PostgreSQL marks the commit with the claim (pgClaimSQL).
		if err := b.markCommit(ctx); err != nil {
			return nil, err
		}
	}
	committing := time.Now()
	if w.s.dialect.embedded() {
		// The runner may take the connection the moment the commit
		// releases it: it waits for the listened events offered below.
		w.s.stages.expect(b.rows)
	}
	if err := tx.Commit(); err != nil {
		w.s.stages.offer(nil)
		return nil, fmt.Errorf("commit: %w", err)
	}
	w.stats.commits.Add(1)
	w.stats.events.Add(int64(len(b.rows)))
	w.stats.writeNanos.Add(int64(committing.Sub(started)))
	w.stats.commitNanos.Add(int64(time.Since(committing)))
	w.s.times.commit.observe(time.Since(committing))
	w.s.stages.offer(b.rows)
	w.s.stages.notify()
	if w.s.dialect.embedded() {
		w.dedupe.add(b.keys, b.rows)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.committed = max(w.committed, b.lastID())
	// Only what is committed may be remembered as written.
	if len(w.seen)+len(b.seenWritten) > maxSeen {
		clear(w.seen)
	}
	for k, v := range b.seenWritten {
		w.seen[k] = v
		if w.owed[k] <= v {
			delete(w.owed, k)
		}
	}
	for k, v := range b.owed {
		if len(w.owed) < maxOwed && w.owed[k] < v {
			w.owed[k] = v
		}
	}
	return results, nil
}

// begin starts an ingestion transaction. On PostgreSQL it runs on a
// connection taken for it, returned too, on which the events are copied in
// with pgx (insertEventsCopy); SQLite's (conn nil) on its one write
// connection, which the stage runner takes the moment the commit releases
// it.
func (w *writer) begin(ctx context.Context) (*sql.Conn, *sql.Tx, error) {
	if w.s.dialect.embedded() {
		tx, err := w.s.write.BeginTx(ctx, nil)
		return nil, tx, err
	}
	conn, err := w.s.write.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, tx, nil
}

// MessageKey is the 16-byte deduplication key of a message: the first half
// of SHA-256 over the write key id and the messageId. 128 bits make an
// accidental collision astronomically unlikely (about 1 in 10^20 after a
// trillion messages), so deduplication is exact in practice while the index
// stays small.
func MessageKey(writeKeyID, messageID string) []byte {
	k := messageKey(writeKeyID, messageID)
	return k[:]
}

// messageKey is MessageKey as an array.
func messageKey(writeKeyID, messageID string) [16]byte {
	var buf [256]byte
	in := append(append(append(buf[:0], writeKeyID...), 0), messageID...)
	sum := sha256.Sum256(in)
	return [16]byte(sum[:16])
}

// ingestBatch is the work of one transaction.
type ingestBatch struct {
	s    *Store
	w    *writer
	conn *sql.Conn // the connection of tx
	tx   *sql.Tx
	now  time.Time

	accounts  map[string]*patch // account id → pending change
	contacts  map[string]*patch // contact id → pending change
	order     []string          // account ids in first-touch order
	corder    []string
	rows      []Event
	writeKeys []string // the write key of each row
	keys      [][]byte // the dedupe key of each row
	// ids are the event ids the claim drew on PostgreSQL, one per new key
	// (pgClaimSQL), in no particular order.
	ids []int64
	// reattributed are earlier events that joined an account in this
	// batch because their contact was linked to it.
	reattributed []reattribution
	// seenWritten is the last_seen_at written per "table\x00id", for the
	// writer's cache once the transaction commits.
	seenWritten map[string]int64
	// owed are the rows this transaction passed over because another held
	// them, with the last_seen_at still to write (writer.owed).
	owed map[string]int64
}

type patch struct {
	traits    []map[string]any
	accountID string // contacts: the account to link to, if any
	lastSeen  time.Time
}

func (b *ingestBatch) account(id string) *patch {
	p, ok := b.accounts[id]
	if !ok {
		p = &patch{}
		b.accounts[id] = p
		b.order = append(b.order, id)
	}
	return p
}

func (b *ingestBatch) contact(id string) *patch {
	p, ok := b.contacts[id]
	if !ok {
		p = &patch{}
		b.contacts[id] = p
		b.corder = append(b.corder, id)
	}
	return p
}

func (b *ingestBatch) run(ctx context.Context, group []*ingestReq) ([]IngestResult, error) {
	b.accounts = map[string]*patch{}
	b.contacts = map[string]*patch{}
	results := make([]IngestResult, len(group))

	// Claim every message key first; the keys that were already present are
	// duplicates and are skipped.
	fresh, err := b.claimKeys(ctx, group)
	if err != nil {
		return nil, err
	}
	for gi, r := range group {
		for mi := range r.msgs {
			if !fresh[gi][mi] {
				results[gi].Duplicates++
				continue
			}
			results[gi].Stored++
			b.apply(r.writeKeyID, &r.msgs[mi])
			b.keys = append(b.keys, r.keys[mi][:])
		}
	}
	if err := b.resolveAccounts(ctx); err != nil {
		return nil, err
	}
	if err := b.flushAccounts(ctx); err != nil {
		return nil, err
	}
	if err := b.flushContacts(ctx); err != nil {
		return nil, err
	}
	if err := b.insertEvents(ctx); err != nil {
		return nil, err
	}
	if err := b.queueReattributed(ctx); err != nil {
		return nil, err
	}
	return results, nil
}

func (b *ingestBatch) claimKeys(ctx context.Context, group []*ingestReq) ([][]bool, error) {
	type ref struct{ g, m int }
	fresh := make([][]bool, len(group))
	n := 0
	for _, r := range group {
		n += len(r.msgs)
	}
	seen := make(map[[16]byte]struct{}, n)
	keys := make([][]byte, 0, n)
	refs := make([]ref, 0, n)
	for gi, r := range group {
		fresh[gi] = make([]bool, len(r.msgs))
		for mi := range r.msgs {
			if _, ok := seen[r.keys[mi]]; ok {
				continue // a repeat within this transaction: a duplicate
			}
			seen[r.keys[mi]] = struct{}{}
			k := r.keys[mi][:]
			keys = append(keys, k)
			refs = append(refs, ref{gi, mi})
		}
	}
	var isNew func(i int) bool
	if b.s.dialect.embedded() {
		known, err := b.w.dedupe.known(ctx, b, keys)
		if err != nil {
			return nil, err
		}
		isNew = func(i int) bool { return !known[string(keys[i])] }
	} else {
		inserted, err := b.claimInIndex(ctx, keys)
		if err != nil {
			return nil, err
		}
		isNew = func(i int) bool { return inserted[string(keys[i])] }
	}
	for i := range keys {
		if isNew(i) {
			fresh[refs[i].g][refs[i].m] = true
		}
	}
	return fresh, nil
}

// claimInIndex inserts keys into the unique index and returns those that
// were new; it draws an event id for each (b.ids). PostgreSQL deduplicates
// this way: the index is shared by every server process, and PostgreSQL's
// WAL logs a B-tree insert as a small record rather than a page.
func (b *ingestBatch) claimInIndex(ctx context.Context, keys [][]byte) (map[string]bool, error) {
	inserted := make(map[string]bool, len(keys))
	if len(keys) > 0 {
		// In key order: two transactions claiming some of the same keys
		// (a message re-sent while its first copy is in flight) then wait
		// for each other in the same order instead of deadlocking.
		keys = slices.Clone(keys)
		slices.SortFunc(keys, bytes.Compare)
		rows, err := b.query(ctx, pgClaimSQL, keys)
		if err != nil {
			return nil, fmt.Errorf("claim message keys: %w", err)
		}
		for rows.Next() {
			var (
				k  []byte
				id int64
			)
			if err := rows.Scan(&k, &id); err != nil {
				rows.Close()
				return nil, err
			}
			inserted[string(k)] = true
			b.ids = append(b.ids, id)
		}
		if err := closeRows(rows); err != nil {
			return nil, err
		}
	}
	return inserted, nil
}

// apply records one fresh message's effects on accounts and contacts and
// queues its event row.
func (b *ingestBatch) apply(writeKeyID string, m *Message) {
	contactID := m.UserID
	if contactID == "" {
		contactID = m.AnonymousID
	}
	switch m.Type {
	case "group":
		a := b.account(m.GroupID)
		a.traits = append(a.traits, m.Traits)
		if m.UserID != "" {
			b.contact(m.UserID).accountID = m.GroupID
		}
	case "identify":
		c := b.contact(contactID)
		c.traits = append(c.traits, m.Traits)
		if m.GroupID != "" {
			c.accountID = m.GroupID
		}
	}
	if m.GroupID != "" {
		a := b.account(m.GroupID)
		a.lastSeen = later(a.lastSeen, m.Timestamp)
	}
	if m.Type != "group" || m.UserID != "" {
		c := b.contact(contactID)
		c.lastSeen = later(c.lastSeen, m.Timestamp)
	}
	props := m.Properties
	if m.Type == "identify" || m.Type == "group" {
		props, _ = json.Marshal(m.Traits)
	}
	if len(props) == 0 {
		props = json.RawMessage("{}")
	}
	ctxJSON := m.Context
	if len(ctxJSON) == 0 {
		ctxJSON = json.RawMessage("{}")
	}
	integ := m.Integrations
	if len(integ) == 0 {
		integ = json.RawMessage("{}")
	}
	e := Event{
		MessageID: m.MessageID, Type: m.Type, Name: m.Name,
		UserID: m.UserID, AnonymousID: m.AnonymousID, AccountID: m.GroupID,
		Timestamp: m.Timestamp, ReceivedAt: m.ReceivedAt,
		Properties: props, Context: ctxJSON, Integrations: integ,
	}
	if !m.OriginalTimestamp.IsZero() {
		t := m.OriginalTimestamp
		e.OriginalTimestamp = &t
	}
	if !m.SentAt.IsZero() {
		t := m.SentAt
		e.SentAt = &t
	}
	b.rows = append(b.rows, e)
	b.writeKeys = append(b.writeKeys, writeKeyID)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// prepare readies the statements of full chunks, which recur exactly:
// parsing a multi-row insert of thousands of parameters costs more than
// executing it. It runs outside any transaction (the write pool has one
// connection, which a transaction would hold).
func (w *writer) prepare(ctx context.Context) error {
	s := w.s
	var queries []string
	if s.dialect.embedded() {
		if err := w.loadDedupe(ctx); err != nil {
			return err
		}
		if err := w.loadAccountIndex(ctx); err != nil {
			return err
		}
		w.eventsSQL, w.sharedEventsSQL = map[int]string{}, map[int]string{}
		for _, n := range eventChunkSizes {
			w.eventsSQL[n] = s.ingestEventsSQL(n)
			w.sharedEventsSQL[n] = s.ingestSharedEventsSQL(n)
			queries = append(queries, w.eventsSQL[n], w.sharedEventsSQL[n])
		}
		queries = append(queries, s.touchSQL("accounts", touchChunk), s.touchSQL("contacts", touchChunk),
			lookupRunSQL, s.insertRunSQL(mergeBlocks), s.mergeAccountsSQL(accountMergeChunk))
	} else {
		queries = append(queries, pgTouchSQL("accounts"), pgTouchSQL("contacts"), pgClaimSQL)
	}
	for _, q := range queries {
		st, err := s.write.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare ingestion statements: %w", err)
		}
		w.stmts[q] = st
	}
	return nil
}

func (b *ingestBatch) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st, ok := b.w.stmts[query]; ok {
		return b.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return b.tx.QueryContext(ctx, query, args...)
}

func (b *ingestBatch) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st, ok := b.w.stmts[query]; ok {
		return b.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return b.tx.ExecContext(ctx, query, args...)
}
