package tracker_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/health"
	"github.com/moments-cs/moments/internal/health/planted"
	"github.com/moments-cs/moments/internal/health/tracker"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

func unixDay(t time.Time) int64 { return t.Unix() / 86400 }

// direct scores a planted account at the start of day d, from its events
// before then, without the store.
func direct(a *planted.Account, d int64) health.Result {
	at := time.Unix(d*86400, 0).UTC()
	return health.Scores(health.Recompute(a.EventsBefore(at), journey.HealthModel{}), a.Info(), journey.HealthModel{}, at)
}

func TestRebuiltHistoryEqualsScoresComputedDirectly(t *testing.T) {
	t.Parallel()
	cfg := planted.DefaultConfig(3)
	cfg.Accounts, cfg.Days = 12, 100
	accounts := planted.Generate(cfg)
	now := cfg.End.Add(9 * time.Hour)
	today := unixDay(now)
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		require.NoError(t, planted.Ingest(context.Background(), st, accounts, now))
		tr := tracker.New(st, journey.NewLive(st), tracker.Options{Now: func() time.Time { return now }})

		stats, err := tr.RebuildHistory(ctx, tracker.RebuildOptions{})
		require.NoError(t, err)
		require.Equal(t, len(accounts), stats.Accounts)
		var want int64
		var a *planted.Account
		for _, acct := range accounts {
			days, err := st.HealthDays(ctx, acct.ID, 0, today)
			require.NoError(t, err)
			if len(acct.Events) == 0 {
				require.Empty(t, days, "no history before an account's first event")
				continue
			}
			a = acct
			first := unixDay(a.Events[0].Timestamp) + 1
			want += today - first + 1
			// One row a day from the day after the first event to today:
			// none before the account was a customer.
			require.Len(t, days, int(today-first+1), a.ID)
			require.Equal(t, first, days[0].Day)
			for _, row := range days {
				require.True(t, row.Rebuilt)
				d := direct(a, row.Day)
				require.NotNil(t, row.Combined)
				require.InDelta(t, d.Combined.Score, *row.Combined, 1e-9, "%s on day %d", a.ID, row.Day)
				require.Equal(t, string(d.Quadrant), row.Quadrant)
				var kept health.Day
				require.NoError(t, kept.DecodeComponents(row.Components))
				for _, c := range d.Components {
					got, ok := kept.Result().Component(c.Name)
					require.True(t, ok, c.Name)
					require.Equal(t, c.Value.Known, got.Value.Known, c.Name)
					require.InDelta(t, c.Value.Score, got.Value.Score, 1e-4, c.Name)
				}
				require.Equal(t, health.DayOf(d, row.Day).Warnings, uint8(row.Warnings))
			}
		}
		require.Equal(t, want, stats.Days)

		// Again: the same rows, none added.
		again, err := tr.RebuildHistory(ctx, tracker.RebuildOptions{})
		require.NoError(t, err)
		require.Equal(t, stats.Days, again.Days)
		days, err := st.HealthDays(ctx, a.ID, 0, today)
		require.NoError(t, err)
		require.Len(t, days, int(today-unixDay(a.Events[0].Timestamp)))

		// The account page's trend shows the rebuilt days on day one.
		h, err := tr.Account(ctx, a.ID)
		require.NoError(t, err)
		require.Len(t, h.Trend, min(tracker.TrendDays, len(days)))
		last := h.Trend[len(h.Trend)-1]
		require.Equal(t, time.Unix(today*86400, 0).UTC(), last.Day)
		require.InDelta(t, direct(a, today).Combined.Score, *last.Combined, 1e-9)
	})
}

