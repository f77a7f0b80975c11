package tracker_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/health"
	"github.com/moments-cs/moments/internal/health/tracker"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// TestBreadthAgainstTheSegment: with no key features, breadth compares the
// features an account used in the window with what the broad users of its
// segment use (the 90th percentile), the same in the full recompute, in
// the ingest hook and in the account view.
func TestBreadthAgainstTheSegment(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clock := &atomic.Int64{}
		clock.Store(t0.UnixNano())
		tr := tracker.New(st, journey.NewLive(st), tracker.Options{Now: func() time.Time { return time.Unix(0, clock.Load()).UTC() }})
		st.OnIngest(tr.OnIngest)
		// smb accounts use 2, 4, 6 and 8 features in the last 30 days: the
		// 90th percentile is the 4th of 4, 8 features. The one enterprise
		// account uses 3, its segment's reference.
		uses := map[string]int{"s2": 2, "s4": 4, "s6": 6, "s8": 8, "e3": 3}
		var msgs []store.Message
		for id, n := range uses {
			seg := "smb"
			if id == "e3" {
				seg = "enterprise"
			}
			msgs = append(msgs, group(id, map[string]any{"name": id, "segment": seg}))
			for f := range n {
				msgs = append(msgs, track(id+"-u", id, fmt.Sprintf("Feature %d", f), t0.Add(-time.Duration(f+1)*day), nil))
			}
		}
		_, err := st.Ingest(ctx, "wk", msgs)
		require.NoError(t, err)
		require.NoError(t, st.WaitIdle(ctx))
		_, err = tr.Recompute(ctx)
		require.NoError(t, err)

		breadth := func(id string) health.Component {
			t.Helper()
			h, err := tr.Account(ctx, id)
			require.NoError(t, err)
			for _, c := range h.Components {
				if c.Name == health.ComponentBreadth {
					return c
				}
			}
			t.Fatalf("%s: no breadth", id)
			return health.Component{}
		}
		for id, want := range map[string]float64{"s2": 25, "s4": 50, "s6": 75, "s8": 100, "e3": 100} {
			require.InDelta(t, want, breadth(id).Value.Score, 1e-9, "%s: %s", id, breadth(id).Reason)
		}

		stored := func(id string) float64 {
			h, err := st.AccountHealth(ctx, id)
			require.NoError(t, err)
			return *h.Behavioural
		}
		recomputed := stored("s2")
		// An hour later s2 uses one of its two features again: the ingest
		// hook scores it against the same reference as the recompute did.
		clock.Add(int64(time.Hour))
		_, err = st.Ingest(ctx, "wk", []store.Message{track("s2-u", "s2", "Feature 0", t0.Add(-day), nil)})
		require.NoError(t, err)
		require.NoError(t, st.WaitIdle(ctx))
		live := stored("s2")
		h, err := tr.Account(ctx, "s2")
		require.NoError(t, err)
		require.InDelta(t, h.Behavioural.Score, live, 0.01, "the view and the ingest hook agree")
		_, err = tr.Recompute(ctx)
		require.NoError(t, err)
		require.InDelta(t, stored("s2"), live, 0.01, "a recompute and the ingest hook agree")
		require.NotZero(t, recomputed)
		require.InDelta(t, 25, breadth("s2").Value.Score, 1e-9)
	})
}
