package tracker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
	"github.com/moments-cs/moments/internal/vocab"
)

// mapMilestones are the milestone ids of testdata/map.yaml's success paths.
var mapMilestones = []string{"kickoff", "integration_connected", "dashboard_shared", "adopted", "first_report", "trained"}

// reaches is account → milestone → first reach (Unix microseconds).
type reaches map[string]map[string]int64

func (r reaches) add(account, milestone string, at int64) {
	if r[account] == nil {
		r[account] = map[string]int64{}
	}
	if prev, ok := r[account][milestone]; !ok || at < prev {
		r[account][milestone] = at
	}
}

// keptReaches reads the milestones kept gathered by account, which the
// milestone funnel reads.
func keptReaches(t *testing.T, st *store.Store) reaches {
	t.Helper()
	out := reaches{}
	require.NoError(t, st.EachAccountMilestones(context.Background(), "account", mapMilestones, func(key []byte, at []int64) {
		out[string(key)] = map[string]int64{}
		for i, v := range at {
			if v != store.NotReached {
				out.add(string(key), mapMilestones[i], v)
			}
		}
	}))
	return out
}

// tableReaches reads health_milestones.
func tableReaches(t *testing.T, st *store.Store) reaches {
	t.Helper()
	rows, err := st.DB().QueryContext(context.Background(), `SELECT account_id, milestone_id, reached_at FROM health_milestones`)
	require.NoError(t, err)
	defer rows.Close()
	out := reaches{}
	for rows.Next() {
		var account, milestone string
		var at int64
		require.NoError(t, rows.Scan(&account, &milestone, &at))
		out.add(account, milestone, at)
	}
	require.NoError(t, rows.Err())
	return out
}

// eventReaches rebuilds the reaches from the stored "Milestone Reached"
// events: each account's first per milestone.
func eventReaches(t *testing.T, st *store.Store) reaches {
	t.Helper()
	rows, err := st.DB().QueryContext(context.Background(), `SELECT account_id, CAST(properties AS TEXT), timestamp FROM events WHERE name = $1`,
		vocab.EventMilestoneReached)
	require.NoError(t, err)
	defer rows.Close()
	out := reaches{}
	for rows.Next() {
		var account, props string
		var at int64
		require.NoError(t, rows.Scan(&account, &props, &at))
		var p struct {
			MilestoneID string `json:"milestone_id"`
		}
		require.NoError(t, json.Unmarshal([]byte(props), &p))
		out.add(account, p.MilestoneID, at)
	}
	require.NoError(t, rows.Err())
	return out
}

// TestAccountMilestonesMatchTheReaches: the milestones kept gathered by
// account (account_milestones) equal each account's first "Milestone
// Reached" event per milestone (rebuilt from events) and health_milestones,
// after histories replayed with past timestamps, out of order, through the
// real ingestion path; and so they stay through the daily recompute, a full
// rebuild, and event retention dropping every event before more history
// arrives (the reaches already kept stay, none later).
func TestAccountMilestonesMatchTheReaches(t *testing.T) {
	t.Parallel()
	const n = 300
	traits, batches := generate(n, 11)
	// Later history, again in the past: each account does what reaches
	// the event milestones, so those it had not reached it reaches now.
	var later []store.Message
	for i := range n {
		account := fmt.Sprintf("acct-%05d", i)
		for k, name := range []string{"Kickoff Held", "Integration Connected", "Report Created", "Dashboard Shared"} {
			later = append(later, track(account+"-u0", account, name, t0.Add(-time.Duration(10-k)*day), nil))
		}
	}
	// On PostgreSQL retention drops whole partitions: small ones.
	storetest.EachConfig(t, func(c *store.Config) { c.EventPartitionSpan = 256 }, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		ingest := func(batches ...[]store.Message) {
			for _, b := range batches {
				_, err := st.Ingest(ctx, "wk", b)
				require.NoError(t, err)
				require.NoError(t, st.WaitIdle(ctx))
			}
		}
		ingest(traits)
		ingest(batches...)
		fromEvents := eventReaches(t, st)
		require.Greater(t, len(fromEvents), n/3, "the history reaches milestones")
		require.Equal(t, fromEvents, keptReaches(t, st), "kept as the health stage recorded them")
		require.Equal(t, fromEvents, tableReaches(t, st))

		_, err := f.tr.Recompute(ctx)
		require.NoError(t, err)
		require.Equal(t, fromEvents, keptReaches(t, st), "after the daily recompute")
		_, err = f.tr.Rebuild(ctx)
		require.NoError(t, err)
		require.Equal(t, fromEvents, eventReaches(t, st), "a rebuild finds the same reaches")
		require.Equal(t, fromEvents, keptReaches(t, st), "after a rebuild")

		// Retention drops every event the recompute folded into the bases.
		f.advance(day)
		_, err = f.tr.Recompute(ctx)
		require.NoError(t, err)
		dropped, err := st.DropEventsBefore(ctx, f.now().Add(time.Hour))
		require.NoError(t, err)
		require.Positive(t, dropped.Events)
		require.Less(t, len(eventReaches(t, st)), len(fromEvents), "the milestone events went with the others")
		require.Equal(t, fromEvents, keptReaches(t, st), "retention keeps the reaches")

		// More history, again in the past, reaches more milestones.
		ingest(later)
		_, err = f.tr.Recompute(ctx)
		require.NoError(t, err)
		kept := keptReaches(t, st)
		require.Equal(t, tableReaches(t, st), kept)
		for account, ms := range eventReaches(t, st) { // the reaches of the kept events
			for id, at := range ms {
				require.LessOrEqual(t, kept[account][id], at, "%s %s", account, id)
			}
		}
		added := 0
		for account, ms := range kept {
			for id, at := range ms {
				if prev, ok := fromEvents[account][id]; ok {
					require.LessOrEqual(t, at, prev, "%s %s: never later than before", account, id)
				} else {
					added++
				}
			}
		}
		require.Positive(t, added, "the later history reached new milestones (%d dropped events, %d kept)", dropped.Events, len(eventReaches(t, st)))
		// A full rebuild starts from the kept events alone: the reaches stay
		// (a condition reached only now, such as a health score, may add
		// one), and the kept rows follow health_milestones.
		_, err = f.tr.Rebuild(ctx)
		require.NoError(t, err)
		rebuilt := keptReaches(t, st)
		require.Equal(t, tableReaches(t, st), rebuilt)
		for account, ms := range kept {
			for id, at := range ms {
				require.Equal(t, at, rebuilt[account][id], "%s %s", account, id)
			}
		}
	})
}
