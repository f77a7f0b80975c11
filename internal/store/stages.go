package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moments-cs/moments/internal/vocab"
)

// The ingest stages (health, triggers, playbook wake-ups: the hooks given
// to OnIngest) run off the commit path. Ingest acknowledges a batch once
// its events are durable; the stage runner then reads the committed events
// in id order, in batches, runs every hook on them in one transaction and
// records, in that same transaction, the last event id it consumed
// (ingest_progress). A crash therefore neither skips an event's effects
// (the progress did not move) nor repeats them (they committed with the
// progress).
//
// Ordering. On SQLite the single writing connection serialises ingestion
// and the stage runner, so an id is visible once it is committed and every
// smaller id is too. On PostgreSQL ids come from a sequence and
// transactions may commit out of id order: a batch that drew smaller ids
// can commit after one that drew larger ones. Each ingestion transaction
// therefore holds a shared advisory lock (ingestLockKey) from before it
// draws its first id until it commits; before reading, the runner notes the
// sequence's last value and waits until every transaction that held that
// lock at that moment has finished, and reads no further than that value
// (horizon). A transaction that was drawing ids at that moment ends beyond
// the horizon: its events are left for a later round, which reads it whole
// (endsBeyond).
//
// Several servers. On PostgreSQL the events are split into shards by
// account (shards.go), each with its own progress row; every server runs a
// stage runner on the shards it leases, and a round locks the progress rows
// of the shards it consumes (FOR UPDATE SKIP LOCKED), so a shard's round is
// never done twice and the servers work on different shards at once. A
// server that dies loses its connection, its round rolls back, and once its
// leases expire another server's runner carries on with its shards from
// their recorded progress. Each round reads the events of its shards after
// the smallest of their progress, up to the same horizon, and hands each
// shard only the events after its own progress.

// progressName is the ingest_progress row of the ingest stages.
const progressName = "stages"

// ingestLockKey is the PostgreSQL advisory lock (shared by ingestion,
// waited for by the stage runner). Its value is arbitrary but fixed: every
// server must use the same one.
const ingestLockKey int64 = 0x6d6f6d656e7473 // "moments"

// ingestTxClass is the first key of the advisory lock each ingestion
// transaction also holds exclusively on (ingestTxClass, its backend's
// pid), taken before ingestLockKey: the stage runner waits for an
// ingestion transaction by asking for that lock, instead of polling
// pg_locks (which takes every lock manager partition's lock and so slowed
// the very transactions it waited for).
const ingestTxClass int32 = 0x6d6f6d65 // "mome"

// pgAnnounceSQL takes both ingestion locks: its own transaction's
// (ingestTxClass, the second parameter), then ingestLockKey (the first).
const pgAnnounceSQL = "SELECT pg_advisory_xact_lock($2, pg_backend_pid()), pg_advisory_xact_lock_shared($1)"

const (
	// stageBatch bounds the events one round hands to the hooks, so a
	// backlog is worked off in transactions short enough not to hold
	// SQLite's writer for long.
	stageBatch = 2000
	// stagePoll is how often a PostgreSQL runner looks for events that
	// other servers committed; events committed by this process wake it
	// at once.
	stagePoll = 50 * time.Millisecond
	// stageRetry is the pause after a failed round.
	stageRetry = time.Second
	// stageCatchUp bounds how long an ingestion transaction that changes
	// accounts or contacts waits for the stages to act on the ones before
	// it (waitFor).
	stageCatchUp = 5 * time.Second
)

// stageRunner runs the ingest hooks on committed events.
type stageRunner struct {
	s     *Store
	hooks []IngestHook
	// listens are the names the hooks act on at once (fastlane.go).
	listens []ListenedNames
	fast    fastLane
	wake    chan struct{}
	quit    chan struct{}
	done    chan struct{}
	start   sync.Once
	stop    sync.Once

	// id names this runner in its shards' leases (shards.go).
	id string

	mu sync.Mutex
	// shards are the shards leased (PostgreSQL), renewed at leasedAt.
	shards   []string
	leasedAt time.Time
	// started says whether the runner runs; consumed counts the events
	// and reattributions its rounds handed to the hooks.
	started  bool
	consumed int64
	// rounds is closed and replaced after every round, so WaitIdle can
	// wait for the next one.
	rounds chan struct{}
	// failing is the error of the last round when it failed.
	failing error
}

func newStageRunner(s *Store) *stageRunner {
	return &stageRunner{s: s, id: newRunnerID(), wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
		rounds: make(chan struct{})}
}

// StartIngestStages starts running the ingest hooks on committed events,
// beginning with any that a previous process committed but did not
// consume. Register every hook (OnIngest) first; without hooks it does
// nothing. Ingest and WaitIdle start the runner too, so calling it is only
// needed to work off a backlog before the first new event arrives.
func (s *Store) StartIngestStages() { s.stages.begin() }

