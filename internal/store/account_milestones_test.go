package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// recordMilestones records reaches in one transaction, as the health
// stage and the recompute do.
func recordMilestones(t *testing.T, s *store.Store, reaches ...store.MilestoneReach) {
	t.Helper()
	ctx := context.Background()
	tx, err := s.DB().BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback() //nolint:errcheck
	require.NoError(t, s.RecordMilestonesTx(ctx, tx, reaches, t0))
	require.NoError(t, tx.Commit())
}

// accountMilestones reads the kept rows by key (account, segment or plan):
// key → one entry per row, milestone id → Unix microseconds.
func accountMilestones(t *testing.T, s *store.Store, column string, ids []string) map[string][]map[string]int64 {
	t.Helper()
	out := map[string][]map[string]int64{}
	require.NoError(t, s.EachAccountMilestones(context.Background(), column, ids, func(key []byte, at []int64) {
		row := map[string]int64{}
		for i, v := range at {
			if v != store.NotReached {
				row[ids[i]] = v
			}
		}
		out[string(key)] = append(out[string(key)], row)
	}))
	return out
}

// TestAccountMilestonesKeepTheFirstReaches: the milestones kept gathered
// by account (what a milestone funnel reads) hold each milestone's first
// reach as health_milestones does, whatever order the reaches are recorded
// in; by segment or plan an account without an accounts row has none; a
// rebuild from health_milestones leaves them as they were.
func TestAccountMilestonesKeepTheFirstReaches(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		_, err := s.Ingest(ctx, "wk", []store.Message{
			{Type: "group", MessageID: "g1", GroupID: "acme", Timestamp: t0, ReceivedAt: t0,
				Traits: map[string]any{"segment": "smb", "plan": "pro"}},
		})
		require.NoError(t, err)
		reach := func(account, milestone string, days int) store.MilestoneReach {
			return store.MilestoneReach{AccountID: account, PathID: "p", MilestoneID: milestone, Name: milestone,
				At: t0.Add(time.Duration(days) * 24 * time.Hour)}
		}
		at := func(days int) int64 { return t0.Add(time.Duration(days) * 24 * time.Hour).UnixMicro() }
		recordMilestones(t, s, reach("acme", "kickoff", -5), reach("ghost", "kickoff", -9))
		recordMilestones(t, s, reach("acme", "kickoff", -2), reach("acme", "value", -1))   // a later kickoff changes nothing
		recordMilestones(t, s, reach("ghost", "kickoff", -12), reach("ghost", "value", 3)) // an earlier one replaces it
		ids := []string{"value", "kickoff", "missing"}
		want := map[string][]map[string]int64{
			"acme":  {{"kickoff": at(-5), "value": at(-1)}},
			"ghost": {{"kickoff": at(-12), "value": at(3)}},
		}
		require.Equal(t, want, accountMilestones(t, s, "account", ids))
		require.Equal(t, map[string][]map[string]int64{"smb": want["acme"], "": want["ghost"]}, accountMilestones(t, s, "segment", ids))
		require.Equal(t, map[string][]map[string]int64{"pro": want["acme"], "": want["ghost"]}, accountMilestones(t, s, "plan", ids))
		require.Error(t, s.EachAccountMilestones(ctx, "traits", ids, func([]byte, []int64) {}))

		// Many accounts in one call (several statements), then a rebuild.
		var many []store.MilestoneReach
		for i := range 1500 {
			many = append(many, reach(fmt.Sprintf("a%04d", i), "kickoff", -i%40), reach(fmt.Sprintf("a%04d", i), "value", i%7))
		}
		recordMilestones(t, s, many...)
		kept := accountMilestones(t, s, "account", ids)
		require.Len(t, kept, 1502)
		require.Equal(t, map[string]int64{"kickoff": at(-1234 % 40), "value": at(1234 % 7)}, kept["a1234"][0])
		require.NoError(t, s.RebuildAccountMilestones(ctx))
		require.Equal(t, kept, accountMilestones(t, s, "account", ids))
	})
}
