package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The fast lane. The stages consume committed events in id order, in
// rounds of up to stageBatch events; while the server ingests thousands of
// events a second, an event a moment listens to would wait for the round
// in progress and then for its own, behind the background traffic that
// arrived before it. Instead, when this process commits an event whose
// name a trigger or a wait listens to (OnIngestListen), the runner hands
// it to the stages on its own right after the round in progress, ahead of
// its progress, provided that nothing of the same account or contact
// before it is still unconsumed (each account's events stay in order) and
// no reattribution is queued. The event's effects and a row of
// ingest_fast_lane commit in one transaction; the ordinary round that
// later reaches the event skips it and deletes the row, in its own. So an
// event's effects still happen exactly once, whatever crashes in between.
//
// While anything listens, rounds on SQLite are also kept short
// (stageTarget), so the round in progress that a listened event waits for
// on the one writing connection is short too.
//
// Priority. The fast lane goes first at the runner's next turn on the
// progress (takeTurn), whatever that turn was for: an ordinary round that
// was waiting for the writing connection when the listened event
// committed hands its turn to the fast lane, then waits for the next. And
// on SQLite, where the runner and the committer share one writing
// connection, the committer lets the runner take it first (yield) while
// listened events it committed wait for their turn: otherwise the next
// ingestion transaction, its group already gathered, would usually win
// the connection, and the listened event would wait for it to write and
// commit its hundreds of rows.

const (
	// fastMax bounds the events one fast round takes.
	fastMax = 100
	// fastWindow is how far ahead of the stages' progress an event may
	// be for the fast lane: further behind, checking the events before it
	// would cost more than the lane saves, and the event waits its turn.
	fastWindow = 50_000
	// listenRefresh is how often the names the hooks listen to are read
	// again (a wait starting, the journey map changing).
	listenRefresh = time.Second
	// stageTarget is how long a round should take while anything
	// listens; stageMin is the fewest events a round then takes, so
	// rounds do not become too small to keep up.
	stageTarget = 20 * time.Millisecond
	stageMin    = 200
	// fastYield bounds how long SQLite's committer lets the runner go
	// first (yield): a runner held up elsewhere must not stall ingestion.
	fastYield = 50 * time.Millisecond
)

// ListenedNames returns the event names an ingest stage acts on at once
// (a trigger's events, a waiting step's event).
type ListenedNames func(ctx context.Context) ([]string, error)

// OnIngestListen registers the names a hook listens to, for the fast
// lane. Register before the first Ingest.
func (s *Store) OnIngestListen(f ListenedNames) { s.stages.listens = append(s.stages.listens, f) }

// fastLane is the runner's state for the fast lane.
type fastLane struct {
	mu sync.Mutex
	// names are the listened names, nil until first read.
	names   map[string]bool
	namesAt time.Time
	// pending are the ids of listened events this process committed
	// and the fast lane has not looked at yet.
	pending []int64
	// limit is the size of the next ordinary round.
	limit int
	// turn is closed once the runner, holding its turn, has taken the
	// pending ids (takePending); nil while none are pending.
	turn chan struct{}
	// incoming is closed once SQLite's committer, committing a
	// transaction with listened events (expect), has offered them or
	// failed; nil otherwise.
	incoming chan struct{}
}

// expect tells the runner, before SQLite's committer commits rows, that
// listened events are about to be offered: the runner, which may get the
// writing connection as soon as the commit releases it, waits for them
// (takePending) instead of starting an ordinary round without them. The
// committer calls offer after the commit, or offer(nil) when it failed.
func (r *stageRunner) expect(rows []Event) {
	f := &r.fast
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.incoming == nil && slices.ContainsFunc(rows, f.listened) {
		f.incoming = make(chan struct{})
	}
}

// listened says whether the fast lane takes e; f.mu is held.
func (f *fastLane) listened(e Event) bool { return e.AccountID != "" && f.names[e.Name] }

// offer queues the listened events of a committed ingestion transaction
// for the fast lane.
func (r *stageRunner) offer(rows []Event) {
	f := &r.fast
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.incoming != nil {
		close(f.incoming)
		f.incoming = nil
	}
	if len(f.names) == 0 {
		return
	}
	for i := range rows {
		if f.listened(rows[i]) && len(f.pending) < 10*fastMax {
			f.pending = append(f.pending, rows[i].ID)
		}
	}
	if len(f.pending) > 0 && f.turn == nil {
		f.turn = make(chan struct{})
	}
}

