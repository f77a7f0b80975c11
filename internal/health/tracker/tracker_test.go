package tracker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/health"
	"github.com/moments-cs/moments/internal/health/tracker"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
	"github.com/moments-cs/moments/internal/vocab"
)

var t0 = time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

type fixture struct {
	st    *store.Store
	tr    *tracker.Tracker
	live  *journey.Live
	clock *atomic.Int64
}

func (f *fixture) now() time.Time          { return time.Unix(0, f.clock.Load()).UTC() }
func (f *fixture) advance(d time.Duration) { f.clock.Add(int64(d)) }

// setup applies testdata/map.yaml to st and registers a tracker whose clock
// starts at t0.
func setup(t testing.TB, st *store.Store) *fixture {
	t.Helper()
	ctx := context.Background()
	live := journey.NewLive(st)
	data, err := os.ReadFile("testdata/map.yaml")
	require.NoError(t, err)
	res, err := live.Apply(ctx, "map.yaml", data, "test")
	require.NoError(t, err)
	require.False(t, journey.HasErrors(res.Diagnostics), "%v", res.Diagnostics)
	f := &fixture{st: st, live: live, clock: &atomic.Int64{}}
	f.clock.Store(t0.UnixNano())
	f.tr = tracker.New(st, live, tracker.Options{Now: f.now})
	st.OnIngest(f.tr.OnIngest)
	return f
}

func group(id string, traits map[string]any) store.Message {
	return store.Message{Type: "group", MessageID: "g-" + id + fmt.Sprint(len(traits)), GroupID: id, Traits: traits,
		Timestamp: t0.Add(-100 * day), ReceivedAt: t0}
}

func identify(user, account, role string) store.Message {
	return store.Message{Type: "identify", MessageID: "i-" + user, UserID: user, GroupID: account,
		Traits: map[string]any{"role": role, "email": user + "@customer.example"}, Timestamp: t0.Add(-100 * day), ReceivedAt: t0}
}

var seq atomic.Int64

func track(user, account, name string, at time.Time, props map[string]any) store.Message {
	raw, _ := json.Marshal(props)
	if props == nil {
		raw = []byte("{}")
	}
	return store.Message{Type: "track", MessageID: fmt.Sprintf("t-%d", seq.Add(1)), UserID: user, GroupID: account, Name: name,
		Properties: raw, Timestamp: at, ReceivedAt: t0}
}

