package tracker

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moments-cs/moments/internal/health"
	"github.com/moments-cs/moments/internal/store"
)

// Stats say what a recompute did.
type Stats struct {
	Accounts int   `json:"accounts"`
	Events   int64 `json:"events"`
	// Redone counts accounts rebuilt a second time because events arrived
	// for them while they were being rebuilt.
	Redone int `json:"redone"`
	// Rebuilt counts accounts rebuilt from all their events, for want of a
	// base built under the health model in force.
	Rebuilt    int           `json:"rebuilt"`
	Milestones int           `json:"milestones"`
	Duration   time.Duration `json:"duration"`
}

// recomputePage is the accounts written per transaction: small enough
// that ingestion waits at most some tens of milliseconds for the write
// lock, large enough that the per-statement costs stay small.
const recomputePage = 500

// recomputeInMemory bounds the accounts rebuilt in memory at once (an
// aggregate under construction takes about 1–3 KB, more for accounts with
// many active users). An installation with more accounts is recomputed in
// passes of this many, each reading the events table once.
const recomputeInMemory = 200_000

// scanned is an event read by a recompute, with the rebuild it goes to.
type scanned struct {
	r *rebuild
	e store.HealthEvent
}

// scanBatch is the events handed from the reader to an applier at a time.
const scanBatch = 1024

// OnQuadrantDrop registers f, called for every account whose quadrant gets
// worse in a recompute (see QuadrantDrop). Register before Start.
func (t *Tracker) OnQuadrantDrop(f QuadrantDrop) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.drops = append(t.drops, f)
}

// Recompute brings every account's aggregate up to date with all its
// stored events, rescores it at the current time and writes its state and
// today's trend row.
//
// Each account starts from its base (see base.go): the aggregate of its
// events up to an event id, kept by the previous recompute. Only the
// events after the smallest such id are read, once, in the order they are
// stored (id order), while every account's aggregate is brought up to date
// in memory (Apply is commutative, so the order of events does not
// matter); then the accounts are written 500 to a transaction, each with
// its new base. Accounts without a usable base (new accounts, a changed
// health model) are rebuilt from all their events: through the
// index of events by account when they are few, else by reading the whole
// table.
//
// Ingestion goes on meanwhile. A recompute reads only the events the
// ingest stages have consumed (the others the stages will apply to the
// state it writes). The version of every account's health is noted before
// the largest event id (latest) is read, so every event the stages applied
// before it is at most latest; an account whose version has changed when
// its page is written received events during the recompute, and is
// rebuilt again from its base and events inside the write transaction, so
// no event is lost or counted twice. The bases reach no further than the
// stages have consumed (HealthScanBounds).
func (t *Tracker) Recompute(ctx context.Context) (Stats, error) { return t.recompute(ctx, false) }

// Rebuild is Recompute with every account rebuilt from all its stored
// events, ignoring the kept bases.
func (t *Tracker) Rebuild(ctx context.Context) (Stats, error) { return t.recompute(ctx, true) }