// begin starts the runner once, and only when stages are registered: a
// store opened by a tool without them (moments import) must leave the
// events to the servers that run the stages, not consume them with none.
func (r *stageRunner) begin() {
	if len(r.hooks) == 0 {
		return
	}
	r.start.Do(func() {
		r.mu.Lock()
		r.started = true
		r.mu.Unlock()
		go r.loop()
	})
}

// notify wakes the runner: events were just committed.
func (r *stageRunner) notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// halt stops the runner after its current round; the events it did not
// consume are consumed by the next process.
func (r *stageRunner) halt() {
	r.stop.Do(func() { close(r.quit) })
	r.start.Do(func() { close(r.done) }) // never started: nothing to wait for
	<-r.done
}

func (r *stageRunner) loop() {
	defer close(r.done)
	defer r.releaseShards()
	// Only PostgreSQL polls: other servers may commit events there. An
	// embedded database has no writer but this process, whose commits
	// wake the runner.
	var poll <-chan time.Time
	if !r.s.dialect.embedded() {
		t := time.NewTicker(stagePoll)
		defer t.Stop()
		poll = t.C
	}
	var trimmed time.Time
	for {
		ctx := context.Background()
		r.refreshNames(ctx)
		n, err := r.round(ctx)
		r.mu.Lock()
		r.failing = err
		close(r.rounds)
		r.rounds = make(chan struct{})
		r.mu.Unlock()
		if err != nil {
			r.s.log.Error("ingest stages failed; the events stay queued and are retried", "err", err)
			if noPartition(err) { // a stage's own events (milestones) ran past the partitions
				if err := r.s.ensurePartitions(ctx, r.s.partitionSpan); err != nil {
					r.s.log.Error("could not create partitions of events", "err", err)
				}
			}
			select {
			case <-r.quit:
				return
			case <-time.After(stageRetry):
			}
			continue
		}
		if time.Since(trimmed) >= time.Second {
			if err := r.trimCommits(ctx); err != nil {
				r.s.log.Warn("ingest stages could not forget consumed ingestion transactions; retried", "err", err)
			}
			trimmed = time.Now()
		}
		if n > 0 {
			continue // maybe more behind
		}
		// Idle: fill the behaviour blocks from the events stored before
		// them, a chunk at a time, between rounds.
		if _, more, err := r.s.backfillChunk(context.Background(), false); err != nil {
			r.s.log.Error("filling the behaviour counts from stored events failed; retried when idle", "err", err)
		} else if more {
			continue
		}
		select {
		case <-r.quit:
			return
		case <-r.wake:
		case <-poll:
		}
	}
}

// changesState says whether a group of calls may change what the stages
// read besides the events: accounts' and contacts' traits, roles and links
// (identify, group and alias calls, or any call with traits).
func changesState(group []*ingestReq) bool {
	for _, r := range group {
		for i := range r.msgs {
			m := &r.msgs[i]
			switch {
			case len(m.Traits) > 0:
				return true
			case m.Type == "track" || m.Type == "page" || m.Type == "screen":
			default:
				return true
			}
		}
	}
	return false
}

// waitFor returns once the stages have consumed every event up to id, or
// after stageCatchUp, or at once when no stages run here or the last round
// failed. The stages read accounts' traits and contacts' roles as they are
// when they run, not as they were when an event arrived; an ingestion
// transaction that changes them therefore waits until the stages are past
// the transactions before it, so a milestone's condition, a trigger's
// condition and a sponsor change see each batch with the state it left.
// Calls that only add events (track, page, screen) never wait: the stages
// fall behind on them freely.
func (r *stageRunner) waitFor(ctx context.Context, id int64) {
	if len(r.hooks) == 0 {
		return
	}
	r.begin()
	deadline := time.NewTimer(stageCatchUp)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		next, failing := r.rounds, r.failing
		r.mu.Unlock()
		if failing != nil {
			return
		}
		var last int64
		if err := r.s.read.QueryRowContext(ctx, "SELECT "+stagesFloorSQL).Scan(&last); err != nil || last >= id {
			return
		}
		r.notify()
		select {
		case <-next:
		case <-time.After(stagePoll):
		case <-deadline.C:
			r.s.log.Warn("ingest stages are behind; committing a change to accounts or contacts before they caught up",
				"behind_from", last, "up_to", id)
			return
		case <-r.quit:
			return
		}
	}
}

// reattribution is one reattributed_events row.
type reattribution struct {
	id      int64
	eventID int64
	account string
	// after is the last event of the batch that linked the contact.
	after int64
	// shard is the shard of account.
	shard string
	event Event
}

// afterCommitKey carries a round's afterCommit list in the hooks' context.
type afterCommitKey struct{}

// afterCommit is what the hooks of one round asked to do once it commits.
type afterCommit struct{ fns []func(context.Context) }