func TestIncrementalHealthAndPath(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		start := t0.Add(-40 * day).Truncate(day)
		msgs := []store.Message{
			group("acme", map[string]any{"name": "Acme", "segment": "mid_market", "contract_start": start.Format(time.DateOnly),
				"seats": 4.0, "arr": 50000.0, "renewal_date": t0.Add(60 * day).Format(time.DateOnly), "owner": "casey@vendor.example"}),
			identify("u-sponsor", "acme", "sponsor"),
			track("u-1", "acme", "Kickoff Held", start.Add(5*day), nil),
			track("u-1", "acme", "Integration Connected", start.Add(20*day), nil),
		}
		_, err := st.Ingest(ctx, "wk", msgs)
		require.NoError(t, err)
		require.NoError(t, st.WaitIdle(ctx))

		h, err := st.AccountHealth(ctx, "acme")
		require.NoError(t, err)
		require.Equal(t, "mid_market", h.PathID)
		require.Equal(t, 2, h.MilestonesReached)
		require.Equal(t, 4, h.MilestonesTotal)
		require.Equal(t, "dashboard_shared", h.NextMilestone)
		require.Equal(t, start.Add(30*day), *h.NextDueAt)
		require.Equal(t, 10, h.DaysBehind(t0), "due 30 days after a start 40 days ago")
		require.Nil(t, h.TimeToValue)
		require.Equal(t, 20*day, *h.TimeToImplementation)
		require.Equal(t, int64(1), h.Version)

		// The value milestone, a sponsor's NPS and a week of use arrive in a
		// later batch, out of order.
		var later []store.Message
		for i := 6; i >= 0; i-- {
			later = append(later, track(fmt.Sprintf("u-%d", i%3), "acme", "Report Created", t0.Add(-time.Duration(i)*day), nil))
		}
		later = append(later,
			track("u-sponsor", "acme", "Survey Responded", t0.Add(-2*day), map[string]any{"kind": "nps", "score": 9}),
			track("u-2", "acme", "Dashboard Shared", start.Add(25*day), nil))
		_, err = st.Ingest(ctx, "wk", later)
		require.NoError(t, err)
		require.NoError(t, st.WaitIdle(ctx))

		h, err = st.AccountHealth(ctx, "acme")
		require.NoError(t, err)
		require.Equal(t, int64(2), h.Version)
		require.Equal(t, 25*day, *h.TimeToValue)
		require.NotNil(t, h.Emotional, "the sponsor's NPS is an emotion")
		require.Equal(t, 90.0, *h.Emotional)
		require.NotNil(t, h.Behavioural)

		// Compare with a direct computation through the pure packages.
		view, err := f.tr.Account(ctx, "acme")
		require.NoError(t, err)
		require.InDelta(t, view.Behavioural.Score, *h.Behavioural, 0.01)
		require.Equal(t, string(view.Quadrant), h.Quadrant)
		var nps health.Component
		for _, c := range view.Components {
			if c.Name == health.ComponentNPS {
				nps = c
			}
		}
		require.Contains(t, nps.Reason, "NPS 9 from sponsor u-sponsor")

		// Milestones are recorded as events, once each.
		evs, _, err := st.ListEvents(ctx, store.EventFilter{Account: "acme", Name: vocab.EventMilestoneReached}, store.Page{})
		require.NoError(t, err)
		got := map[string]int{}
		for _, e := range evs {
			var p map[string]any
			require.NoError(t, json.Unmarshal(e.Properties, &p))
			got[p["milestone_id"].(string)]++
		}
		want := map[string]int{"kickoff": 1, "integration_connected": 1, "dashboard_shared": 1}
		if h.MilestonesReached == 4 {
			want["adopted"] = 1
		}
		require.Equal(t, want, got)

		// A retried batch is deduplicated and changes nothing.
		_, err = st.Ingest(ctx, "wk", later)
		require.NoError(t, err)
		require.NoError(t, st.WaitIdle(ctx))
		again, err := st.AccountHealth(ctx, "acme")
		require.NoError(t, err)
		require.Equal(t, h, again)

		trend, err := st.HealthTrend(ctx, "acme", 0)
		require.NoError(t, err)
		require.Len(t, trend, 1, "one row per day")
		require.Equal(t, t0.Truncate(day), trend[0].Day)
		require.Equal(t, *h.Combined, *trend[0].Combined)

		p, err := f.tr.Path(ctx, "acme")
		require.NoError(t, err)
		require.Equal(t, "mid_market", p.PathID)
		require.Equal(t, 25.0, *p.TimeToValueDays)
		require.Equal(t, 20.0, *p.TimeToImplementationDays)
		require.Equal(t, tracker.StatusReached, p.Milestones[0].Status)
		require.True(t, p.Milestones[1].Late, "integration 6 days late")
		require.False(t, p.Milestones[2].Late)
	})
}

func TestTraitMilestoneAndAccountWithoutMap(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		_, err := st.Ingest(ctx, "wk", []store.Message{
			group("solo", map[string]any{"name": "Solo", "contract_start": t0.Add(-5 * day).Format(time.DateOnly)}),
			track("u-1", "solo", "Logged In", t0.Add(-time.Hour), nil),
		})
		require.NoError(t, err)
		require.NoError(t, st.WaitIdle(ctx))
		h, err := st.AccountHealth(ctx, "solo")
		require.NoError(t, err)
		require.Equal(t, "self_serve", h.PathID, "the catch-all path")
		require.Equal(t, 0, h.MilestonesReached)

		// A trait change alone reaches the trait-driven milestone.
		f.advance(time.Hour)
		_, err = st.Ingest(ctx, "wk", []store.Message{
			{Type: "group", MessageID: "g-solo-2", GroupID: "solo", Traits: map[string]any{"trained_users": 6.0},
				Timestamp: f.now(), ReceivedAt: f.now()},
		})
		require.NoError(t, err)
		require.NoError(t, st.WaitIdle(ctx))
		h, err = st.AccountHealth(ctx, "solo")
		require.NoError(t, err)
		require.Equal(t, 1, h.MilestonesReached)
		require.Equal(t, "integration_connected", h.NextMilestone)
		require.Equal(t, 2, h.DaysBehind(f.now()), "due 3 days after a start 5 days ago")
	})
}

