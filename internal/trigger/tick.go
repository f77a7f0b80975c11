package trigger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/moments-cs/moments/internal/health"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/playbook"
	"github.com/moments-cs/moments/internal/rules"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/vocab"
)

// MaxCatchUp bounds how far back a tick looks after an outage: occurrences
// that fell due more than this long ago are not started late.
const MaxCatchUp = 31 * 24 * time.Hour

// chunkSize is how many accounts one transaction of a tick or a broadcast
// handles: small enough to hold the write lock briefly.
const chunkSize = 500

// usageDropEvery is how often the usage_drop signal is checked; the health
// tracker refreshes it daily and on ingestion.
const usageDropEvery = time.Hour

// Start evaluates scheduled triggers every TickEvery, in the background,
// until Stop. Any number of server processes may start it: an occurrence
// starts one run whichever process gets there first.
func (e *Engine) Start(ctx context.Context) error {
	e.runMu.Lock()
	defer e.runMu.Unlock()
	if e.stopTicks != nil {
		return errors.New("trigger engine is already started")
	}
	// The ticks outlive the caller's context (a request's, say) and end
	// with Stop.
	tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	e.stopTicks, e.ticksDone = cancel, done
	go func() {
		defer close(done)
		e.tickEvery(tctx)
	}()
	return nil
}