// AfterCommit arranges for fn to run once the ingest stage round that ctx
// belongs to (the ctx given to an IngestHook) has committed, and reports
// whether it will; outside a round it reports false and never runs fn. A
// round that rolls back runs none of its functions: what they would act
// on was not written.
//
// The functions run on the stage runner, one after the other, before its
// next round: what they write is not queued behind another round of
// background events on SQLite's one writing connection. That is the point
// (a playbook's first task, visible at once) and the cost: a function must
// be short and must not wait for the stages (WaitIdle) or it deadlocks.
func AfterCommit(ctx context.Context, fn func(context.Context)) bool {
	a, ok := ctx.Value(afterCommitKey{}).(*afterCommit)
	if ok {
		a.fns = append(a.fns, fn)
	}
	return ok
}

// InStageRound reports whether ctx belongs to an ingest stage round (the
// ctx given to an IngestHook), where AfterCommit arranges work.
func InStageRound(ctx context.Context) bool {
	_, ok := ctx.Value(afterCommitKey{}).(*afterCommit)
	return ok
}

// round takes the runner's turn and consumes, in order, one batch of
// committed events, and returns how many events and reattributions it
// handed to the hooks or dropped; once it has committed, it runs what the
// hooks asked for with AfterCommit. Listened events this process committed
// go first (fastlane.go): when some are pending, the turn is theirs, and
// the ordinary batch waits for the next one.
func (r *stageRunner) round(ctx context.Context) (int, error) {
	began := time.Now()
	tx, prog, err := r.takeTurn(ctx, r.held(ctx))
	if err != nil || tx == nil {
		return 0, err
	}
	if ids := r.takePending(); len(ids) > 0 {
		n, err := thenAfterCommit(ctx, func(ctx context.Context) (int, error) { return r.consumeAhead(ctx, tx, prog, ids) })
		if n > 0 {
			return n, nil
		}
		if err != nil {
			// The listened events are left to the ordinary rounds.
			r.s.log.Warn("ingest stages could not take listened events ahead; they wait their turn", "err", err)
		}
		if err != nil || !r.s.dialect.embedded() {
			// On PostgreSQL the ordinary batch reads in a turn of its
			// own, with a horizon of its own, as it did before.
			tx.Rollback() //nolint:errcheck // the error that matters is the fast lane's
			if tx, prog, err = r.takeTurn(ctx, r.held(ctx)); err != nil || tx == nil {
				return 0, err
			}
		}
	}
	n, err := thenAfterCommit(ctx, func(ctx context.Context) (int, error) { return r.consume(ctx, tx, prog) })
	if err == nil {
		r.timed(n, time.Since(began))
	}
	return n, err
}

// thenAfterCommit runs consume with a list for AfterCommit in its context
// and, when it succeeded, the functions the hooks put there.
func thenAfterCommit(ctx context.Context, consume func(context.Context) (int, error)) (int, error) {
	after := &afterCommit{}
	n, err := consume(context.WithValue(ctx, afterCommitKey{}, after))
	if err != nil {
		return 0, err
	}
	for _, fn := range after.fns {
		fn(ctx)
	}
	return n, nil
}

// takeTurn begins a round's transaction and returns it with the progress
// of the shards it locked among names: on PostgreSQL the rounds of several
// servers (and a fast round) take turns on each shard's row, and a shard
// another round holds is skipped (SKIP LOCKED); without the lock two
// could consume the same events. No shard locked is no round.
func (r *stageRunner) takeTurn(ctx context.Context, names []string) (*sql.Tx, map[string]int64, error) {
	s := r.s
	if len(names) == 0 {
		return nil, nil, nil
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("begin: %w", err)
	}
	lock := ""
	if !s.dialect.embedded() {
		lock = " ORDER BY name FOR UPDATE SKIP LOCKED"
	}
	args := make([]any, len(names))
	for i, n := range names {
		args[i] = n
	}
	prog, err := func() (map[string]int64, error) {
		rows, err := tx.QueryContext(ctx, "SELECT name, last_event_id FROM ingest_progress WHERE name IN ("+
			s.dialect.placeholders(1, len(names))+")"+lock, args...)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		prog := make(map[string]int64, len(names))
		for rows.Next() {
			var n string
			var last int64
			if err := rows.Scan(&n, &last); err != nil {
				return nil, err
			}
			prog[n] = last
		}
		return prog, rows.Err()
	}()
	if err == nil && len(prog) == 0 && s.dialect.embedded() {
		err = sql.ErrNoRows
	}
	if err != nil || len(prog) == 0 {
		tx.Rollback() //nolint:errcheck // the error that matters is the read's
		if err != nil {
			return nil, nil, fmt.Errorf("read ingest stage progress: %w", err)
		}
		return nil, nil, nil
	}
	return tx, prog, nil
}

// lowest is the smallest progress of shards.
func lowest(prog map[string]int64) int64 {
	first := true
	var lo int64
	for _, v := range prog {
		if first || v < lo {
			lo, first = v, false
		}
	}
	return lo
}