// generate makes a history for n accounts: traits first, then events over
// the last 120 days in shuffled batches, so that incremental updates see
// them out of order.
func generate(n int, seed uint64) (traits []store.Message, batches [][]store.Message) {
	r := rand.New(rand.NewPCG(seed, 7))
	segments := []string{"mid_market", "smb", "enterprise", ""}
	roles := []string{"sponsor", "champion", "admin", "user"}
	names := []string{"Logged In", "Report Created", "Dashboard Shared", "Export Run", "Page Viewed",
		"Kickoff Held", "Integration Connected", "Ticket Opened", "Ticket Escalated", "Ticket Reopened"}
	// Each account's events, shuffled, go out in three parts, in batches of
	// 100 accounts: every account is updated three times, with events out
	// of time order within and across its updates.
	rounds := make([][][]store.Message, 3)
	for i := range rounds {
		rounds[i] = make([][]store.Message, n)
	}
	for i := range n {
		acct := fmt.Sprintf("acct-%05d", i)
		tr := map[string]any{"name": fmt.Sprintf("Account %d", i), "segment": segments[r.IntN(len(segments))],
			"arr": float64(1000 * (1 + r.IntN(100))), "seats": float64(r.IntN(30)), "owner": fmt.Sprintf("csm%d@vendor.example", r.IntN(5))}
		if r.IntN(4) > 0 {
			tr["contract_start"] = t0.Add(-time.Duration(r.IntN(150)) * day).Format(time.DateOnly)
		}
		if r.IntN(3) == 0 {
			tr["trained_users"] = float64(r.IntN(10))
		}
		traits = append(traits, store.Message{Type: "group", MessageID: "g-" + acct, GroupID: acct, Traits: tr,
			Timestamp: t0.Add(-150 * day), ReceivedAt: t0})
		users := 1 + r.IntN(8)
		for u := range users {
			if r.IntN(2) == 0 {
				user := fmt.Sprintf("%s-u%d", acct, u)
				traits = append(traits, store.Message{Type: "identify", MessageID: "i-" + user, UserID: user, GroupID: acct,
					Traits: map[string]any{"role": roles[r.IntN(len(roles))]}, Timestamp: t0.Add(-150 * day), ReceivedAt: t0})
			}
		}
		active := r.IntN(4) > 0
		var events []store.Message
		for range r.IntN(50) {
			user := fmt.Sprintf("%s-u%d", acct, r.IntN(users))
			at := t0.Add(-time.Duration(r.Int64N(int64(120 * day))))
			if !active {
				at = at.Add(-40 * day)
			}
			name := names[r.IntN(len(names))]
			var props map[string]any
			switch r.IntN(12) {
			case 0:
				name = vocab.EventSurveyResponded
				kind := []string{"nps", "csat", "ces"}[r.IntN(3)]
				props = map[string]any{"kind": kind, "score": r.IntN(11)}
			case 1:
				name = "Feature Used"
				props = map[string]any{"feature": "Export Run"}
			}
			events = append(events, track(user, acct, name, at, props))
		}
		r.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
		for k, e := range events {
			rounds[k%3][i] = append(rounds[k%3][i], e)
		}
	}
	for _, round := range rounds {
		for start := 0; start < n; start += 100 {
			var b []store.Message
			for _, evs := range round[start:min(start+100, n)] {
				b = append(b, evs...)
			}
			batches = append(batches, b)
		}
	}
	return traits, batches
}

type snapshot struct {
	state map[string]store.AccountHealth
	agg   map[string]*health.Aggregate
}

func snap(t *testing.T, st *store.Store, n int) snapshot {
	t.Helper()
	ctx := context.Background()
	s := snapshot{state: map[string]store.AccountHealth{}, agg: map[string]*health.Aggregate{}}
	for i := range n {
		id := fmt.Sprintf("acct-%05d", i)
		h, err := st.AccountHealth(ctx, id)
		require.NoError(t, err, id)
		h.Version, h.QuadrantVersion = 0, 0
		s.state[id] = h
		raw, err := st.HealthAggregate(ctx, id)
		require.NoError(t, err)
		a := &health.Aggregate{}
		require.NoError(t, a.UnmarshalJSON(raw))
		s.agg[id] = a
	}
	return s
}

