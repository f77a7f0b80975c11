package report_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/examples"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/report"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// TestMilestoneFunnelMatchesStepwise checks the milestone funnel, which
// walks each step's reaches once in time order (funnelStep), against the
// walk per account over each milestone's reaches: milestones reached out
// of order, past the window, before the period, or not at all, broken
// down by segment (an account without a segment under "unknown").
func TestMilestoneFunnelMatchesStepwise(t *testing.T) {
	t.Parallel()
	m, diags := journey.Parse("b2b-saas.yaml", examples.B2BSaaS)
	require.False(t, journey.HasErrors(diags))
	p := m.SuccessPaths[0]
	now := time.Date(2026, 6, 30, 12, 0, 0, 0, time.UTC)
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(5, 6))
		for a := range 300 {
			id := fmt.Sprintf("acct-%03d", a)
			_, err := st.DB().ExecContext(ctx, `INSERT INTO accounts (id, segment, plan, created_at, updated_at) VALUES ($1, $2, 'pro', 0, 0)`,
				id, []string{"smb", "enterprise", ""}[a%3])
			require.NoError(t, err)
			for _, ms := range p.Milestones {
				if rng.IntN(4) == 0 {
					continue
				}
				at := now.Add(-time.Duration(rng.IntN(60*24)) * time.Hour) // the last 60 days, any order
				_, err := st.DB().ExecContext(ctx, `INSERT INTO health_milestones (account_id, milestone_id, path_id, reached_at) VALUES ($1, $2, $3, $4)`,
					id, ms.ID, p.ID, at.UnixMicro())
				require.NoError(t, err)
			}
		}
		req := report.FunnelRequest{Path: p.ID, Days: 40, WindowDays: 15, By: report.BySegment}
		got, err := report.Funnel(ctx, st, m, req, now)
		require.NoError(t, err)

		// The walk step by step, as the funnel did before.
		from := now.AddDate(0, 0, -req.Days)
		window := time.Duration(req.WindowDays) * 24 * time.Hour
		paths := map[string][]time.Time{}
		for i, ms := range p.Milestones {
			byAccount := map[string]time.Time{}
			require.NoError(t, st.EachFirstMark(ctx, ms.ID, true, from, now, func(account []byte, at int64) {
				byAccount[string(account)] = time.UnixMicro(at).UTC()
			}))
			for a, at := range byAccount {
				r, ok := paths[a]
				switch {
				case i == 0:
					paths[a] = []time.Time{at}
				case ok && len(r) == i && !at.Before(r[i-1]) && at.Sub(r[0]) <= window:
					paths[a] = append(r, at)
				}
			}
		}
		counts := func(keep func(string) bool) []int {
			out := make([]int, len(p.Milestones))
			for a, r := range paths {
				if keep(a) {
					for i := range r {
						out[i]++
					}
				}
			}
			return out
		}
		accounts := func(steps []report.FunnelStep) []int {
			var out []int
			for _, s := range steps {
				out = append(out, s.Accounts)
			}
			return out
		}
		want := counts(func(string) bool { return true })
		require.Equal(t, want, accounts(got.Steps))
		require.Greater(t, want[0], want[len(want)-1], "the data must lose accounts along the path")
		require.Len(t, got.Groups, 3)
		for _, g := range got.Groups {
			seg := map[string]string{"smb": "smb", "enterprise": "enterprise", "unknown": ""}[g.Key]
			require.Equal(t, counts(func(a string) bool {
				var n int
				fmt.Sscanf(a, "acct-%d", &n)
				return []string{"smb", "enterprise", ""}[n%3] == seg
			}), accounts(g.Steps), g.Key)
		}
	})
}