func (t *Tracker) recompute(ctx context.Context, full bool) (Stats, error) {
	began := time.Now()
	var st Stats
	md, err := t.currentModel(ctx)
	if err != nil {
		return st, err
	}
	now := t.now()
	// The versions are noted before the bounds are read. An account whose
	// stages commit after this point has a changed version when its page is
	// written and is rebuilt then; one whose stages committed before it has
	// its consumed events at or below latest, which is read after them.
	ids, versions, err := t.st.AccountHealthVersions(ctx)
	if err != nil {
		return st, err
	}
	latest, settled, err := t.st.HealthScanBounds(ctx)
	if err != nil {
		return st, err
	}
	var covered int64
	if !full {
		if covered, err = t.st.HealthBasesThrough(ctx); err != nil {
			return st, err
		}
	}
	for start := 0; start < len(ids); start += recomputeInMemory {
		pass := ids[start:min(start+recomputeInMemory, len(ids))]
		// On SQLite the pass's records are read ahead, beside the scan
		// (see store.HealthRecordsAhead), not in each page's transaction.
		var (
			ahead    *store.HealthRecordsRead
			aheadErr = make(chan error, 1)
		)
		if t.st.ReadsHealthAhead() {
			go func() {
				var err error
				ahead, err = t.st.HealthRecordsAhead(ctx, pass)
				aheadErr <- err
			}()
		} else {
			aheadErr <- nil
		}
		built, err := t.scan(ctx, md, pass, full, covered, latest, settled, &st)
		if aerr := <-aheadErr; err == nil {
			err = aerr
		}
		if err != nil {
			st.Duration = time.Since(began)
			return st, err
		}
		if start == 0 {
			// The segments' features are judged on the first pass (all
			// accounts up to recomputeInMemory, a large sample beyond).
			if _, err := t.computeSegmentFeatures(ctx, md, built, now); err != nil {
				st.Duration = time.Since(began)
				return st, err
			}
		}
		for p := 0; p < len(pass); p += recomputePage {
			page := pass[p:min(p+recomputePage, len(pass))]
			rebuilt := make(map[string]*rebuild, len(page))
			for _, id := range page {
				rebuilt[id] = built.take(id)
			}
			// The ingest stages write the same accounts' health at the same
			// time; on PostgreSQL a page can lose a deadlock to them, and
			// is then written again (its counts only once).
			before := st
			err := t.writePage(ctx, md, page, versions, ahead, rebuilt, settled, now, full, &st)
			for try := 1; err != nil && store.Retryable(err) && try < 5; try++ {
				t.log.Warn("health recompute: a page of accounts is written again", "error", err, "try", try+1)
				st = before
				err = t.writePage(ctx, md, page, versions, ahead, rebuilt, settled, now, full, &st)
			}
			if err != nil {
				st.Duration = time.Since(began)
				return st, err
			}
			if ahead != nil {
				for _, id := range page {
					ahead.Forget(id)
				}
			}
			st.Accounts += len(page)
		}
	}
	if err := ctx.Err(); err != nil {
		st.Duration = time.Since(began)
		return st, err
	}
	// Every account's base now covers its events up to settled: event
	// retention may drop them.
	if err := t.st.SetHealthBasesThrough(ctx, settled, now); err != nil {
		st.Duration = time.Since(began)
		return st, err
	}
	err = t.st.SetHealthScanMark(ctx, latest)
	st.Duration = time.Since(began)
	return st, err
}

// shards holds the rebuilds of a recompute pass, split between the
// appliers by a hash of the account id, so that each applier owns its
// accounts and no lock is taken per event. The maps are filled before the
// scan and only read during it.
type shards []map[string]*rebuild

func (s shards) of(id string) map[string]*rebuild { return s[shardIndex(id, len(s))] }

// shardIndex is FNV-1a of the id modulo n.
func shardIndex(id string, n int) int {
	if n == 1 {
		return 0
	}
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return int(h % uint32(n))
}

// take returns the rebuild of id and forgets it, so that the memory of
// written accounts is freed as the pass goes.
func (s shards) take(id string) *rebuild {
	m := s.of(id)
	r := m[id]
	delete(m, id)
	return r
}

// freshByIndex is the share of a pass's accounts (1/freshByIndex) that may
// lack a base and still be rebuilt through the index of events by account;
// with more, the whole events table is read.
const freshByIndex = 10