// TestRecomputeAgreesWithIncremental ingests 2,000 accounts' histories
// through the real ingestion path (store.Ingest with the hook), then
// rebuilds every account from its stored events: the two must agree on
// every aggregate, score, quadrant and path figure.
func TestRecomputeAgreesWithIncremental(t *testing.T) {
	t.Parallel()
	const n = 2000
	traits, batches := generate(n, 1)
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		_, err := st.Ingest(ctx, "wk", traits)
		require.NoError(t, err)
		require.NoError(t, st.WaitIdle(ctx))
		events := 0
		began := time.Now()
		for _, b := range batches {
			_, err := st.Ingest(ctx, "wk", b)
			require.NoError(t, err)
			require.NoError(t, st.WaitIdle(ctx))
			events += len(b)
		}
		t.Logf("ingested %d events in %d calls in %v", events, len(batches), time.Since(began))
		incremental := snap(t, st, n)

		stats, err := f.tr.Recompute(ctx)
		require.NoError(t, err)
		require.Equal(t, n, stats.Accounts)
		require.Equal(t, 0, stats.Redone)
		require.Equal(t, 0, stats.Milestones, "every milestone was recorded when ingestion reached it")
		require.GreaterOrEqual(t, stats.Events, int64(events), "customer events plus recorded milestones")
		t.Logf("recomputed %d accounts, %d events in %v", stats.Accounts, stats.Events, stats.Duration)
		full := snap(t, st, n)

		paths, quadrants := map[string]int{}, map[string]int{}
		for i := range n {
			id := fmt.Sprintf("acct-%05d", i)
			require.Equal(t, incremental.agg[id], full.agg[id], id)
			require.Equal(t, incremental.state[id], full.state[id], id)
			paths[full.state[id].PathID]++
			quadrants[full.state[id].Quadrant]++
		}
		// The data set exercises every path and several quadrants.
		require.Len(t, paths, 2, "%v", paths)
		require.GreaterOrEqual(t, len(quadrants), 4, "%v", quadrants)
	})
}

// TestRecomputeDecaysAndKeepsTrend: days without events lower the scores,
// and each day's recompute adds a trend row.
func TestRecomputeDecaysAndKeepsTrend(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		var msgs []store.Message
		msgs = append(msgs, group("busy", map[string]any{"name": "Busy", "seats": 2.0}))
		for i := range 20 {
			msgs = append(msgs, track("u-1", "busy", "Report Created", t0.Add(-time.Duration(i)*day), nil))
		}
		_, err := st.Ingest(ctx, "wk", msgs)
		require.NoError(t, err)
		require.NoError(t, st.WaitIdle(ctx))
		before, err := st.AccountHealth(ctx, "busy")
		require.NoError(t, err)

		f.advance(14 * day)
		_, err = f.tr.Recompute(ctx)
		require.NoError(t, err)
		after, err := st.AccountHealth(ctx, "busy")
		require.NoError(t, err)
		// Recency, frequency, intensity and trend all fall.
		require.Less(t, *after.Behavioural, *before.Behavioural-3)
		require.Equal(t, *before.Combined, *after.CombinedBaseline, "the baseline is the score 14 days earlier")
		require.True(t, after.UsageDrop, "no use in 14 days after daily use")

		trend, err := st.HealthTrend(ctx, "busy", 0)
		require.NoError(t, err)
		require.Len(t, trend, 2)
		require.Equal(t, *before.Combined, *trend[0].Combined)
		require.Equal(t, *after.Combined, *trend[1].Combined)

		// The daily schedule runs once per day, in one process.
		ok, err := st.ClaimHealthRun(ctx, "test", 100, f.now())
		require.NoError(t, err)
		require.True(t, ok)
		ok, err = st.ClaimHealthRun(ctx, "test", 100, f.now())
		require.NoError(t, err)
		require.False(t, ok)
	})
}

// TestRecomputeWhileIngesting runs a recompute while events keep arriving
// for the same accounts: nothing may be lost, so a final recompute, and a
// rebuild from every event, must agree with the state left behind.
func TestRecomputeWhileIngesting(t *testing.T) {
	t.Parallel()
	const n = 300
	traits, batches := generate(n, 2)
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		_, err := st.Ingest(ctx, "wk", traits)
		require.NoError(t, err)
		require.NoError(t, st.WaitIdle(ctx))
		half := len(batches) / 2
		for _, b := range batches[:half] {
			_, err := st.Ingest(ctx, "wk", b)
			require.NoError(t, err)
			require.NoError(t, st.WaitIdle(ctx))
		}
		done := make(chan error, 1)
		go func() {
			for _, b := range batches[half:] {
				if _, err := st.Ingest(ctx, "wk", b); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		for range 3 {
			_, err := f.tr.Recompute(ctx)
			require.NoError(t, err)
		}
		require.NoError(t, <-done)
		require.NoError(t, st.WaitIdle(ctx))
		live := snap(t, st, n)
		_, err = f.tr.Recompute(ctx)
		require.NoError(t, err)
		full := snap(t, st, n)
		// A rebuild from every event, ignoring the bases the recomputes
		// kept while events arrived, agrees too.
		_, err = f.tr.Rebuild(ctx)
		require.NoError(t, err)
		rebuilt := snap(t, st, n)
		for i := range n {
			id := fmt.Sprintf("acct-%05d", i)
			require.Equal(t, full.agg[id], live.agg[id], id)
			require.Equal(t, rebuilt.agg[id], live.agg[id], id)
		}
	})
}
