package store_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// The records a recompute reads ahead are those HealthRecordsTx reads: for
// accounts with and without stored health, aggregate, recent scores and
// warnings, and for accounts that do not exist. (On PostgreSQL, where the
// recompute does not read ahead, HealthRecordsTx creates the missing state
// rows.)
func TestHealthRecordsAheadAsReadInTransaction(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		if !s.ReadsHealthAhead() {
			t.Skip("the recompute reads the records ahead on SQLite only")
		}
		ctx := context.Background()
		_, err := s.Ingest(ctx, "wk", []store.Message{
			{Type: "group", MessageID: "g1", GroupID: "a1", Timestamp: t0, ReceivedAt: t0, Traits: map[string]any{"name": "One", "seats": 5.0}},
			{Type: "group", MessageID: "g2", GroupID: "a2", Timestamp: t0, ReceivedAt: t0, Traits: map[string]any{"name": "Two"}},
			{Type: "group", MessageID: "g3", GroupID: "a3", Timestamp: t0, ReceivedAt: t0, Traits: map[string]any{"name": "Three"}},
		})
		require.NoError(t, err)
		saveHealth(t, s, 20000,
			store.AccountHealth{AccountID: "a1", Behavioural: fptr(61.5), Combined: fptr(60), Quadrant: "healthy", PathID: "p",
				NextMilestone: "m2", NextMilestoneName: "Second", MilestonesReached: 1, MilestonesTotal: 3, UpdatedAt: t0},
			store.AccountHealth{AccountID: "a2", Quadrant: "at_risk", UpdatedAt: t0})
		tx, err := s.DB().BeginTx(ctx, nil)
		require.NoError(t, err)
		recs, err := s.HealthRecordsTx(ctx, tx, []string{"a1"})
		require.NoError(t, err)
		r := recs["a1"]
		r.Version++
		r.Recent = []byte(`[[20000,60]]`)
		require.NoError(t, s.SaveHealthRecordsTx(ctx, tx, []*store.HealthRecord{r}, 20000))
		require.NoError(t, s.SaveHealthWarningsTx(ctx, tx, []store.HealthWarnings{{AccountID: "a1", Codes: []string{"usage_drop"},
			Texts: []string{"Usage dropped"}}}, t0))
		require.NoError(t, tx.Commit())

		ids := []string{"a1", "a2", "a3", "missing"}
		ahead, err := s.HealthRecordsAhead(ctx, ids)
		require.NoError(t, err)
		tx, err = s.DB().BeginTx(ctx, nil)
		require.NoError(t, err)
		defer tx.Rollback() //nolint:errcheck
		inTx, err := s.HealthRecordsTx(ctx, tx, ids)
		require.NoError(t, err)
		versions, err := s.HealthVersionsTx(ctx, tx, ids)
		require.NoError(t, err)
		for _, id := range ids {
			got, want := ahead.Record(id), inTx[id]
			require.NotNil(t, got, id)
			require.Equal(t, want.AccountHealth, got.AccountHealth, id)
			require.Equal(t, want.Exists, got.Exists, id)
			if want.RawTraits == nil {
				require.Nil(t, got.RawTraits, id)
			} else {
				require.JSONEq(t, string(want.RawTraits), string(got.RawTraits), id)
			}
			require.Equal(t, string(want.Recent), string(got.Recent), id)
			require.Equal(t, len(want.Aggregate), got.StoredAggregateSize(), id)
			require.Equal(t, want.StoredAggregateSize(), got.StoredAggregateSize(), id)
			if want.Exists {
				require.Equal(t, want.Version, versions[id], id)
			} else {
				require.Zero(t, versions[id], id)
			}
		}
		require.Nil(t, ahead.Record("not-read"))
		require.True(t, ahead.Record("a1").SameWarnings(store.HealthWarnings{AccountID: "a1", Codes: []string{"usage_drop"},
			Texts: []string{"Usage dropped"}}))
		require.False(t, ahead.Record("a1").SameWarnings(store.HealthWarnings{AccountID: "a1"}))
		require.False(t, ahead.Record("a2").SameWarnings(store.HealthWarnings{AccountID: "a2"}), "a2 has no warnings row yet")
		require.False(t, inTx["a1"].SameWarnings(store.HealthWarnings{AccountID: "a1", Codes: []string{"usage_drop"},
			Texts: []string{"Usage dropped"}}), "a record read in a transaction does not know its warnings")
		ahead.Forget("a1")
		require.Nil(t, ahead.Record("a1"))
	})
}

// A record read ahead keeps its stored aggregate as a digest:
// SaveHealthRecordsTx writes the aggregate when it differs from the one
// read, and only then.
func TestHealthRecordsAheadAggregateWrittenWhenChanged(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		_, err := s.Ingest(ctx, "wk", []store.Message{
			{Type: "group", MessageID: "g1", GroupID: "a1", Timestamp: t0, ReceivedAt: t0, Traits: map[string]any{"name": "One"}},
		})
		require.NoError(t, err)
		saveHealth(t, s, 20000, store.AccountHealth{AccountID: "a1", Quadrant: "healthy", UpdatedAt: t0})
		stored := func() string {
			agg, err := s.HealthAggregate(ctx, "a1")
			require.NoError(t, err)
			return string(agg)
		}
		save := func(r *store.HealthRecord, agg string) {
			tx, err := s.DB().BeginTx(ctx, nil)
			require.NoError(t, err)
			defer tx.Rollback() //nolint:errcheck
			r.Version++
			r.Aggregate = []byte(agg)
			require.NoError(t, s.SaveHealthRecordsTx(ctx, tx, []*store.HealthRecord{r}, 20000))
			require.NoError(t, tx.Commit())
		}
		require.Equal(t, `{"format":1}`, stored())

		ahead, err := s.HealthRecordsAhead(ctx, []string{"a1"})
		require.NoError(t, err)
		save(ahead.Record("a1"), `{"format":1,"seen":5}`)
		require.Equal(t, `{"format":1,"seen":5}`, stored(), "a changed aggregate is written")

		ahead, err = s.HealthRecordsAhead(ctx, []string{"a1"})
		require.NoError(t, err)
		// Rewritten behind the record's back: the record, which read
		// seen 5, leaves an unchanged aggregate as it is.
		_, err = s.DB().ExecContext(ctx, `UPDATE health_aggregates SET aggregate = '{"format":1,"seen":6}' WHERE account_id = 'a1'`)
		require.NoError(t, err)
		save(ahead.Record("a1"), `{"format":1,"seen":5}`)
		require.Equal(t, `{"format":1,"seen":6}`, stored(), "an aggregate equal to the one read is not written")
		save(ahead.Record("a1"), `{"format":1,"seen":7}`)
		require.Equal(t, `{"format":1,"seen":7}`, stored())
	})
}
