package report_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/report"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// TestScorecardsSurviveEventRetention drops every raw event of the scripted
// history (event retention) and reads the same scorecards: they come from
// the analytics marks and day cells, which are kept, and the day cells
// rebuild from the marks alone.
func TestScorecardsSurviveEventRetention(t *testing.T) {
	t.Parallel()
	m := loadMap(t)
	// On PostgreSQL retention drops partitions of four ids.
	storetest.EachConfig(t, func(c *store.Config) { c.EventPartitionSpan = 4 }, func(t *testing.T, st *store.Store) {
		st.OnIngest(st.RecordAnalytics)
		script(t, st, m)
		ctx := context.Background()
		require.NoError(t, st.WaitIdle(ctx))
		before, err := report.Scorecards(ctx, st, m, 30, now)
		require.NoError(t, err)
		require.Equal(t, 4, before.Moments[0].Occurrences)

		require.NoError(t, st.SetHealthBasesThrough(ctx, 1<<40, now)) // as a health recompute records
		dropped, err := st.DropEventsBefore(ctx, now.Add(time.Hour))
		require.NoError(t, err)
		require.Positive(t, dropped.Events)
		n, err := st.CountEvents(ctx)
		require.NoError(t, err)
		if st.Dialect() == store.SQLite {
			require.EqualValues(t, 1, n, "every event was received before the cutoff; SQLite keeps its newest, so ids keep rising")
		} else {
			require.Less(t, n, int64(4), "on PostgreSQL all but the partition of the newest ids (which may still receive events)")
		}

		after, err := report.Scorecards(ctx, st, m, 30, now)
		require.NoError(t, err)
		require.Equal(t, before, after)
		require.Equal(t, 4, after.Moments[0].Occurrences)
		require.Equal(t, 5.5, f(after.Moments[0].Time.MedianDays))

		_, err = st.DB().ExecContext(ctx, `DELETE FROM moment_days`)
		require.NoError(t, err)
		rebuilt, err := report.Scorecards(ctx, st, m, 30, now)
		require.NoError(t, err)
		require.Equal(t, before, rebuilt, "the day cells rebuild from the kept marks")
	})
}