// shardFilter restricts a read of events (alias a) or reattributions
// (their account column, when account) to the shards of prog; nothing on
// SQLite, whose one shard is every event.
func (r *stageRunner) shardFilter(expr string, prog map[string]int64, args []any) (string, []any) {
	if r.s.dialect.embedded() {
		return "", args
	}
	names := make([]string, 0, len(prog))
	for n := range prog {
		names = append(names, n)
	}
	slices.Sort(names)
	ph := r.s.dialect.placeholders(len(args)+1, len(names))
	for _, n := range names {
		args = append(args, n)
	}
	return " AND " + expr + " IN (" + ph + ")", args
}

// consume is an ordinary round's work in tx, the runner's turn with the
// progress prog of the shards it locked; it commits or rolls back tx.
func (r *stageRunner) consume(ctx context.Context, tx *sql.Tx, prog map[string]int64) (int, error) {
	s := r.s
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	last := lowest(prog)
	horizon, err := r.horizon(ctx, tx)
	if err != nil {
		return 0, err
	}
	limit := r.roundLimit()
	// A round reads the ids of every shard and keeps its own: the span
	// of ids grows with the shards not held, for about limit events.
	span := limit * len(s.dialect.allShards()) / len(prog)
	bounds, err := r.commitsAfter(ctx, tx, last, horizon, span)
	if err != nil {
		return 0, err
	}
	end, limited, partial := horizon, true, false
	if len(bounds) > 0 {
		// Whole ingestion transactions only: the round ends where one
		// ended.
		end, limited = bounds[len(bounds)-1], false
	} else if partial, err = r.endsBeyond(ctx, tx, horizon); err != nil {
		return 0, err
	}
	events, next, err := r.eventsAfter(ctx, tx, prog, last, end, limited, partial, limit)
	if err != nil {
		return 0, err
	}
	// Each shard is now past next (or further already).
	moved := map[string]bool{}
	for n, p := range prog {
		if next > p {
			moved[n] = true
		}
	}
	after := func(shard string) int64 { return max(prog[shard], next) }
	// Events the fast lane consumed already are not handed over again.
	ahead, err := consumedAhead(ctx, tx, last, next)
	if err != nil {
		return 0, err
	}
	// The behaviour counts follow the progress, not the hooks: they take
	// every event the round passes, those consumed ahead included.
	passed := events
	if len(ahead) > 0 {
		var mine []int64 // of this round's shards
		events = slices.DeleteFunc(slices.Clone(events), func(e Event) bool {
			if ahead[e.ID] {
				mine = append(mine, e.ID)
			}
			return ahead[e.ID]
		})
		if err := s.execIn(ctx, tx, "DELETE FROM ingest_fast_lane WHERE event_id IN ("+idsMarker+")", mine); err != nil {
			return 0, fmt.Errorf("record events consumed ahead as passed: %w", err)
		}
	}
	groups := splitByCommit(events, bounds)
	seen := make(map[int64]string, len(events)) // event id → account as consumed now
	for _, e := range events {
		seen[e.ID] = e.AccountID
	}
	// Reattributions are read after the events: one committed before the
	// events were read is then visible here too (the rule below depends
	// on it).
	reatt, err := r.reattributions(ctx, tx, prog)
	if err != nil {
		return 0, err
	}
	var done []int64
	var early []Event    // reattributions queued by a transaction consumed earlier
	var rebased []string // accounts handed events that their health bases may cover
	var handed []Event
	deferred := map[int64]bool{}
	for _, ra := range reatt {
		switch acct, inBatch := seen[ra.eventID]; {
		case ra.after > after(ra.shard):
			// The batch that linked the contact is not consumed yet: the
			// reattribution follows its events.
			deferred[ra.eventID] = true
			continue
		case inBatch && acct != "":
			// Consumed in this round with its account already.
			done = append(done, ra.id)
		default:
			// Consumed earlier (or in this round) without an account: news
			// for the account now, right after the events of the
			// transaction that linked the contact, as when the stages ran
			// inside it.
			if g := groups.find(ra.after); g != nil {
				g.events, g.reattributed = append(g.events, ra.event), true
			} else {
				early = append(early, ra.event)
			}
			handed = append(handed, ra.event)
			done = append(done, ra.id)
			rebased = append(rebased, ra.event.AccountID)
		}
	}
	if len(moved) == 0 && len(done) == 0 {
		return 0, nil
	}
	if len(early) > 0 {
		groups = append(stageGroups{{end: last, events: early, reattributed: true}}, groups...)
	}
	// The hooks see the round's events in commit order, all stages on one
	// batch of ingestion transactions that share no account or contact,
	// then all on the next (batches).
	for _, events := range groups.batches() {
		for _, h := range r.hooks {
			if err := h(ctx, tx, events); err != nil {
				return 0, fmt.Errorf("ingest stage: %w", err)
			}
		}
	}
	// An event consumed earlier without an account has an id that a health
	// base of the account it now joins may cover, built while the
	// reattribution was queued (recomputes read no queued event): the
	// account is rebuilt from all its events by the next recompute. Done
	// here, after the hooks wrote the account's health, so that a recompute
	// writing the account at the same time either sees the new version
	// (and rebuilds it without the base) or commits its base first.
	for _, id := range sortedUnique(rebased) {
		if err := s.forgetHealthBase(ctx, tx, id); err != nil {
			return 0, err
		}
	}
	if err := s.countBehavioursTx(ctx, tx, passed, deferred, handed); err != nil {
		return 0, err
	}
	if len(moved) > 0 {
		// Every shard moved is now at next: one statement for all of them
		// (on PostgreSQL a round holds up to sixteen).
		names := slices.Sorted(maps.Keys(moved))
		args := []any{next, micros(s.now())}
		for _, n := range names {
			args = append(args, n)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE ingest_progress SET last_event_id = $1, updated_at = $2 WHERE name IN ("+
			s.dialect.placeholders(3, len(names))+")", args...); err != nil {
			return 0, fmt.Errorf("record ingest stage progress: %w", err)
		}
	}
	if err := s.execIn(ctx, tx, "DELETE FROM reattributed_events WHERE id IN ("+idsMarker+")", done); err != nil {
		return 0, fmt.Errorf("record consumed reattribution: %w", err)
	}
	if err := r.renewLocked(ctx, tx, prog); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("commit ingest stages: %w", err)
	}
	r.mu.Lock()
	r.consumed += int64(len(events) + len(handed))
	r.mu.Unlock()
	// Any progress counts as work: the loop goes on while there is some.
	return max(len(passed)+len(done), min(len(moved), 1)), nil
}

