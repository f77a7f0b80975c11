package report_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/examples"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/report"
	"github.com/moments-cs/moments/internal/stats"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// TestFunnelMatchesWalkPerAccount checks the milestone and the event
// funnels, which walk each step's marks once in time order (funnelWalk),
// against a walk per account over its own marks: steps reached out of order, past the window, before the period,
// after now, at the same instant, several times, or not at all; a name
// twice in a funnel; broken down by segment or plan (an account without
// one, or without an accounts row, under "unknown"). Counts and median
// days between steps must agree for the whole funnel and every group.
func TestFunnelMatchesWalkPerAccount(t *testing.T) {
	t.Parallel()
	m, diags := journey.Parse("b2b-saas.yaml", examples.B2BSaaS)
	require.False(t, journey.HasErrors(diags))
	p := m.SuccessPaths[0]
	now := time.Date(2026, 6, 30, 12, 0, 0, 0, time.UTC)
	labels := []string{"smb", "enterprise", ""}
	names := []string{"Integration Connected", "Report Created", "Dashboard Shared"}
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(5, 6))
		// marks[account][step key] are the account's marks, milestones and
		// events alike.
		marks := map[string]map[string][]time.Time{}
		label := map[string]string{}
		at := func() time.Time { // the last 60 days and a few after now, any order
			return now.Add(time.Duration(rng.IntN(64*24)-60*24) * time.Hour)
		}
		for a := range 300 {
			id := fmt.Sprintf("acct-%03d", a)
			marks[id] = map[string][]time.Time{}
			if a%10 != 9 { // one in ten has no accounts row
				label[id] = labels[a%3]
				_, err := st.DB().ExecContext(ctx, `INSERT INTO accounts (id, segment, plan, created_at, updated_at) VALUES ($1, $2, $2, 0, 0)`,
					id, label[id])
				require.NoError(t, err)
			}
			for _, ms := range p.Milestones {
				if rng.IntN(4) == 0 {
					continue
				}
				t0 := at()
				marks[id][ms.ID] = []time.Time{t0}
				_, err := st.DB().ExecContext(ctx, `INSERT INTO health_milestones (account_id, milestone_id, path_id, reached_at) VALUES ($1, $2, $3, $4)`,
					id, ms.ID, p.ID, t0.UnixMicro())
				require.NoError(t, err)
			}
			for e := range rng.IntN(8) {
				name := names[rng.IntN(len(names))]
				t0 := at()
				if e > 0 && rng.IntN(5) == 0 { // the same instant as another mark
					for _, ts := range marks[id] {
						t0 = ts[0]
					}
				}
				marks[id][name] = append(marks[id][name], t0)
				_, err := st.DB().ExecContext(ctx, `INSERT INTO analytics_marks (account_id, name, at, event_id) VALUES ($1, $2, $3, $4)`,
					id, name, t0.UnixMicro(), a*100+e)
				require.NoError(t, err)
			}
		}
		// The milestones were written directly: gathered by account as
		// RecordMilestonesTx would have.
		require.NoError(t, st.RebuildAccountMilestones(ctx))
		var milestones []string
		for _, ms := range p.Milestones {
			milestones = append(milestones, ms.ID)
		}
		for _, c := range []struct {
			req   report.FunnelRequest
			steps []string
		}{
			{report.FunnelRequest{Path: p.ID, Days: 40, WindowDays: 15, By: report.BySegment}, milestones},
			{report.FunnelRequest{Path: p.ID, Days: 365, WindowDays: 90}, milestones},
			{report.FunnelRequest{Events: names, Days: 40, WindowDays: 15, By: report.ByPlan}, names},
			{report.FunnelRequest{Events: []string{names[0], names[1], names[0]}, Days: 30, WindowDays: 20, By: report.BySegment},
				[]string{names[0], names[1], names[0]}},
		} {
			got, err := report.Funnel(ctx, st, m, c.req, now)
			require.NoError(t, err)
			// The walk per account, from its own marks.
			from := now.AddDate(0, 0, -c.req.Days)
			window := time.Duration(c.req.WindowDays) * 24 * time.Hour
			paths := map[string][]time.Time{}
			for a, byStep := range marks {
				var reached []time.Time
				for i, step := range c.steps {
					after := from
					if i > 0 {
						after = reached[i-1]
					}
					var first *time.Time
					for _, ts := range byStep[step] {
						if !ts.Before(after) && !ts.After(now) && (i == 0 || ts.Sub(reached[0]) <= window) && (first == nil || ts.Before(*first)) {
							first = &ts
						}
					}
					if first == nil {
						break
					}
					reached = append(reached, *first)
				}
				if len(reached) > 0 {
					paths[a] = reached
				}
			}
			figures := func(keep func(string) bool) (counts []int, medians []*float64) {
				counts = make([]int, len(c.steps))
				gaps := make([][]float64, len(c.steps))
				for a, r := range paths {
					if !keep(a) {
						continue
					}
					for i := range r {
						counts[i]++
						if i > 0 {
							gaps[i] = append(gaps[i], r[i].Sub(r[i-1]).Hours()/24)
						}
					}
				}
				for _, g := range gaps {
					if len(g) == 0 {
						medians = append(medians, nil)
						continue
					}
					v := math.Round(stats.Median(g)*1e4) / 1e4
					medians = append(medians, &v)
				}
				return counts, medians
			}
			of := func(steps []report.FunnelStep) (counts []int, medians []*float64) {
				for _, s := range steps {
					counts, medians = append(counts, s.Accounts), append(medians, s.MedianDays)
				}
				return counts, medians
			}
			wantCounts, wantMedians := figures(func(string) bool { return true })
			gotCounts, gotMedians := of(got.Steps)
			require.Equal(t, wantCounts, gotCounts, "%+v", c.req)
			require.Equal(t, wantMedians, gotMedians, "%+v", c.req)
			require.Greater(t, wantCounts[0], wantCounts[len(wantCounts)-1], "the data must lose accounts along the funnel")
			if c.req.By == "" {
				require.Empty(t, got.Groups)
				continue
			}
			require.Len(t, got.Groups, 3)
			var keys []string
			for _, g := range got.Groups {
				keys = append(keys, g.Key)
				want := map[string]string{"smb": "smb", "enterprise": "enterprise", "unknown": ""}[g.Key]
				wantCounts, wantMedians := figures(func(a string) bool { return label[a] == want })
				gotCounts, gotMedians := of(g.Steps)
				require.Equal(t, wantCounts, gotCounts, "%+v %s", c.req, g.Key)
				require.Equal(t, wantMedians, gotMedians, "%+v %s", c.req, g.Key)
			}
			require.True(t, slices.IsSorted(keys))
		}
	})
}