// Stop stops the scheduled triggers started by Start and waits, until
// ctx's deadline, for a tick in progress to finish.
func (e *Engine) Stop(ctx context.Context) error {
	e.runMu.Lock()
	stop, done := e.stopTicks, e.ticksDone
	e.stopTicks, e.ticksDone = nil, nil
	e.runMu.Unlock()
	if stop == nil {
		return nil
	}
	stop()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// tickEvery runs Tick every TickEvery until ctx is done.
func (e *Engine) tickEvery(ctx context.Context) {
	t := time.NewTicker(e.every)
	defer t.Stop()
	for {
		if err := e.Tick(ctx); err != nil && ctx.Err() == nil {
			e.log.Error("scheduled triggers failed; will retry at the next tick", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Tick evaluates, as of now, the scheduled moments of the live map, the
// personal rules with a schedule, the usage_drop signal, and resumes
// broadcasts left unfinished.
func (e *Engine) Tick(ctx context.Context) error {
	if _, err := e.launcherOf(); err != nil {
		// Without playbooks nothing can start; the watermarks stay put so
		// that the occurrences are caught up once the engine is connected.
		return nil
	}
	e.tickMu.Lock()
	defer e.tickMu.Unlock()
	now := e.now()
	c, err := e.current(ctx)
	if err != nil {
		return err
	}
	var errs []error
	if c != nil {
		for _, l := range c.scheduled {
			if err := e.tickRule(ctx, c, l, "moment:"+l.moment.ID+"/"+l.sched.key, now); err != nil {
				errs = append(errs, err)
			}
		}
		personal, err := e.scheduledRules(ctx)
		if err != nil {
			errs = append(errs, err)
		}
		for _, l := range personal {
			if c.moments[l.rule.MomentID] == nil {
				continue
			}
			if err := e.tickRule(ctx, c, l, "rule:"+l.rule.ID+"/"+l.sched.key, now); err != nil {
				errs = append(errs, err)
			}
		}
		if err := e.tickUsageDrop(ctx, c, now); err != nil {
			errs = append(errs, err)
		}
	}
	if err := e.resumeBroadcasts(ctx, now); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// due is one account's occurrence of a scheduled rule.
type due struct {
	account string
	at      time.Time
}

// tickRule starts the occurrences of one scheduled rule that fell due in
// (watermark, now], then advances the watermark. A rule seen for the first
// time starts counting from now: applying a map does not start every
// renewal moment of the past.
func (e *Engine) tickRule(ctx context.Context, c *compiled, l *listener, rule string, now time.Time) error {
	wm, ok, err := e.st.RuleWatermark(ctx, rule)
	if err != nil {
		return err
	}
	if !ok {
		return e.st.AdvanceRuleWatermarkTx(ctx, e.st.DB(), rule, now)
	}
	if !now.After(wm) {
		return nil
	}
	if now.Sub(wm) > MaxCatchUp {
		wm = now.Add(-MaxCatchUp)
	}
	s := l.sched
	switch {
	case s.relative() && l.rule != nil:
		date, err := e.st.DateTraitTx(ctx, e.st.Reader(), s.relativeTo, l.rule.AccountID)
		if err != nil {
			return err
		}
		if at, ok := s.dueAt(date); ok && at.After(wm) && !at.After(now) {
			if err := e.fireDue(ctx, c, l, []due{{l.rule.AccountID, at}}, now); err != nil {
				return err
			}
		}
	case s.relative():
		lo, hi := s.dateWindow(wm, now)
		after := store.DueDate{Date: lo}
		for {
			page, err := e.st.DateTraitsBetween(ctx, s.relativeTo, lo, hi, after, chunkSize)
			if err != nil {
				return err
			}
			var dues []due
			for _, d := range page {
				if at, ok := s.dueAt(d.Date); ok && at.After(wm) && !at.After(now) {
					dues = append(dues, due{d.AccountID, at})
				}
			}
			if err := e.fireDue(ctx, c, l, dues, now); err != nil {
				return err
			}
			if len(page) < chunkSize {
				break
			}
			after = page[len(page)-1]
		}
	default:
		at, ok := s.latest(wm, now)
		if !ok {
			break
		}
		if l.rule != nil {
			if err := e.fireDue(ctx, c, l, []due{{l.rule.AccountID, at}}, now); err != nil {
				return err
			}
			break
		}
		after := ""
		for {
			page, err := e.st.AccountsAfterTx(ctx, nil, after, chunkSize)
			if err != nil {
				return err
			}
			dues := make([]due, len(page))
			for i, a := range page {
				dues[i] = due{a.ID, at}
			}
			if err := e.fireDue(ctx, c, l, dues, now); err != nil {
				return err
			}
			if len(page) < chunkSize {
				break
			}
			after = page[len(page)-1].ID
		}
	}
	return e.st.AdvanceRuleWatermarkTx(ctx, e.st.DB(), rule, now)
}

// fireDue evaluates a scheduled rule's condition for due accounts and starts
// the runs of those that match, in one transaction.
func (e *Engine) fireDue(ctx context.Context, c *compiled, l *listener, dues []due, now time.Time) error {
	if len(dues) == 0 {
		return nil
	}
	ids := make([]string, len(dues))
	for i, d := range dues {
		ids[i] = d.account
	}
	accounts, err := e.st.AccountsByIDTx(ctx, e.st.Reader(), ids)
	if err != nil {
		return err
	}
	var starts []playbook.RunRequest
	for _, d := range dues {
		a, ok := accounts[d.account]
		if !ok {
			continue
		}
		vars := rules.Vars{Account: accountVars(a), Now: now}
		if l.when != nil {
			if vars.Health, err = e.healthVars(ctx, e.st.Reader(), a.ID, now); err != nil {
				return err
			}
		}
		if !e.eval(ctx, l.when, vars, l.moment.ID) {
			continue
		}
		r := playbook.RunRequest{AccountID: a.ID, MomentID: l.moment.ID, Occurrence: l.sched.occurrence(d.at),
			MapVersion: c.version, Trigger: journey.CategoryScheduled}
		if l.rule != nil {
			r.Occurrence = "rule:" + l.rule.ID + ":" + r.Occurrence
			r.Trigger, r.StartedBy = journey.CategoryCSM, l.rule.CreatedBy
		}
		starts = append(starts, r)
	}
	return e.startAll(ctx, starts)
}

// startAll starts runs in one transaction.
func (e *Engine) startAll(ctx context.Context, starts []playbook.RunRequest) error {
	if len(starts) == 0 {
		return nil
	}
	tx, err := e.st.DB().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	for _, r := range starts {
		if _, _, err := e.start(ctx, tx, r); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("start scheduled moments: %w", err)
	}
	return nil
}

// tickUsageDrop starts the usage_drop moments once per account and drop
// episode: when the health tracker flags a usage drop that is not yet
// recorded here. An episode ends when the flag clears; the next drop is a
// new episode.
func (e *Engine) tickUsageDrop(ctx context.Context, c *compiled, now time.Time) error {
	ls := c.bySignal[vocab.SignalUsageDrop]
	if len(ls) == 0 {
		return nil
	}
	const rule = "signal:usage_drop"
	wm, ok, err := e.st.RuleWatermark(ctx, rule)
	if err != nil {
		return err
	}
	if ok && now.Sub(wm) < usageDropEvery && !now.Before(wm) {
		return nil
	}
	if err := e.st.EndUsageDropEpisodes(ctx); err != nil {
		return err
	}
	for {
		ids, err := e.st.UsageDropsWithoutEpisode(ctx, chunkSize)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			break
		}
		accounts, err := e.st.AccountsByIDTx(ctx, e.st.Reader(), ids)
		if err != nil {
			return err
		}
		tx, err := e.st.DB().BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		for _, id := range ids {
			// Recorded whether or not a condition holds: the episode is
			// judged once, when it starts.
			if err := e.st.SetSignalStateTx(ctx, tx, id, vocab.SignalUsageDrop, "dropped", now); err != nil {
				tx.Rollback() //nolint:errcheck // the error above is what matters
				return err
			}
			a, ok := accounts[id]
			if !ok {
				continue
			}
			vars := rules.Vars{Account: accountVars(a), Now: now}
			if vars.Health, err = e.healthVars(ctx, tx, id, now); err != nil {
				tx.Rollback() //nolint:errcheck // the error above is what matters
				return err
			}
			for _, l := range ls {
				if !e.eval(ctx, l.when, vars, l.moment.ID) {
					continue
				}
				if _, _, err := e.start(ctx, tx, playbook.RunRequest{AccountID: id, MomentID: l.moment.ID,
					Occurrence: "usage_drop:" + now.Format(time.DateOnly), MapVersion: c.version,
					Trigger: journey.CategoryCustomerEvent}); err != nil {
					tx.Rollback() //nolint:errcheck // the error above is what matters
					return err
				}
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		if len(ids) < chunkSize {
			break
		}
	}
	return e.st.AdvanceRuleWatermarkTx(ctx, e.st.DB(), rule, now)
}

// QuadrantDropped starts the quadrant_drop moments for an account whose
// health quadrant became worse outside ingestion (the health tracker's
// recompute and daily refresh call it inside their transaction; see
// tracker.QuadrantDrop). Moves caused by ingested events are handled by
// OnIngest.
func (e *Engine) QuadrantDropped(ctx context.Context, tx *sql.Tx, accountID string, from, to health.Quadrant) error {
	c, err := e.current(ctx)
	if err != nil || c == nil {
		return err
	}
	ls := c.bySignal[vocab.SignalQuadrantDrop]
	if len(ls) == 0 || !health.Worse(from, to) {
		return nil
	}
	now := e.now()
	accounts, err := e.st.AccountsByIDTx(ctx, tx, []string{accountID})
	if err != nil {
		return err
	}
	a, ok := accounts[accountID]
	if !ok {
		return nil
	}
	vars := rules.Vars{Account: accountVars(a), Now: now}
	if vars.Health, err = e.healthVars(ctx, tx, accountID, now); err != nil {
		return err
	}
	for _, l := range ls {
		if !e.eval(ctx, l.when, vars, l.moment.ID) {
			continue
		}
		if _, _, err := e.start(ctx, tx, playbook.RunRequest{AccountID: accountID, MomentID: l.moment.ID,
			Occurrence: "quadrant_drop:" + string(from) + "-" + string(to) + ":" + now.Format(time.DateOnly),
			MapVersion: c.version, Trigger: journey.CategoryCustomerEvent}); err != nil {
			return err
		}
	}
	return nil
}