func TestLivedDaysAreKeptAndImportsAreRebuilt(t *testing.T) {
	t.Parallel()
	cfg := planted.DefaultConfig(4)
	cfg.Accounts, cfg.Days = 6, 90
	accounts := planted.Generate(cfg)
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		f := setup(t, st)
		tr := f.tr
		today := unixDay(f.now())

		// A live account, seen by the daily recompute: today's row is
		// written as the day passes.
		_, err := st.Ingest(ctx, "wk", []store.Message{
			group("live", map[string]any{"name": "Live", "seats": 5}),
			// Yesterday evening: live, not an import.
			track("u1", "live", "Report Created", time.Unix(today*86400, 0).Add(-time.Hour), nil),
		})
		require.NoError(t, err)
		require.NoError(t, st.WaitIdle(ctx))
		_, err = tr.Recompute(ctx)
		require.NoError(t, err)
		days, err := st.HealthDays(ctx, "live", 0, today)
		require.NoError(t, err)
		require.Len(t, days, 1)
		require.False(t, days[0].Rebuilt)
		require.Equal(t, today, days[0].Day)
		lived := *days[0].Combined

		// Nothing imported yet: the sync has nothing to rebuild.
		st0, err := tr.SyncHistory(ctx)
		require.NoError(t, err)
		require.Zero(t, st0.Accounts)

		// A later recompute the same day keeps the day as it began.
		f.advance(3 * time.Hour)
		_, err = st.Ingest(ctx, "wk", []store.Message{track("u1", "live", "Report Created", f.now().Add(-time.Minute), nil)})
		require.NoError(t, err)
		require.NoError(t, st.WaitIdle(ctx))
		_, err = tr.Recompute(ctx)
		require.NoError(t, err)
		days, err = st.HealthDays(ctx, "live", 0, today)
		require.NoError(t, err)
		require.Len(t, days, 1)
		require.InDelta(t, lived, *days[0].Combined, 1e-12)

		// An import of past events: the sync rebuilds the imported accounts'
		// past days, and the live account's lived day stays.
		for _, a := range accounts {
			a.ID = "imported-" + a.ID
			for i := range a.Events {
				a.Events[i].Timestamp = a.Events[i].Timestamp.Add(f.now().Sub(cfg.End)).Add(-48 * time.Hour)
			}
		}
		require.NoError(t, planted.Ingest(context.Background(), st, accounts, f.now()))
		synced, err := tr.SyncHistory(ctx)
		require.NoError(t, err)
		require.Equal(t, len(accounts), synced.Accounts)
		for _, a := range accounts {
			days, err := st.HealthDays(ctx, a.ID, 0, today)
			require.NoError(t, err)
			require.NotEmpty(t, days, a.ID)
			require.Equal(t, unixDay(a.Events[0].Timestamp)+1, days[0].Day)
			require.True(t, days[0].Rebuilt)
		}
		// Checked once: the next sync finds nothing new.
		synced, err = tr.SyncHistory(ctx)
		require.NoError(t, err)
		require.Zero(t, synced.Accounts)

		// A rebuild of everything keeps the lived day unless told to replace it.
		_, err = tr.RebuildHistory(ctx, tracker.RebuildOptions{})
		require.NoError(t, err)
		days, err = st.HealthDays(ctx, "live", 0, today)
		require.NoError(t, err)
		require.Len(t, days, 1)
		require.False(t, days[0].Rebuilt)
		_, err = tr.RebuildHistory(ctx, tracker.RebuildOptions{Accounts: []string{"live"}, Replace: true})
		require.NoError(t, err)
		days, err = st.HealthDays(ctx, "live", 0, today)
		require.NoError(t, err)
		require.True(t, days[0].Rebuilt, "--replace rewrites the lived day from the events")
	})
}

// TestPastScoresReadTheHistoryAsScoresAtRebuildsIt checks PastScores, the
// backtest's read of the kept history, against ScoresAt, which rebuilds
// the same scores from the events: for every account at two times (one
// day read whole ahead, as the backtest reads the negatives' day, the
// others by key), a time before an account's first event (not yet
// active) and one older than the retention (rebuilt from the events).
func TestPastScoresReadTheHistoryAsScoresAtRebuildsIt(t *testing.T) {
	t.Parallel()
	cfg := planted.DefaultConfig(4)
	cfg.Accounts, cfg.Days = 15, 120
	accounts := planted.Generate(cfg)
	now := cfg.End.Add(9 * time.Hour)
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		require.NoError(t, planted.Ingest(context.Background(), st, accounts, now))
		tr := tracker.New(st, journey.NewLive(st), tracker.Options{Now: func() time.Time { return now }})
		_, err := tr.RebuildHistory(ctx, tracker.RebuildOptions{})
		require.NoError(t, err)

		// Times at the start of a day, where the history and the rebuild
		// from events score alike.
		const day = 24 * time.Hour
		negatives := now.Add(-20 * day).Truncate(day)
		var ids []string
		var at [][]time.Time
		var list []store.Account
		byID := map[string][]time.Time{}
		for i, a := range accounts {
			if len(a.Events) == 0 {
				continue
			}
			times := []time.Time{negatives, now.Add(-time.Duration(25+i) * day).Truncate(day), a.Events[0].Timestamp.Add(-2 * day)}
			if i == 0 {
				times = append(times, now.Add(-(tracker.HistoryRetentionDays+3)*day))
			}
			ids = append(ids, a.ID)
			at = append(at, times)
			byID[a.ID] = times
			acct, err := st.Account(ctx, a.ID)
			require.NoError(t, err)
			list = append(list, acct)
		}
		want, err := tr.ScoresAt(ctx, list, byID)
		require.NoError(t, err)
		ahead, err := tr.ScoresOnDay(ctx, negatives)
		require.NoError(t, err)
		require.Len(t, ahead.Scores, len(ids), "every account had events by then")
		for _, read := range []*tracker.DayScores{nil, ahead} {
			got, fromHistory, err := tr.PastScores(ctx, ids, at, read)
			require.NoError(t, err)
			require.Equal(t, 3*len(ids), fromHistory, "all but the time older than the retention")
			for i, id := range ids {
				require.Len(t, got[i], len(at[i]))
				for k := range at[i] {
					w, g := want[id][k], got[i][k]
					require.Equal(t, w.Active, g.Active, "%s at %s", id, at[i][k])
					if !w.Active {
						continue
					}
					require.InDelta(t, w.Result.Combined.Score, g.Result.Combined.Score, 1e-9, "%s at %s", id, at[i][k])
					require.Equal(t, w.Result.Quadrant, g.Result.Quadrant)
					require.ElementsMatch(t, w.Warnings, g.Warnings, "%s at %s", id, at[i][k])
				}
				require.False(t, got[i][2].Active, "not yet a customer before its first event")
			}
		}
	})
}
