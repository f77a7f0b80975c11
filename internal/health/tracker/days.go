package tracker

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/moments-cs/moments/internal/health"
	"github.com/moments-cs/moments/internal/store"
)

// HistoryRetentionDays is how many days of daily health history are kept:
// two years, enough to read the score a year (the longest backtest
// horizon) before outcomes of the past year.
const HistoryRetentionDays = 730

// dayStart is the start of UTC day d.
func dayStart(d int64) time.Time { return time.Unix(d*86400, 0).UTC() }

// historyDay is the compact history row of an account's result on day, or
// false when the account has sent no event yet (no row is kept before an
// account's first event, so a missing day means "not yet a customer").
func historyDay(accountID string, r health.Result, agg *health.Aggregate, day int64, rebuilt bool, w store.HealthWarnings) (store.HealthDay, bool) {
	if agg == nil || agg.Seen == 0 {
		return store.HealthDay{}, false
	}
	d := health.DayOf(r, day, w.Codes...)
	// Unrounded, unlike the trend's: the backtest ranks accounts by them,
	// and rounding would tie accounts the scores tell apart.
	exact := func(v health.Value) *float64 {
		if !v.Known {
			return nil
		}
		return &v.Score
	}
	return store.HealthDay{AccountID: accountID, Day: day, Behavioural: exact(d.Behavioural), Emotional: exact(d.Emotional),
		Combined: exact(d.Combined), Quadrant: string(d.Quadrant), Warnings: int(d.Warnings),
		Components: d.EncodeComponents(), Rebuilt: rebuilt}, true
}

// dayOfRow turns a kept row back into the health of its day.
func dayOfRow(r store.HealthDay) (health.Day, error) {
	d := health.Day{Day: r.Day, Quadrant: health.Quadrant(r.Quadrant), Warnings: uint8(r.Warnings)}
	v := func(f *float64) health.Value {
		if f == nil {
			return health.Value{}
		}
		return health.Known(*f)
	}
	d.Behavioural, d.Emotional, d.Combined = v(r.Behavioural), v(r.Emotional), v(r.Combined)
	if err := d.DecodeComponents(r.Components); err != nil {
		return d, fmt.Errorf("health history of %q on %s: %w", r.AccountID, dayStart(r.Day).Format(time.DateOnly), err)
	}
	return d, nil
}

// saveDays writes the day's history rows of a recompute page, in its
// transaction. A day already kept is left as it is: the first recompute of
// a day (normally just after midnight UTC) records how the day began.
func (t *Tracker) saveDays(ctx context.Context, tx *sql.Tx, days []store.HealthDay) error {
	return t.st.SaveHealthDaysTx(ctx, tx, days, store.HistoryKeep)
}

// RebuildOptions say which history to rebuild.
type RebuildOptions struct {
	// Accounts are the accounts to rebuild; nil means every account.
	Accounts []string
	// Replace rewrites the days written as they passed too, with today's
	// model; by default only missing and rebuilt days are written.
	Replace bool
}

// RebuildStats say what a rebuild did.
type RebuildStats struct {
	Accounts int           `json:"accounts"`
	Events   int64         `json:"events"`
	Days     int64         `json:"days"`
	Duration time.Duration `json:"duration"`
}

// rebuildChunk is how many accounts a rebuild reads and writes at once.
const rebuildChunk = 500

// RebuildHistory rebuilds the daily health history of accounts from their
// stored events, for when history is imported rather than lived: for each
// account, every day from the one after its first event (at most
// HistoryRetentionDays back) to today is scored as it stood at the start
// of that day, from the events before it, with the health model in force
// now. Days written as they passed are kept unless o.Replace. Running it
// again gives the same rows.
func (t *Tracker) RebuildHistory(ctx context.Context, o RebuildOptions) (RebuildStats, error) {
	began := time.Now()
	var st RebuildStats
	md, err := t.currentModel(ctx)
	if err != nil {
		return st, err
	}
	today := dayOf(t.now())
	mode := store.HistoryReplaceRebuilt
	if o.Replace {
		mode = store.HistoryReplace
	}
	ids := o.Accounts
	var through int64
	if ids == nil {
		// A rebuild of every account covers every event stored now: the
		// next SyncHistory need not look at them again.
		if through, err = t.st.LastEventID(ctx); err != nil {
			return st, err
		}
		if err := t.st.AllAccounts(ctx, func(a store.Account) error {
			ids = append(ids, a.ID)
			return nil
		}); err != nil {
			return st, err
		}
	}
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	for start := 0; start < len(ids); start += rebuildChunk {
		chunk := ids[start:min(start+rebuildChunk, len(ids))]
		n, days, err := t.rebuildDays(ctx, md, chunk, today, mode)
		st.Events += n
		st.Days += days
		if err != nil {
			st.Duration = time.Since(began)
			return st, err
		}
		st.Accounts += len(chunk)
	}
	if through > 0 {
		after, err := t.st.HealthHistoryWatermark(ctx)
		if err != nil {
			return st, err
		}
		if through > after {
			if err := t.st.SetHealthHistoryWatermark(ctx, through, t.now()); err != nil {
				return st, err
			}
		}
	}
	st.Duration = time.Since(began)
	return st, nil
}

