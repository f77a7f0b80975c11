package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

func TestHealthHistoryWritesOnceAndReadsByDay(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		row := func(id string, day int64, combined float64, rebuilt bool) store.HealthDay {
			return store.HealthDay{AccountID: id, Day: day, Behavioural: fptr(combined), Combined: fptr(combined),
				Quadrant: "at_risk", Warnings: 5, Components: []byte{1, 1, 0, 0, 0, 0x80, 0x3f}, Rebuilt: rebuilt}
		}
		var rows []store.HealthDay
		for i := range 5100 { // enough to read the day whole
			rows = append(rows, row(fmt.Sprintf("a%04d", i), 100, float64(i), false))
		}
		rows = append(rows, row("a0000", 99, 7, true), row("a0001", 99, 8, true))
		require.NoError(t, s.SaveHealthDaysTx(ctx, s.DB(), rows, store.HistoryKeep))

		// Written once: keeping ignores a second write of a day.
		require.NoError(t, s.SaveHealthDaysTx(ctx, s.DB(), []store.HealthDay{row("a0000", 100, 50, false)}, store.HistoryKeep))
		// A rebuild replaces rebuilt days only.
		require.NoError(t, s.SaveHealthDaysTx(ctx, s.DB(), []store.HealthDay{row("a0000", 100, 60, true), row("a0000", 99, 70, true)},
			store.HistoryReplaceRebuilt))
		days, err := s.HealthDays(ctx, "a0000", 0, 1000)
		require.NoError(t, err)
		require.Len(t, days, 2)
		require.Equal(t, int64(99), days[0].Day)
		require.Equal(t, 70.0, *days[0].Combined)
		require.Equal(t, 0.0, *days[1].Combined, "the day written as it passed stays")
		require.False(t, days[1].Rebuilt)
		require.Nil(t, days[1].Emotional)
		require.Equal(t, 5, days[1].Warnings)
		require.Equal(t, []byte{1, 1, 0, 0, 0, 0x80, 0x3f}, days[1].Components)
		require.NoError(t, s.SaveHealthDaysTx(ctx, s.DB(), []store.HealthDay{row("a0000", 100, 60, true)}, store.HistoryReplace))
		days, err = s.HealthDays(ctx, "a0000", 100, 100)
		require.NoError(t, err)
		require.Equal(t, 60.0, *days[0].Combined)

		// One day's rows, of a few accounts and of many.
		read := func(day int64, ids []string) map[string]float64 {
			got := map[string]float64{}
			require.NoError(t, s.HealthDaysOn(ctx, day, ids, func(d store.HealthDay) error {
				got[d.AccountID] = *d.Combined
				return nil
			}))
			return got
		}
		require.Equal(t, map[string]float64{"a0002": 2, "a0299": 299}, read(100, []string{"a0002", "a0299", "nobody"}))
		for _, n := range []int{1000, 5050} { // by key, and the whole day
			var many []string
			for i := 0; i < 2*n; i += 2 {
				many = append(many, fmt.Sprintf("a%04d", i))
			}
			got := read(100, many)
			require.Len(t, got, min(n, 2550))
			require.Equal(t, 1998.0, got["a1998"])
			require.NotContains(t, got, "a1999")
		}
		require.Equal(t, map[string]float64{"a0001": 8}, read(99, []string{"a0001", "a0002"}))

		// Account days of many days, by key.
		var pairs []store.AccountDay
		for i := range 900 { // more than one statement's worth
			pairs = append(pairs, store.AccountDay{AccountID: fmt.Sprintf("a%04d", i), Day: 100})
		}
		pairs = append(pairs, store.AccountDay{AccountID: "a0001", Day: 99}, store.AccountDay{AccountID: "a0002", Day: 99})
		at := map[store.AccountDay]float64{}
		require.NoError(t, s.HealthDaysAt(ctx, pairs, func(d store.HealthDay) error {
			at[store.AccountDay{AccountID: d.AccountID, Day: d.Day}] = *d.Combined
			return nil
		}))
		require.Len(t, at, 901, "a0002 has no day 99")
		require.Equal(t, 8.0, at[store.AccountDay{AccountID: "a0001", Day: 99}])
		require.Equal(t, 899.0, at[store.AccountDay{AccountID: "a0899", Day: 100}])
		if s.Dialect() == store.SQLite {
			// An id JSON cannot carry as it is (PostgreSQL refuses it):
			// the same rows, read another way.
			clear(at)
			require.NoError(t, s.HealthDaysAt(ctx, append(pairs, store.AccountDay{AccountID: "a\xff", Day: 100}), func(d store.HealthDay) error {
				at[store.AccountDay{AccountID: d.AccountID, Day: d.Day}] = *d.Combined
				return nil
			}))
			require.Len(t, at, 901)
			require.Equal(t, 8.0, at[store.AccountDay{AccountID: "a0001", Day: 99}])
		}

		starts, err := s.HealthHistoryStarts(ctx, []string{"a0000", "a0002", "nobody"})
		require.NoError(t, err)
		require.Equal(t, map[string]int64{"a0000": 99, "a0002": 100}, starts)

		n, err := s.PruneHealthHistory(ctx, 100)
		require.NoError(t, err)
		require.Equal(t, int64(2), n)
	})
}