// takePending returns the listened events waiting for the fast lane and
// lets a committer that yields to them go on. The runner calls it holding
// its turn (on SQLite, the writing connection).
func (r *stageRunner) takePending() []int64 {
	f := &r.fast
	f.mu.Lock()
	defer f.mu.Unlock()
	if in := f.incoming; in != nil && len(f.pending) == 0 {
		// On SQLite this turn began once the commit had released the
		// connection: the offer is a moment away.
		f.mu.Unlock()
		select {
		case <-in:
		case <-time.After(fastYield):
		}
		f.mu.Lock()
	}
	ids := f.pending
	f.pending = nil
	if f.turn != nil {
		close(f.turn)
		f.turn = nil
	}
	return ids
}

// yield is called by SQLite's committer before it takes the writing
// connection: while listened events it committed wait for the fast lane,
// it waits until the runner holds the connection with them in hand, for at
// most fastYield, so that they are not queued behind another ingestion
// transaction. It does not wait while the stages are failing or stopped.
func (r *stageRunner) yield() {
	f := &r.fast
	f.mu.Lock()
	turn := f.turn
	f.mu.Unlock()
	if turn == nil {
		return
	}
	r.mu.Lock()
	failing := r.failing
	r.mu.Unlock()
	if failing != nil {
		return
	}
	r.notify()
	t := time.NewTimer(fastYield)
	defer t.Stop()
	select {
	case <-turn:
	case <-t.C:
	case <-r.quit:
	}
}

// refreshNames reads the listened names again when they are stale.
func (r *stageRunner) refreshNames(ctx context.Context) {
	f := &r.fast
	f.mu.Lock()
	stale := len(r.listens) > 0 && time.Since(f.namesAt) >= listenRefresh
	f.mu.Unlock()
	if !stale {
		return
	}
	names := map[string]bool{}
	for _, l := range r.listens {
		ns, err := l(ctx)
		if err != nil {
			r.s.log.Warn("cannot read the event names moments listen to; events wait their turn meanwhile", "err", err)
			names = nil
			break
		}
		for _, n := range ns {
			names[n] = true
		}
	}
	f.mu.Lock()
	f.names, f.namesAt = names, time.Now()
	f.mu.Unlock()
}

// roundLimit is how many events the next ordinary round takes.
func (r *stageRunner) roundLimit() int {
	f := &r.fast
	f.mu.Lock()
	defer f.mu.Unlock()
	// On PostgreSQL rounds stay large: each one waits for the ingestion
	// transactions in flight (horizon), and smaller ones would fall behind.
	if len(f.names) == 0 || f.limit == 0 || !r.s.dialect.embedded() {
		return stageBatch
	}
	return f.limit
}

// timed notes how long an ordinary round of n events took, to size the
// next one.
func (r *stageRunner) timed(n int, d time.Duration) {
	if n < stageMin || d <= 0 {
		return
	}
	f := &r.fast
	f.mu.Lock()
	f.limit = min(stageBatch, max(stageMin, int(float64(n)*float64(stageTarget)/float64(d))))
	f.mu.Unlock()
}