// rebuildDays rebuilds the history of one chunk of accounts: their events
// read in one query, the accounts scored day by day on every CPU, the rows
// written in one transaction.
func (t *Tracker) rebuildDays(ctx context.Context, md *model, ids []string, today int64, mode store.HistoryWrite) (int64, int64, error) {
	// Breadth is judged against the segments' features as last saved.
	refs, err := t.segmentFeatures(ctx, nil, md)
	if err != nil {
		return 0, 0, err
	}
	accounts, err := t.st.AccountsByIDTx(ctx, t.st.Reader(), ids)
	if err != nil {
		return 0, 0, err
	}
	events := make(map[string][]health.Event, len(ids))
	var n int64
	err = t.st.AccountHistoryEvents(ctx, ids, func(e *store.HealthEvent) error {
		if _, ok := accounts[e.AccountID]; !ok {
			return nil
		}
		events[e.AccountID] = append(events[e.AccountID], healthEvent(e.Type, e.Name, e.UserID, e.ContactRole, e.Timestamp, e.Properties))
		n++
		return nil
	})
	if err != nil {
		return n, 0, err
	}
	// The surveys sent, to raise unanswered_surveys as it stood each day.
	sent, err := t.st.SurveysSent(ctx, ids)
	if err != nil {
		return n, 0, err
	}
	work := make(chan string)
	results := make(chan []store.HealthDay)
	var wg sync.WaitGroup
	for range max(runtime.GOMAXPROCS(0), 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				results <- t.accountDays(ctx, md, refs, accounts[id], events[id], sent[id], today)
			}
		}()
	}
	go func() {
		defer close(work)
		for id := range accounts {
			select {
			case work <- id:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		wg.Wait()
		close(results)
	}()
	var rows []store.HealthDay
	for r := range results {
		rows = append(rows, r...)
	}
	if err := ctx.Err(); err != nil {
		return n, 0, err
	}
	tx, err := t.st.DB().BeginTx(ctx, nil)
	if err != nil {
		return n, 0, fmt.Errorf("rebuild health history: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := t.st.SaveHealthDaysTx(ctx, tx, rows, mode); err != nil {
		return n, 0, err
	}
	if err := tx.Commit(); err != nil {
		return n, 0, fmt.Errorf("rebuild health history: %w", err)
	}
	return n, int64(len(rows)), nil
}

// accountDays scores one account at the start of every day from the one
// after its first event (or the retention's first day) to today.
func (t *Tracker) accountDays(ctx context.Context, md *model, refs map[string]int, a store.Account, events []health.Event, sent []store.PastSurvey, today int64) []store.HealthDay {
	if len(events) == 0 {
		return nil
	}
	slices.SortStableFunc(events, func(x, y health.Event) int { return x.Timestamp.Compare(y.Timestamp) })
	first := dayOf(events[0].Timestamp) + 1
	first = max(first, today-HistoryRetentionDays+1)
	sc := newPastScorer(ctx, md, a, refs[a.Segment])
	agg := &health.Aggregate{}
	out := make([]store.HealthDay, 0, max(today-first+1, 0))
	i := 0
	for day := first; day <= today; day++ {
		cut := dayStart(day)
		for ; i < len(events) && events[i].Timestamp.Before(cut); i++ {
			agg.Apply(events[i], md.health)
		}
		r := sc.score(agg, cut)
		if row, ok := historyDay(a.ID, r, agg, day, true, warningsOf(a.ID, r, repliesAt(sent, cut), agg)); ok {
			out = append(out, row)
		}
	}
	return out
}

// SyncHistory rebuilds the history of the accounts that received, since
// the last sync, events dated before yesterday: an import of past events
// (or the first start of an installation whose history was sent before
// Moments kept one). It returns what the rebuild did; nothing when there
// are no such events.
func (t *Tracker) SyncHistory(ctx context.Context) (RebuildStats, error) {
	after, err := t.st.HealthHistoryWatermark(ctx)
	if err != nil {
		return RebuildStats{}, err
	}
	now := t.now()
	ids, through, err := t.st.AccountsWithPastEvents(ctx, after, dayStart(dayOf(now)-1))
	if err != nil {
		return RebuildStats{}, err
	}
	var st RebuildStats
	if len(ids) > 0 {
		st, err = t.RebuildHistory(ctx, RebuildOptions{Accounts: ids})
		if err != nil {
			return st, err
		}
	}
	if through > after {
		if err := t.st.SetHealthHistoryWatermark(ctx, through, now); err != nil {
			return st, err
		}
	}
	return st, nil
}

// DayScores are the kept scores of every account as they stood at the
// start of one day (accounts without a row that day are absent).
type DayScores struct {
	Day    int64
	Scores map[string]PastScore
}

// ScoresOnDay reads the kept scores of every account as they stood at the
// start of the day of at: one range of the history, which is kept by day,
// then account. The backtest reads the negatives' day (now − horizon) so,
// while it labels the outcomes, and hands it to PastScores.
func (t *Tracker) ScoresOnDay(ctx context.Context, at time.Time) (*DayScores, error) {
	ds := &DayScores{Day: dayOf(at), Scores: map[string]PastScore{}}
	// The results' components are allocated a few hundred rows at a time:
	// one allocation per row was a fifth of the read.
	const slabRows = 256
	var slab []health.Component
	err := t.st.HealthDaysOn(ctx, ds.Day, nil, func(r store.HealthDay) error {
		if len(slab) < health.DayComponents {
			slab = make([]health.Component, slabRows*health.DayComponents)
		}
		ps, err := pastScoreIn(r, slab[:0:health.DayComponents])
		slab = slab[health.DayComponents:]
		ds.Scores[r.AccountID] = ps
		return err
	})
	if err != nil {
		return nil, err
	}
	return ds, nil
}

// pastScoreOf is the score a kept row of the history says.
func pastScoreOf(r store.HealthDay) (PastScore, error) { return pastScoreIn(r, nil) }

// pastScoreIn is pastScoreOf with the result's components in room
// (health.Day.ResultIn).
func pastScoreIn(r store.HealthDay, room []health.Component) (PastScore, error) {
	day, err := dayOfRow(r)
	if err != nil {
		return PastScore{}, err
	}
	return PastScore{Result: day.ResultIn(room), Active: true, Warnings: day.WarningCodes()}, nil
}

// PastScores scores accounts as they stood at past times, like ScoresAt,
// from the kept daily history where it has the day: the health at the
// start of the day of each time. ids are the accounts and at[i] the times
// asked for ids[i]; the result's [i][k] answers at[i][k]. ahead, when not
// nil, is a day already read (ScoresOnDay). An account that has a history
// but no row for a day inside the retention had sent no event by then
// (not active). Times the history cannot answer (an account without any
// kept day, or a day older than the retention) are rebuilt from the
// events by ScoresAt. FromHistory counts the times answered from the
// history.
func (t *Tracker) PastScores(ctx context.Context, ids []string, at [][]time.Time, ahead *DayScores) (scores [][]PastScore, fromHistory int, err error) {
	out := make([][]PastScore, len(ids))
	index := make(map[string]int32, len(ids))
	// The times asked, by day, then account.
	type asked struct {
		day     int64
		account int32
		k       int32
		found   bool
	}
	var wants []asked
	for i, id := range ids {
		index[id] = int32(i)
		out[i] = make([]PastScore, len(at[i]))
		for k, ts := range at[i] {
			wants = append(wants, asked{day: dayOf(ts), account: int32(i), k: int32(k)})
		}
	}
	slices.SortFunc(wants, func(a, b asked) int {
		return cmp.Or(cmp.Compare(a.day, b.day), cmp.Compare(a.account, b.account), cmp.Compare(a.k, b.k))
	})
	// answer gives the times asked of one account on one day, wants[lo:…],
	// the score ps.
	answer := func(lo int, ps PastScore) {
		for j := lo; j < len(wants) && wants[j].day == wants[lo].day && wants[j].account == wants[lo].account; j++ {
			if !wants[j].found {
				out[wants[j].account][wants[j].k] = ps
				wants[j].found = true
				fromHistory++
			}
		}
	}
	// A day most accounts are read on (the negatives': now − horizon) is
	// read whole, as one range of the history; the positives' own days, a
	// few accounts each, by key in batches.
	var pairs []store.AccountDay
	pairAt := map[store.AccountDay]int{} // the account day's first time asked
	for lo := 0; lo < len(wants); {
		hi := lo
		accounts := 0
		for ; hi < len(wants) && wants[hi].day == wants[lo].day; hi++ {
			if hi == lo || wants[hi].account != wants[hi-1].account {
				accounts++
			}
		}
		d := wants[lo].day
		whole := ahead
		if whole == nil || whole.Day != d {
			whole = nil
			if accounts >= store.HealthDaysWholeRead {
				if whole, err = t.ScoresOnDay(ctx, dayStart(d)); err != nil {
					return nil, 0, err
				}
			}
		}
		for j := lo; j < hi; j++ {
			if j > lo && wants[j].account == wants[j-1].account {
				continue
			}
			if whole != nil {
				if ps, ok := whole.Scores[ids[wants[j].account]]; ok {
					answer(j, ps)
				}
				continue
			}
			p := store.AccountDay{AccountID: ids[wants[j].account], Day: d}
			pairs = append(pairs, p)
			pairAt[p] = j
		}
		lo = hi
	}
	err = t.st.HealthDaysAt(ctx, pairs, func(r store.HealthDay) error {
		j, ok := pairAt[store.AccountDay{AccountID: r.AccountID, Day: r.Day}]
		if !ok {
			return nil
		}
		ps, err := pastScoreOf(r)
		answer(j, ps)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	// The times not found: not yet active when the account's kept history
	// begins later, else rebuilt from the events.
	var missing []string
	for _, w := range wants {
		if !w.found {
			missing = append(missing, ids[w.account])
		}
	}
	if len(missing) == 0 {
		return out, fromHistory, nil
	}
	slices.Sort(missing)
	missing = slices.Compact(missing)
	firsts, err := t.st.HealthHistoryStarts(ctx, missing)
	if err != nil {
		return nil, 0, err
	}
	floor := dayOf(t.now()) - HistoryRetentionDays + 1
	rebuildAt := map[string][]time.Time{}
	pending := map[string][]int32{}
	for _, w := range wants {
		if w.found {
			continue
		}
		id := ids[w.account]
		if firstDay, kept := firsts[id]; kept && w.day < firstDay && w.day >= floor {
			out[w.account][w.k] = PastScore{Active: false}
			fromHistory++
			continue
		}
		pending[id] = append(pending[id], w.k)
		rebuildAt[id] = append(rebuildAt[id], at[w.account][w.k])
	}
	if len(pending) == 0 {
		return out, fromHistory, nil
	}
	rebuildIDs := make([]string, 0, len(pending))
	for id := range pending {
		rebuildIDs = append(rebuildIDs, id)
	}
	slices.Sort(rebuildIDs)
	byID, err := t.st.AccountsByIDTx(ctx, t.st.Reader(), rebuildIDs)
	if err != nil {
		return nil, 0, err
	}
	rebuild := make([]store.Account, 0, len(rebuildIDs))
	for _, id := range rebuildIDs {
		if a, ok := byID[id]; ok { // else deleted since: not active
			rebuild = append(rebuild, a)
		}
	}
	again, err := t.ScoresAt(ctx, rebuild, rebuildAt)
	if err != nil {
		return nil, 0, err
	}
	for id, ks := range pending {
		for n, k := range ks {
			if n < len(again[id]) {
				out[index[id]][k] = again[id][n]
			}
		}
	}
	return out, fromHistory, nil
}

// historyPoints are an account's kept days before `before` from day
// `from`, as trend points, for the days the trend table does not hold.
func (t *Tracker) historyPoints(ctx context.Context, id string, from, before int64) ([]store.HealthTrendPoint, error) {
	if before <= from {
		return nil, nil
	}
	days, err := t.st.HealthDays(ctx, id, from, before-1)
	if err != nil {
		return nil, err
	}
	out := make([]store.HealthTrendPoint, 0, len(days))
	for _, d := range days {
		out = append(out, store.HealthTrendPoint{Day: dayStart(d.Day), Behavioural: d.Behavioural, Emotional: d.Emotional,
			Combined: d.Combined, Quadrant: d.Quadrant})
	}
	slices.SortFunc(out, func(a, b store.HealthTrendPoint) int { return cmp.Compare(a.Day.Unix(), b.Day.Unix()) })
	return out, nil
}
