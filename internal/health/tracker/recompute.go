package tracker

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"sync"
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
	Redone     int           `json:"redone"`
	Milestones int           `json:"milestones"`
	Duration   time.Duration `json:"duration"`
}

// recomputePage is the accounts rebuilt and written per transaction: small
// enough that ingestion waits at most some tens of milliseconds for the
// write lock, large enough that the per-statement costs stay small.
const recomputePage = 500

// OnQuadrantDrop registers f, called for every account whose quadrant gets
// worse in a recompute (see QuadrantDrop). Register before Start.
func (t *Tracker) OnQuadrantDrop(f QuadrantDrop) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.drops = append(t.drops, f)
}

// Recompute rebuilds every account's aggregate from its stored events,
// rescores it at the current time and writes its state and today's trend
// row. Accounts are walked in id order, 500 at a time, reading their events
// through the events_account index. Ingestion goes on meanwhile: an account
// that receives events while it is being rebuilt is rebuilt again inside the
// write transaction, so no event is lost.
func (t *Tracker) Recompute(ctx context.Context) (Stats, error) {
	began := time.Now()
	var st Stats
	md, err := t.currentModel(ctx)
	if err != nil {
		return st, err
	}
	now := t.now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Reading events dominates, so pages are read and rebuilt by one
	// worker per CPU while one writer writes the finished pages (the
	// database has one writer anyway).
	type page struct {
		ids      []string
		versions map[string]int64
		built    map[string]*rebuild
		events   int64
	}
	var (
		pages   = make(chan *page)
		built   = make(chan *page, 2)
		errc    = make(chan error, 1)
		workers = max(runtime.GOMAXPROCS(0), 1)
		wg      sync.WaitGroup
	)
	fail := func(err error) {
		select {
		case errc <- err:
		default:
		}
		cancel()
	}
	go func() {
		defer close(pages)
		after := ""
		for {
			ids, versions, err := t.st.HealthAccountPage(ctx, after, recomputePage)
			if err != nil {
				fail(err)
				return
			}
			if len(ids) == 0 {
				return
			}
			after = ids[len(ids)-1]
			select {
			case pages <- &page{ids: ids, versions: versions}:
			case <-ctx.Done():
				return
			}
		}
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range pages {
				var err error
				if p.built, p.events, err = t.rebuildAll(ctx, nil, md, p.ids); err != nil {
					fail(err)
					return
				}
				select {
				case built <- p:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		close(built)
	}()
	for p := range built {
		if ctx.Err() != nil {
			continue // drain
		}
		if err := t.writePage(ctx, md, p.ids, p.versions, p.built, now, &st); err != nil {
			fail(err)
			continue
		}
		st.Events += p.events
		st.Accounts += len(p.ids)
	}
	st.Duration = time.Since(began)
	select {
	case err := <-errc:
		return st, err
	default:
	}
	return st, ctx.Err()
}

// rebuildAll rebuilds the aggregates of ids from their events, read in tx
// (or from the read pool when tx is nil).
func (t *Tracker) rebuildAll(ctx context.Context, tx *sql.Tx, md *model, ids []string) (map[string]*rebuild, int64, error) {
	built := make(map[string]*rebuild, len(ids))
	for _, id := range ids {
		built[id] = newRebuild(&health.Aggregate{})
	}
	var n int64
	err := t.st.HealthEvents(ctx, tx, ids, func(e *store.HealthEvent) error {
		if r := built[e.AccountID]; r != nil {
			r.apply(md, healthEvent(e.Type, e.Name, e.UserID, e.ContactRole, e.Timestamp, e.Properties))
			n++
		}
		return nil
	})
	return built, n, err
}

type drop struct {
	account  string
	from, to health.Quadrant
}

func (t *Tracker) writePage(ctx context.Context, md *model, ids []string, versions map[string]int64,
	built map[string]*rebuild, now time.Time, st *Stats) error {
	tx, err := t.st.DB().BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("recompute health: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	recs, err := t.st.LoadHealthTx(ctx, tx, ids)
	if err != nil {
		return err
	}
	var stale []string
	for _, id := range ids {
		if recs[id].Version != versions[id] {
			stale = append(stale, id)
		}
	}
	if len(stale) > 0 {
		again, _, err := t.rebuildAll(ctx, tx, md, stale)
		if err != nil {
			return err
		}
		for id, r := range again {
			built[id] = r
		}
		st.Redone += len(stale)
	}
	out := make([]*store.HealthRecord, 0, len(ids))
	var (
		reaches []store.MilestoneReach
		drops   []drop
	)
	for _, id := range ids {
		rec := recs[id]
		if err := rec.DecodeTraits(); err != nil {
			return err
		}
		o := t.finish(ctx, md, rec, built[id], now, now)
		reaches = append(reaches, o.reaches...)
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
	if err := t.st.SaveHealthTx(ctx, tx, out, dayOf(now)); err != nil {
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

// jobRecompute names the scheduled recompute in the store's run record.
const jobRecompute = "recompute"

// Start runs the scheduled recompute: once per period (Options.Every,
// default a UTC day), in whichever server process claims the period first.
// It checks at start and then every few minutes, so a server that was down
// at midnight catches up when it comes back.
func (t *Tracker) Start(ctx context.Context) {
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
			select {
			case <-t.quit:
				return
			case <-time.After(check):
			}
		}
	}()
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
	t.log.Info("health recomputed", "accounts", stats.Accounts, "events", stats.Events, "redone", stats.Redone,
		"milestones", stats.Milestones, "duration", stats.Duration, "trend_rows_pruned", pruned)
}