// consumeAhead hands the listened events among ids that may go ahead to
// the stages, in tx, the runner's turn with the progress prog of the
// shards it locked (on PostgreSQL only the shards this server holds:
// another server's listened events wait their turn there). When it handed
// any over it has committed tx and returns how many; when none may go
// ahead it returns 0 with tx open and unwritten, for the ordinary round.
// On an error the caller rolls tx back; the ids are dropped either way:
// the ordinary rounds consume them in their turn.
func (r *stageRunner) consumeAhead(ctx context.Context, tx *sql.Tx, prog map[string]int64, ids []int64) (int, error) {
	last := lowest(prog)
	var queued int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM reattributed_events").Scan(&queued); err != nil {
		return 0, fmt.Errorf("read reattributed events: %w", err)
	}
	if queued > 0 {
		return 0, nil // the ordinary rounds place reattributions among the events
	}
	horizon, err := r.horizon(ctx, tx)
	if err != nil {
		return 0, err
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	var in []string
	for _, id := range ids {
		if id > last && id <= horizon && id-last <= fastWindow && len(in) < fastMax {
			in = append(in, strconv.FormatInt(id, 10))
		}
	}
	if len(in) == 0 {
		return 0, nil
	}
	filter, args := r.shardFilter(r.s.dialect.eventShardSQL("events"), prog, nil)
	rows, err := tx.QueryContext(ctx, "SELECT "+r.s.dialect.eventShardSQL("events")+", write_key_id, "+eventCols+
		" FROM events WHERE id IN ("+strings.Join(in, ", ")+") AND id NOT IN (SELECT event_id FROM ingest_fast_lane)"+filter+
		" ORDER BY id", args...)
	if err != nil {
		return 0, fmt.Errorf("read listened events: %w", err)
	}
	var events []Event
	var shards []string
	for rows.Next() {
		var key, shard string
		e, err := scanEvent(prefixed{rows, []any{&shard, &key}})
		if err != nil {
			rows.Close()
			return 0, err
		}
		if !recordedByStages(key, e.Name) && e.AccountID != "" && e.ID > prog[shard] && e.ID-prog[shard] <= fastWindow {
			events = append(events, e)
			shards = append(shards, shard)
		}
	}
	if err := closeRows(rows); err != nil {
		return 0, err
	}
	var ahead []Event
	// An event that may not go ahead stays unconsumed, so every later
	// event of its account or of its contact may not either: they are
	// passed over without asking the database again (a round trip each on
	// PostgreSQL, where a burst of one account's listened events otherwise
	// cost two queries apiece).
	blocked := map[string]bool{}
	for i, e := range events {
		if blocked["a\x00"+e.AccountID] || (e.UserID != "" && blocked["u\x00"+e.UserID]) {
			continue
		}
		ok, err := r.inOrder(ctx, tx, prog[shards[i]], e)
		if err != nil {
			return 0, err
		}
		if !ok {
			blocked["a\x00"+e.AccountID] = true
			if e.UserID != "" {
				blocked["u\x00"+e.UserID] = true
			}
			continue
		}
		// Recorded before the next event's check, which then counts this
		// one as consumed.
		if _, err := tx.ExecContext(ctx, "INSERT INTO ingest_fast_lane (event_id) VALUES ($1)", e.ID); err != nil {
			return 0, fmt.Errorf("record an event consumed ahead: %w", err)
		}
		ahead = append(ahead, e)
	}
	if len(ahead) == 0 {
		return 0, nil
	}
	for _, h := range r.hooks {
		if err := h(ctx, tx, ahead); err != nil {
			return 0, fmt.Errorf("ingest stage: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("commit ingest stages: %w", err)
	}
	return len(ahead), nil
}

// inOrder says whether e may be consumed now: no event of its account or
// of its contact between the stages' progress (last) and e is still
// unconsumed.
func (r *stageRunner) inOrder(ctx context.Context, tx *sql.Tx, last int64, e Event) (bool, error) {
	const unconsumed = " AND id > $1 AND id < $2 AND id NOT IN (SELECT event_id FROM ingest_fast_lane)"
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1 FROM events WHERE "+
		r.s.dialect.byAccount("account_id = $3 AND id > $1 AND id < $2")+unconsumed+" LIMIT 1) x",
		last, e.ID, e.AccountID).Scan(&n); err != nil {
		return false, fmt.Errorf("check the account's earlier events: %w", err)
	}
	if n > 0 || e.UserID == "" {
		return n == 0, nil
	}
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1 FROM events WHERE user_id = $3"+unconsumed+" LIMIT 1) x",
		last, e.ID, e.UserID).Scan(&n); err != nil {
		return false, fmt.Errorf("check the contact's earlier events: %w", err)
	}
	return n == 0, nil
}

// consumedAhead returns the events after last up to end that the fast lane
// consumed, for the ordinary round to skip.
func consumedAhead(ctx context.Context, tx *sql.Tx, last, end int64) (map[int64]bool, error) {
	rows, err := tx.QueryContext(ctx, "SELECT event_id FROM ingest_fast_lane WHERE event_id > $1 AND event_id <= $2", last, end)
	if err != nil {
		return nil, fmt.Errorf("read events consumed ahead: %w", err)
	}
	defer rows.Close()
	var out map[int64]bool
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		if out == nil {
			out = map[int64]bool{}
		}
		out[id] = true
	}
	return out, rows.Err()
}