// scan brings the aggregates of ids up to event id latest: each starts from
// its stored base (startRebuilds; none when full), and the events after the
// smallest base's id are read once, by one goroutine, while the others
// (one per remaining CPU, at least one) apply them. Every base covers the
// events up to covered (the last completed recompute read them): a base
// written earlier stood because its account had none since, so an account
// that stays quiet for months does not make every day's scan start months
// back.
func (t *Tracker) scan(ctx context.Context, md *model, ids []string, full bool,
	covered, latest, settled int64, st *Stats) (shards, error) {
	rs, err := t.startRebuilds(ctx, md, ids, full, settled)
	if err != nil {
		return nil, err
	}
	built := make(shards, max(runtime.GOMAXPROCS(0)-1, 1))
	for i := range built {
		built[i] = make(map[string]*rebuild, len(ids)/len(built)+1)
	}
	for i, id := range ids {
		r := rs[i]
		if r.through > 0 {
			r.through = max(r.through, min(covered, settled))
		}
		built.of(id)[id] = r
		rs[i] = nil
	}
	lo := latest
	var fresh []string
	for _, id := range ids {
		if r := built.of(id)[id]; r.through == 0 {
			fresh = append(fresh, id)
		} else {
			lo = min(lo, r.through)
		}
	}
	st.Rebuilt += len(fresh)
	if len(fresh) > len(ids)/freshByIndex {
		lo = 0
	} else if len(fresh) > 0 {
		// Few accounts without a base: read their events through the
		// index, and leave them out of the scan.
		err := t.st.AccountEventsTx(ctx, nil, fresh, func(e *store.HealthEvent) error {
			if r := built.of(e.AccountID)[e.AccountID]; r != nil && r.add(md, e) {
				st.Events++
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		for _, id := range fresh {
			built.of(id)[id].through = latest
		}
	}
	n, err := t.apply(ctx, md, built, lo, latest)
	st.Events += n
	return built, err
}

// apply reads the events with ids in (after, through] once, in id order,
// and applies each to its account's rebuild in built: one goroutine reads,
// one per shard applies.
func (t *Tracker) apply(ctx context.Context, md *model, built shards, after, through int64) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg      sync.WaitGroup
		applied atomic.Int64
		feeds   = make([]chan []scanned, len(built))
		free    = make(chan []scanned, 4*len(built)+4)
	)
	for i := range built {
		feeds[i] = make(chan []scanned, 4)
		wg.Add(1)
		go func(feed <-chan []scanned) {
			defer wg.Done()
			var n int64
			for batch := range feed {
				for i := range batch {
					if batch[i].r.add(md, &batch[i].e) {
						n++
					}
				}
				clear(batch) // drop the references before the batch is reused
				select {
				case free <- batch[:0]:
				default:
				}
			}
			applied.Add(n)
		}(feeds[i])
	}
	pending := make([][]scanned, len(built))
	send := func(i int) error {
		select {
		case feeds[i] <- pending[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case pending[i] = <-free:
		default:
			pending[i] = make([]scanned, 0, scanBatch)
		}
		return nil
	}
	for i := range pending {
		pending[i] = make([]scanned, 0, scanBatch)
	}
	err := t.st.ScanAccountEvents(ctx, after, through, func(e *store.HealthEvent) error {
		i := shardIndex(e.AccountID, len(built))
		r := built[i][e.AccountID]
		if r == nil || e.ID <= r.through {
			return nil // an account of another pass, created since the recompute began, or covered by its base
		}
		pending[i] = append(pending[i], scanned{r, *e})
		if len(pending[i]) == scanBatch {
			return send(i)
		}
		return nil
	})
	for i := range pending {
		if err == nil && len(pending[i]) > 0 {
			err = send(i)
		}
		close(feeds[i])
	}
	wg.Wait()
	return applied.Load(), err
}

// rebuildAll rebuilds the aggregates of ids from their stored bases and
// the events after them, read in tx through the index of events by account: for
// the few accounts that received events during a recompute.
func (t *Tracker) rebuildAll(ctx context.Context, tx *sql.Tx, md *model, ids []string, settled int64, full bool) (map[string]*rebuild, error) {
	// An account starts from its stored base, as in the scan: its events
	// up to the base may have been dropped (event retention). A
	// reattribution forgets the base, and a full rebuild ignores it.
	bases := map[string]*store.HealthBase{}
	if !full {
		var err error
		if bases, err = t.st.HealthBasesTx(ctx, tx, ids); err != nil {
			return nil, err
		}
	}
	built := make(map[string]*rebuild, len(ids))
	for _, id := range ids {
		var b *store.HealthBase
		if base := bases[id]; base != nil && base.Model == md.fingerprint {
			b = base
		}
		built[id] = t.startRebuild(md, id, b, settled)
	}
	err := t.st.AccountEventsTx(ctx, tx, ids, func(e *store.HealthEvent) error {
		if r := built[e.AccountID]; r != nil {
			r.add(md, e)
		}
		return nil
	})
	return built, err
}

type drop struct {
	account  string
	from, to health.Quadrant
}

// writePage scores the accounts ids and writes them in one transaction.
// Their records are read in it, or, with ahead (records read ahead of the
// transaction, see store.HealthRecordsAhead), only their versions are: an
// account whose version moved since the recompute noted it (versions) is
// read again and rebuilt in the transaction.
func (t *Tracker) writePage(ctx context.Context, md *model, ids []string, versions map[string]int64,
	ahead *store.HealthRecordsRead, built map[string]*rebuild, settled int64, now time.Time, full bool, st *Stats) error {
	tx, err := t.st.DB().BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("recompute health: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	recs, stale, err := t.pageRecords(ctx, tx, ids, versions, ahead)
	if err != nil {
		return err
	}
	if len(stale) > 0 {
		again, err := t.rebuildAll(ctx, tx, md, stale, settled, full)
		if err != nil {
			return err
		}
		for id, r := range again {
			built[id] = r
		}
		st.Redone += len(stale)
	}
	replies, err := t.surveyReplies(ctx, tx, ids, now)
	if err != nil {
		return err
	}
	refs, err := t.segmentFeatures(ctx, tx, md)
	if err != nil {
		return err
	}
	scored, err := t.scorePage(ctx, md, ids, recs, built, replies, refs, now)
	if err != nil {
		return err
	}
	out := make([]*store.HealthRecord, 0, len(ids))
	var (
		reaches []store.MilestoneReach
		drops   []drop
		warned  = make([]store.HealthWarnings, 0, len(ids))
		days    = make([]store.HealthDay, 0, len(ids))
		bases   []store.HealthBase
	)
	for i, id := range ids {
		rec, sc := recs[id], &scored[i]
		if r := built[id]; r.base != nil {
			bases = append(bases, *r.base)
		}
		reaches = append(reaches, sc.reaches...)
		if !rec.SameWarnings(sc.warnings) {
			warned = append(warned, sc.warnings)
		}
		if sc.hasDay {
			days = append(days, sc.day)
		}
		h := rec.AccountHealth
		if h.QuadrantMoved() && health.Worse(health.Quadrant(h.PreviousQuadrant), health.Quadrant(h.Quadrant)) {
			drops = append(drops, drop{id, health.Quadrant(h.PreviousQuadrant), health.Quadrant(h.Quadrant)})
		}
		out = append(out, rec)
	}
	if len(reaches) > 0 {
		if err := t.st.RecordMilestonesTx(ctx, tx, reaches, now); err != nil {
			return err
		}
		st.Milestones += len(reaches)
	}
	if err := t.st.SaveHealthRecordsTx(ctx, tx, out, dayOf(now)); err != nil {
		return err
	}
	if err := t.st.SaveHealthWarningsTx(ctx, tx, warned, now); err != nil {
		return err
	}
	if err := t.saveDays(ctx, tx, days); err != nil {
		return err
	}
	if err := t.st.SaveHealthBasesTx(ctx, tx, bases); err != nil {
		return err
	}
	t.mu.Lock()
	fs := append([]QuadrantDrop(nil), t.drops...)
	t.mu.Unlock()
	for _, d := range drops {
		for _, f := range fs {
			if err := f(ctx, tx, d.account, d.from, d.to); err != nil {
				return fmt.Errorf("quadrant drop of %q: %w", d.account, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("recompute health: %w", err)
	}
	return nil
}

// pageRecords returns the records of a page's accounts, read in tx or
// taken from ahead, and the accounts whose version moved since versions
// were noted (stale), whose records are read in tx.
func (t *Tracker) pageRecords(ctx context.Context, tx *sql.Tx, ids []string, versions map[string]int64,
	ahead *store.HealthRecordsRead) (map[string]*store.HealthRecord, []string, error) {
	var stale []string
	if ahead == nil {
		recs, err := t.st.HealthRecordsTx(ctx, tx, ids)
		if err != nil {
			return nil, nil, err
		}
		for _, id := range ids {
			if recs[id].Version != versions[id] {
				stale = append(stale, id)
			}
		}
		return recs, stale, nil
	}
	now, err := t.st.HealthVersionsTx(ctx, tx, ids)
	if err != nil {
		return nil, nil, err
	}
	recs := make(map[string]*store.HealthRecord, len(ids))
	for _, id := range ids {
		r := ahead.Record(id) // a new one: a page that fails is written again from the record as read
		if r == nil || now[id] != versions[id] || r.Version != versions[id] {
			stale = append(stale, id)
			continue
		}
		recs[id] = r
	}
	if len(stale) > 0 {
		again, err := t.st.HealthRecordsTx(ctx, tx, stale)
		if err != nil {
			return nil, nil, err
		}
		for _, id := range stale {
			recs[id] = again[id]
		}
	}
	return recs, stale, nil
}

// pageScore is what scoring one account of a recompute page gives the
// page's write.
type pageScore struct {
	reaches  []store.MilestoneReach
	warnings store.HealthWarnings
	day      store.HealthDay
	hasDay   bool
}

// scorePage scores the accounts of a page (filling their records for
// writing and taking their new bases) on every CPU: scoring is most of
// the CPU a page costs besides SQLite, and the page's transaction holds
// the only write connection meanwhile, so one goroutine would leave the
// other cores idle. The results are in the order of ids.
func (t *Tracker) scorePage(ctx context.Context, md *model, ids []string, recs map[string]*store.HealthRecord,
	built map[string]*rebuild, replies map[string]store.SurveyReplies, refs map[string]int, now time.Time) ([]pageScore, error) {
	out := make([]pageScore, len(ids))
	workers := min(runtime.GOMAXPROCS(0), len(ids))
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		errs = make([]error, workers)
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(ids) {
					return
				}
				id := ids[i]
				rec := recs[id]
				in, _, err := t.inputsOf(md, rec, false)
				if err != nil {
					errs[w] = err
					return
				}
				in.segmentFeatures = refs[in.segment]
				r := built[id]
				r.snapshot(md) // before finish adds the milestones reached by conditions
				o := t.finish(ctx, md, in, r, now, now)
				t.remember(md, in, o.path, r.agg, true)
				sc := &out[i]
				sc.reaches = o.reaches
				sc.warnings = warningsOf(id, o.result, replies[id], r.agg)
				sc.day, sc.hasDay = historyDay(id, o.result, r.agg, dayOf(now), false, sc.warnings)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// jobRecompute names the scheduled recompute in the store's run record.
const jobRecompute = "recompute"

// Start runs the scheduled recompute: once per period (Options.Every,
// default a UTC day), in whichever server process claims the period first.
// It checks at start and then every few minutes, so a server that was down
// at midnight catches up when it comes back. Its error is always nil; it
// returns one so that every background service starts the same way.
func (t *Tracker) Start(ctx context.Context) error {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	t.quit = make(chan struct{})
	t.done = make(chan struct{})
	check := min(t.every/4, 10*time.Minute)
	go func() {
		defer close(t.done)
		defer cancel()
		go func() {
			<-t.quit
			cancel()
		}()
		for {
			t.runIfDue(ctx)
			t.syncHistory(ctx)
			select {
			case <-t.quit:
				return
			case <-time.After(check):
			}
		}
	}()
	return nil
}

// Stop stops the scheduled recompute, interrupting one in progress (the
// pages already written stay written; the rest keep their incremental
// state).
func (t *Tracker) Stop(ctx context.Context) error {
	if t.quit == nil {
		return nil
	}
	t.stopOnce.Do(func() { close(t.quit) })
	select {
	case <-t.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (t *Tracker) runIfDue(ctx context.Context) {
	now := t.now()
	period := now.UnixNano() / int64(t.every)
	ok, err := t.st.ClaimHealthRun(ctx, jobRecompute, period, now)
	if err != nil {
		t.log.Error("scheduled health recompute: could not claim the run", "err", err)
		return
	}
	if !ok {
		return
	}
	stats, err := t.Recompute(ctx)
	if err != nil {
		t.log.Error("scheduled health recompute failed; accounts not reached keep their incremental state until the next run",
			"accounts_done", stats.Accounts, "err", err)
		return
	}
	pruned, err := t.st.PruneHealthTrend(ctx, dayOf(now)-TrendRetentionDays)
	if err != nil {
		t.log.Error("pruning the health trend failed", "err", err)
	}
	prunedDays, err := t.st.PruneHealthHistory(ctx, dayOf(now)-HistoryRetentionDays+1)
	if err != nil {
		t.log.Error("pruning the health history failed", "err", err)
	}
	t.log.Info("health recomputed", "accounts", stats.Accounts, "events", stats.Events, "redone", stats.Redone,
		"milestones", stats.Milestones, "duration", stats.Duration, "trend_rows_pruned", pruned, "history_days_pruned", prunedDays)
}

// syncHistory rebuilds the days of history that events imported since the
// last check changed (SyncHistory), logging what it did.
func (t *Tracker) syncHistory(ctx context.Context) {
	st, err := t.SyncHistory(ctx)
	if err != nil {
		if ctx.Err() == nil {
			t.log.Error("rebuilding the health history from imported events failed; it is tried again at the next check", "err", err)
		}
		return
	}
	if st.Accounts > 0 {
		t.log.Info("health history rebuilt from imported events", "accounts", st.Accounts, "events", st.Events,
			"days", st.Days, "duration", st.Duration)
	}
}