// horizon is the largest event id the runner may read: every event with an
// id up to it is committed or never will be. On SQLite that is every id.
func (r *stageRunner) horizon(ctx context.Context, tx *sql.Tx) (int64, error) {
	if r.s.dialect.embedded() {
		return 1<<63 - 1, nil
	}
	var last int64
	var called bool
	if err := tx.QueryRowContext(ctx, "SELECT last_value, is_called FROM events_id_seq").Scan(&last, &called); err != nil {
		return 0, fmt.Errorf("read event sequence: %w", err)
	}
	if !called {
		return 0, nil
	}
	// Any transaction that drew an id up to last holds the lock already
	// (it takes it before drawing) or has finished.
	hi, lo := ingestLockKey>>32, ingestLockKey&0xffffffff
	rows, err := tx.QueryContext(ctx, `SELECT l.virtualtransaction, l.pid, EXISTS (SELECT 1 FROM pg_locks k
			WHERE k.locktype = 'advisory' AND k.classid = $3 AND k.objid::bigint = l.pid AND k.objsubid = 2 AND k.granted
				AND k.virtualtransaction = l.virtualtransaction)
		FROM pg_locks l WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 1 AND l.granted`,
		hi, lo, int64(ingestTxClass))
	if err != nil {
		return 0, fmt.Errorf("list ingestion transactions: %w", err)
	}
	var inflight []string
	var pids []int32
	for rows.Next() {
		var (
			v    string
			pid  int32
			mine bool
		)
		if err := rows.Scan(&v, &pid, &mine); err != nil {
			rows.Close()
			return 0, err
		}
		if mine {
			pids = append(pids, pid)
		} else {
			// A transaction of a server that does not take its own lock
			// (an older version): polled below.
			inflight = append(inflight, v)
		}
	}
	if err := closeRows(rows); err != nil {
		return 0, err
	}
	if len(pids) > 0 {
		// Each granted once the transaction that held it ends (or at once if
		// it has), and given back at once: the locks are only waited on, one
		// after the other, in one statement.
		if _, err := tx.ExecContext(ctx, "SELECT count(*) FROM (SELECT pg_advisory_lock_shared($1, p), pg_advisory_unlock_shared($1, p) "+
			"FROM unnest($2::int[]) AS p) waited", ingestTxClass, pids); err != nil {
			return 0, fmt.Errorf("wait for ingestion transactions: %w", err)
		}
	}
	for len(inflight) > 0 {
		var still int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
			AND classid = $1 AND objid = $2 AND objsubid = 1 AND virtualtransaction = ANY($3)`, hi, lo, inflight).Scan(&still); err != nil {
			return 0, fmt.Errorf("wait for ingestion transactions: %w", err)
		}
		if still == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return last, nil
}

// endsBeyond says whether an ingestion transaction ending after horizon
// has committed. On PostgreSQL the horizon is the sequence's value when the
// round began, and a transaction that was drawing ids then has committed
// since (the round waited for it): its first events are at or below the
// horizon and its mark above it. A round that found no mark within the
// horizon must then not take those first events on their own, or the
// hooks would see one transaction's events in two rounds.
func (r *stageRunner) endsBeyond(ctx context.Context, tx *sql.Tx, horizon int64) (bool, error) {
	if r.s.dialect.embedded() {
		return false, nil // the horizon is every id
	}
	var beyond bool
	if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM ingest_commits WHERE last_event_id > $1)", horizon).
		Scan(&beyond); err != nil {
		return false, fmt.Errorf("read committed ingestion transactions: %w", err)
	}
	return beyond, nil
}

// commitsAfter lists where the ingestion transactions committed after last
// (up to horizon) end, as many as make up about one batch (limit event
// ids) but at least one.
func (r *stageRunner) commitsAfter(ctx context.Context, tx *sql.Tx, last, horizon int64, limit int) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, "SELECT last_event_id FROM ingest_commits WHERE last_event_id > $1 AND last_event_id <= $2 "+
		"ORDER BY last_event_id LIMIT "+strconv.Itoa(limit), last, horizon)
	if err != nil {
		return nil, fmt.Errorf("read committed ingestion transactions: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		if len(out) > 0 && id-last > int64(limit) {
			break
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// eventsAfter reads the committed events of the shards of prog after last
// (the smallest of their progress), up to end (at most limit of them when
// limited), and returns those to hand to the stages with the id up to
// which it read every event of those shards. A shard is handed only the
// events after its own progress. Events Moments records itself in the
// stages' own transactions (a milestone reached) are passed over: they
// are effects, which the stages must not see again as news. When partial,
// the events up to end belong to no transaction whose end the round read
// (endsBeyond) and the reading stops before the first that is news: it
// is the start of a transaction that ends beyond end, read whole by a
// later round.
func (r *stageRunner) eventsAfter(ctx context.Context, tx *sql.Tx, prog map[string]int64, last, end int64, limited, partial bool,
	limit int) ([]Event, int64, error) {
	filter, args := r.shardFilter(r.s.dialect.eventShardSQL("events"), prog, []any{last, end})
	q := "SELECT " + r.s.dialect.eventShardSQL("events") + ", write_key_id, " + eventCols + " FROM events WHERE id > $1 AND id <= $2" +
		filter + " ORDER BY id"
	if limited {
		q += " LIMIT " + strconv.Itoa(limit)
	}
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("read committed events: %w", err)
	}
	defer rows.Close()
	var out []Event
	read, stopped, next := 0, false, last
	for rows.Next() {
		var key, shard string
		e, err := scanEvent(prefixed{rows, []any{&shard, &key}})
		if err != nil {
			return nil, 0, err
		}
		read++
		if e.ID <= prog[shard] {
			next = e.ID
			continue // this shard is past it
		}
		news := !recordedByStages(key, e.Name)
		if news && partial {
			stopped = true
			break
		}
		next = e.ID
		if news {
			out = append(out, e)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	// Every event of these shards up to end was read unless the reading
	// stopped or hit the limit. SQLite's horizon is no event id: there the
	// round is past the last event read.
	if !stopped && (!limited || read < limit) && !r.s.dialect.embedded() {
		next = end
	}
	if !limited && !stopped {
		next = end
	}
	return out, next, nil
}

// recordedByStages says whether an event is one the ingest stages wrote
// themselves (a milestone reached, recorded by RecordMilestonesTx).
// Moments' other events of its own (a survey answer taken on the answer
// page) are ingested like any other and are news to the stages.
func recordedByStages(writeKey, name string) bool {
	return writeKey == SystemWriteKey && name == vocab.EventMilestoneReached
}

// stageGroup is the events of one ingestion transaction, up to the id its
// events end at, followed by the reattributions it queued (reattributed).
type stageGroup struct {
	end          int64
	events       []Event
	reattributed bool
}

type stageGroups []stageGroup

// batches joins the events of consecutive groups into the batches the
// hooks are handed: a group joins the batch before it when none of its
// accounts and contacts is in that batch, and a group that ends with
// reattributions ends its batch (so they stay right after the events of
// the transaction that linked their contact). Joined so, every account and
// contact is handed exactly the events of one ingestion transaction, as
// one at a time would hand them: what depends on a transaction's extent
// (a condition milestone's date, the health a trigger reads) is the same.
// What is saved is each hook call's own cost (reading the map's model,
// the segments, the statements per call), paid per transaction while a
// round of background traffic holds dozens of small transactions.
func (gs stageGroups) batches() [][]Event {
	var out [][]Event
	var cur []Event
	accounts, contacts := map[string]bool{}, map[string]bool{} // of cur
	overlaps := func(events []Event) bool {
		for i := range events {
			if accounts[events[i].AccountID] || (events[i].UserID != "" && contacts[events[i].UserID]) {
				return true
			}
		}
		return false
	}
	flush := func() {
		if len(cur) > 0 {
			out = append(out, cur)
		}
		cur = nil
		clear(accounts)
		clear(contacts)
	}
	for _, g := range gs {
		if len(g.events) == 0 {
			continue
		}
		if overlaps(g.events) {
			flush()
		}
		if cur == nil {
			cur = g.events[:len(g.events):len(g.events)] // appending copies
		} else {
			cur = append(cur, g.events...)
		}
		for i := range g.events {
			accounts[g.events[i].AccountID] = true
			if g.events[i].UserID != "" {
				contacts[g.events[i].UserID] = true
			}
		}
		if g.reattributed {
			flush()
		}
	}
	flush()
	return out
}

// find returns the group of the transaction that ended at end, or nil.
func (gs stageGroups) find(end int64) *stageGroup {
	i := sort.Search(len(gs), func(i int) bool { return gs[i].end >= end })
	if i < len(gs) && gs[i].end == end {
		return &gs[i]
	}
	return nil
}

// splitByCommit cuts events (in id order) at the ends of the ingestion
// transactions (ascending). Events after the last end, which no
// transaction marked, form one group of their own.
func splitByCommit(events []Event, bounds []int64) stageGroups {
	groups := make(stageGroups, 0, len(bounds)+1)
	for _, b := range bounds {
		groups = append(groups, stageGroup{end: b})
	}
	i := 0
	for _, e := range events {
		for i < len(bounds) && e.ID > bounds[i] {
			i++
		}
		if i < len(bounds) {
			groups[i].events = append(groups[i].events, e)
			continue
		}
		if len(groups) == len(bounds) {
			groups = append(groups, stageGroup{})
		}
		tail := &groups[len(groups)-1]
		tail.events, tail.end = append(tail.events, e), e.ID
	}
	return groups
}

// markCommit records where this ingestion transaction's events end
// (ingest_commits), so the stages can hand them to the hooks together.
func (b *ingestBatch) markCommit(ctx context.Context) error {
	end := b.lastID()
	if end == 0 {
		return nil
	}
	if _, err := b.tx.ExecContext(ctx, "INSERT INTO ingest_commits (last_event_id) VALUES ($1)", end); err != nil {
		return fmt.Errorf("mark the ingestion transaction: %w", err)
	}
	return nil
}

// lastID is the largest id of the events this transaction stored, 0 when
// it stored none.
func (b *ingestBatch) lastID() int64 {
	var end int64
	for i := range b.rows {
		end = max(end, b.rows[i].ID)
	}
	return end
}

// reattributions reads the queued reattributions of the shards of prog
// (the shard of the account the event joined).
func (r *stageRunner) reattributions(ctx context.Context, tx *sql.Tx, prog map[string]int64) ([]reattribution, error) {
	cols := strings.Split(eventCols, ", ")
	for i := range cols {
		cols[i] = "e." + cols[i]
	}
	shard := r.s.dialect.accountShardSQL("r.account_id")
	filter, args := r.shardFilter(shard, prog, nil)
	rows, err := tx.QueryContext(ctx, "SELECT r.id, r.after_event_id, "+shard+", "+strings.Join(cols, ", ")+
		" FROM reattributed_events r JOIN events e ON e.id = r.event_id WHERE TRUE"+filter+" ORDER BY r.id LIMIT "+strconv.Itoa(stageBatch), args...)
	if err != nil {
		return nil, fmt.Errorf("read reattributed events: %w", err)
	}
	defer rows.Close()
	var out []reattribution
	for rows.Next() {
		var ra reattribution
		e, err := scanEvent(prefixed{rows, []any{&ra.id, &ra.after, &ra.shard}})
		if err != nil {
			return nil, err
		}
		ra.eventID, ra.event = e.ID, e
		out = append(out, ra)
	}
	return out, rows.Err()
}

// prefixed scans a row whose first columns go to lead and the rest to the
// scanner's destinations.
type prefixed struct {
	rows *sql.Rows
	lead []any
}

func (p prefixed) Scan(dest ...any) error {
	return p.rows.Scan(append(p.lead[:len(p.lead):len(p.lead)], dest...)...)
}

// IngestLag says how far the ingest stages are behind ingestion.
type IngestLag struct {
	// Events counts committed events (and reattributions) whose health,
	// trigger and wake-up effects are not yet stored (see Estimated).
	Events int64
	// Estimated says that Events is partly estimated: the events with ids
	// more than lagCountCap past the stages' progress are taken from
	// their ids, not counted.
	Estimated bool
	// Seconds is how long the oldest of them has been waiting (received
	// to now); 0 when none is.
	Seconds float64
	// LastError is the error of the last failed round, "" when the last
	// round succeeded.
	LastError string
	// Shards are the shards this server's runner holds (PostgreSQL;
	// "stages" on SQLite once the runner runs), and Consumed how many
	// events and reattributions it handed to the hooks since it started.
	Shards   []string
	Consumed int64
}

// lagCountCap bounds the events behind that IngestLag counts one by one:
// those with the lowest ids past the stages' progress; the events with
// ids beyond are estimated from their ids, so that measuring a backlog of
// any size costs about the same. (Counting a million on PostgreSQL took
// 0.35–0.5 s a call, 0.2–0.3 s of it the JIT compiling the scan: on every
// /healthz and /metrics scrape while the stages were furthest behind.)
const lagCountCap = 100_000

// IngestLag measures how far the ingest stages are behind: over every
// shard, the events after their shard's progress.
func (s *Store) IngestLag(ctx context.Context) (IngestLag, error) {
	return s.ingestLag(ctx, lagCountCap)
}

// ingestLag is IngestLag counting the events of at most limit ids one by
// one.
func (s *Store) ingestLag(ctx context.Context, limit int64) (IngestLag, error) {
	var lag IngestLag
	q := Querier(s.read)
	if !s.dialect.embedded() {
		tx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return lag, err
		}
		defer tx.Rollback() //nolint:errcheck // read only
		if _, err := tx.ExecContext(ctx, "SET LOCAL jit = off"); err != nil {
			return lag, fmt.Errorf("count events behind: %w", err)
		}
		q = tx
	}
	last, behind, err := s.stagesFloor(ctx, q)
	if err != nil {
		return lag, err
	}
	var newest, pending int64
	if err := q.QueryRowContext(ctx, "SELECT (SELECT COALESCE(MAX(id), 0) FROM events), (SELECT count(*) FROM reattributed_events)").
		Scan(&newest, &pending); err != nil {
		return lag, fmt.Errorf("count events behind: %w", err)
	}
	upto := min(newest, last+limit)
	if err := q.QueryRowContext(ctx, "SELECT count(*) FROM events WHERE id > $1 AND id <= $2"+behind, last, upto).Scan(&lag.Events); err != nil {
		return lag, fmt.Errorf("count events behind: %w", err)
	}
	if newest > upto {
		// Every id past those counted is taken as an event behind:
		// events there that a shard ahead of the others has consumed, and
		// ids PostgreSQL drew for transactions that rolled back, make the
		// estimate a little high.
		lag.Events += newest - upto
		lag.Estimated = true
	}
	lag.Events += pending
	if lag.Events > 0 {
		var recv sql.NullInt64
		if err := q.QueryRowContext(ctx, "SELECT received_at FROM events WHERE id > $1"+behind+" ORDER BY id LIMIT 1", last).Scan(&recv); err != nil &&
			!errors.Is(err, sql.ErrNoRows) {
			return lag, fmt.Errorf("read oldest event behind: %w", err)
		}
		if recv.Valid {
			lag.Seconds = max(0, s.now().Sub(fromMicros(recv.Int64)).Seconds())
		}
	}
	s.stages.mu.Lock()
	if s.stages.failing != nil {
		lag.LastError = s.stages.failing.Error()
	}
	s.stages.mu.Unlock()
	lag.Shards, lag.Consumed = s.StageShards()
	return lag, nil
}

// stagesFloor returns the smallest progress of the stages' shards and the
// condition (on events) that an event after it is not consumed yet.
func (s *Store) stagesFloor(ctx context.Context, q Querier) (int64, string, error) {
	var last int64
	if err := q.QueryRowContext(ctx, "SELECT "+stagesFloorSQL).Scan(&last); err != nil {
		return 0, "", fmt.Errorf("read ingest stage progress: %w", err)
	}
	behind := ""
	if !s.dialect.embedded() {
		behind = " AND NOT " + s.dialect.consumedSQL("events")
	}
	return last, behind, nil
}

// stagesBehind says whether any committed event or reattribution waits
// for the ingest stages: IngestLag's count without counting, which WaitIdle
// asks after every round.
func (s *Store) stagesBehind(ctx context.Context) (bool, error) {
	last, behind, err := s.stagesFloor(ctx, s.read)
	if err != nil {
		return false, err
	}
	var waiting bool
	if err := s.read.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM events WHERE id > $1"+behind+
		") OR EXISTS (SELECT 1 FROM reattributed_events)", last).Scan(&waiting); err != nil {
		return false, fmt.Errorf("look for events behind: %w", err)
	}
	return waiting, nil
}

// WaitIdle returns once the ingest stages have consumed every event
// committed before the call (their health, triggers and wake-ups are
// stored), or with ctx's error. Tests and tools that ingest and then read
// derived state call it instead of sleeping.
func (s *Store) WaitIdle(ctx context.Context) error {
	if len(s.stages.hooks) == 0 {
		return nil // no stages to wait for
	}
	s.stages.begin()
	for {
		s.stages.mu.Lock()
		next := s.stages.rounds
		s.stages.mu.Unlock()
		behind, err := s.stagesBehind(ctx)
		if err != nil {
			return err
		}
		if !behind {
			return nil
		}
		s.stages.notify()
		select {
		case <-ctx.Done():
			lag, _ := s.IngestLag(context.WithoutCancel(ctx))
			return fmt.Errorf("waiting for the ingest stages (%d events behind): %w", lag.Events, ctx.Err())
		case <-next:
		case <-time.After(stagePoll):
		}
	}
}
