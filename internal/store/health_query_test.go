package store_test

import (
	"context"
	"github.com/moments-cs/moments/internal/vocab"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

func fptr(v float64) *float64 { return &v }

// saveHealth writes health states for the accounts in one transaction.
func saveHealth(t *testing.T, s *store.Store, day int64, states ...store.AccountHealth) {
	t.Helper()
	ctx := context.Background()
	tx, err := s.DB().BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback() //nolint:errcheck
	var ids []string
	for _, h := range states {
		ids = append(ids, h.AccountID)
	}
	recs, err := s.HealthRecordsTx(ctx, tx, ids)
	require.NoError(t, err)
	var out []*store.HealthRecord
	for _, h := range states {
		r := recs[h.AccountID]
		h.Version = r.Version + 1
		r.AccountHealth = h
		r.Aggregate = []byte(`{"format":1}`)
		out = append(out, r)
	}
	require.NoError(t, s.SaveHealthRecordsTx(ctx, tx, out, day))
	require.NoError(t, tx.Commit())
}

func TestHealthStateExceptionsAndSummary(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := t0
		_, err := s.Ingest(ctx, "wk", []store.Message{
			{Type: "group", MessageID: "g1", GroupID: "late", Timestamp: t0, ReceivedAt: t0,
				Traits: map[string]any{"name": "Late", "arr": 1000.0, "owner": "ann", "segment": "smb"}},
			{Type: "group", MessageID: "g2", GroupID: "fine", Timestamp: t0, ReceivedAt: t0,
				Traits: map[string]any{"name": "Fine", "arr": 2000.0, "owner": "ann", "segment": "smb"}},
			{Type: "group", MessageID: "g3", GroupID: "falling", Timestamp: t0, ReceivedAt: t0,
				Traits: map[string]any{"name": "Falling", "arr": 4000.0, "owner": "bob", "segment": "enterprise"}},
			{Type: "group", MessageID: "g4", GroupID: "tasked", Timestamp: t0, ReceivedAt: t0,
				Traits: map[string]any{"name": "Tasked", "arr": 8000.0, "owner": "bob", "segment": "enterprise"}},
			{Type: "group", MessageID: "g5", GroupID: "unscored", Timestamp: t0, ReceivedAt: t0,
				Traits: map[string]any{"name": "Unscored", "arr": 16000.0}},
		})
		require.NoError(t, err)
		due := now.Add(-10 * 24 * time.Hour)
		soon := now.Add(3 * 24 * time.Hour)
		saveHealth(t, s, 20000,
			store.AccountHealth{AccountID: "late", Quadrant: "at_risk", Combined: fptr(30), NextMilestone: "kickoff", NextDueAt: &due, UpdatedAt: now},
			store.AccountHealth{AccountID: "fine", Quadrant: "champion", Combined: fptr(80), CombinedBaseline: fptr(85), NextDueAt: &soon, UpdatedAt: now},
			store.AccountHealth{AccountID: "falling", Quadrant: "captive", Combined: fptr(50), CombinedBaseline: fptr(60), UpdatedAt: now},
			store.AccountHealth{AccountID: "tasked", Quadrant: "champion", Combined: fptr(90), UsageDrop: true, UsageLast: 2, UsagePrevious: 40, UpdatedAt: now},
		)
		// An overdue open task, a done one and a snoozed one (the playbook's
		// table, written here directly).
		for _, task := range []struct {
			id, status string
			due        time.Time
			snoozed    any
		}{
			{"t1", "open", now.Add(-48 * time.Hour), nil},
			{"t2", "done", now.Add(-48 * time.Hour), nil},
			{"t3", "open", now.Add(-48 * time.Hour), now.Add(time.Hour).UnixMicro()},
		} {
			_, err := s.DB().ExecContext(ctx, `INSERT INTO tasks (id, run_id, step_index, account_id, moment_id, title, status,
				due_at, snoozed_until, created_at, updated_at) VALUES ($1, $2, 0, $3, 'm', 'Call them', $4, $5, $6, $7, $7)`,
				task.id, "run-"+task.id, map[string]string{"t1": "tasked", "t2": "fine", "t3": "fine"}[task.id], task.status,
				task.due.UnixMicro(), task.snoozed, now.UnixMicro())
			require.NoError(t, err)
		}

		got, total, err := s.ExceptionCandidates(ctx, store.ExceptionQuery{Now: now, DueBefore: now.Add(-7 * 24 * time.Hour), ScoreDrop: 10})
		require.NoError(t, err)
		require.Equal(t, 3, total)
		require.Equal(t, []string{"tasked", "falling", "late"}, []string{got[0].Account.ID, got[1].Account.ID, got[2].Account.ID},
			"no renewal dates: ranked by ARR")
		byID := map[string]store.ExceptionCandidate{}
		for _, c := range got {
			byID[c.Account.ID] = c
		}
		require.Len(t, byID, 3, "late (behind), falling (score down 10), tasked (usage drop and overdue task); not fine")
		require.Equal(t, 10, byID["late"].Health.DaysBehind(now))
		require.Equal(t, 1, byID["tasked"].OverdueTasks)
		require.Equal(t, 8000.0, byID["tasked"].Account.ARR)
		require.Equal(t, 0, byID["falling"].OverdueTasks)

		// A limited report ranks first and reads whole rows after: the same
		// rows, in the same order, as the first ones of the full report.
		top, total, err := s.ExceptionCandidates(ctx, store.ExceptionQuery{Now: now, DueBefore: now.Add(-7 * 24 * time.Hour), ScoreDrop: 10, Limit: 2})
		require.NoError(t, err)
		require.Equal(t, 3, total)
		require.Equal(t, got[:2], top)

		got, total, err = s.ExceptionCandidates(ctx, store.ExceptionQuery{HealthFilter: store.HealthFilter{Owner: "bob", Segment: "enterprise"},
			Now: now, DueBefore: now.Add(-7 * 24 * time.Hour), ScoreDrop: 10, Limit: 1})
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, 2, total)

		sum, err := s.QuadrantTotals(ctx, store.HealthFilter{})
		require.NoError(t, err)
		totals := map[string]store.QuadrantTotal{}
		for _, q := range sum {
			totals[q.Quadrant] = q
		}
		require.Equal(t, store.QuadrantTotal{Quadrant: "champion", Accounts: 2, ARR: 10000}, totals["champion"])
		require.Equal(t, store.QuadrantTotal{Quadrant: "", Accounts: 1, ARR: 16000}, totals[""], "not scored yet")

		h, err := s.AccountHealth(ctx, "tasked")
		require.NoError(t, err)
		require.True(t, h.UsageDrop)
		require.Equal(t, int64(1), h.Version)
		require.False(t, h.QuadrantMoved())
		require.Equal(t, "champion", h.Quadrant)
		require.Equal(t, 90.0, *h.Combined)
		require.Nil(t, h.Emotional, "an unknown score is nil")
		_, err = s.AccountHealth(ctx, "unscored")
		require.ErrorIs(t, err, store.ErrNotFound)

		trend, err := s.HealthTrend(ctx, "late", 0)
		require.NoError(t, err)
		require.Len(t, trend, 1)
		require.Equal(t, time.Unix(20000*86400, 0).UTC(), trend[0].Day)
		n, err := s.PruneHealthTrend(ctx, 20001)
		require.NoError(t, err)
		require.Equal(t, int64(4), n)
	})
}

func TestHealthReportsLeaveOutChurnedAccounts(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		group := func(id, stage string, arr float64) store.Message {
			return store.Message{Type: "group", MessageID: "g-" + id, GroupID: id, Timestamp: now, ReceivedAt: now,
				Traits: map[string]any{"lifecycle_stage": stage, "arr": arr}}
		}
		_, err := s.Ingest(ctx, "wk", []store.Message{group("kept", "adoption", 1000), group("lost", "churned", 5000)})
		require.NoError(t, err)
		count := func(f store.HealthFilter) (int, float64) {
			totals, err := s.QuadrantTotals(ctx, f)
			require.NoError(t, err)
			n, arr := 0, 0.0
			for _, q := range totals {
				n += q.Accounts
				arr += q.ARR
			}
			return n, arr
		}
		n, arr := count(store.HealthFilter{})
		require.Equal(t, 1, n, "a churned account is no longer at risk")
		require.Equal(t, 1000.0, arr)
		n, arr = count(store.HealthFilter{Stage: vocab.StageChurned})
		require.Equal(t, 1, n, "unless churned accounts are asked for")
		require.Equal(t, 5000.0, arr)
	})
}

// A save that changes only the recent scores keeps the aggregate, and one
// that changes only the aggregate keeps the recent scores: each is written
// when it changed (the daily recompute leaves most aggregates as they are).
func TestHealthRecordsAggregateAndRecentSavedApart(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		_, err := s.Ingest(ctx, "wk", []store.Message{
			{Type: "group", MessageID: "g1", GroupID: "a1", Timestamp: t0, ReceivedAt: t0, Traits: map[string]any{"name": "One"}},
			{Type: "group", MessageID: "g2", GroupID: "a2", Timestamp: t0, ReceivedAt: t0, Traits: map[string]any{"name": "Two"}},
		})
		require.NoError(t, err)
		save := func(agg, recent string) {
			tx, err := s.DB().BeginTx(ctx, nil)
			require.NoError(t, err)
			defer tx.Rollback() //nolint:errcheck
			recs, err := s.HealthRecordsTx(ctx, tx, []string{"a1", "a2"})
			require.NoError(t, err)
			var out []*store.HealthRecord
			for _, id := range []string{"a1", "a2"} {
				r := recs[id]
				r.Version++
				r.UpdatedAt = t0
				if agg != "" {
					r.Aggregate = []byte(agg)
				}
				if recent != "" {
					r.Recent = []byte(recent)
				}
				out = append(out, r)
			}
			require.NoError(t, s.SaveHealthRecordsTx(ctx, tx, out, 20000))
			require.NoError(t, tx.Commit())
		}
		read := func() (agg, recent string) {
			recs, err := s.HealthRecordsTx(ctx, s.Reader(), []string{"a2"})
			require.NoError(t, err)
			return string(recs["a2"].Aggregate), string(recs["a2"].Recent)
		}
		save(`{"format":1,"seen":1}`, "")
		agg, recent := read()
		require.Equal(t, `{"format":1,"seen":1}`, agg)
		require.Equal(t, `[]`, recent, "an account's recent scores start empty")
		save("", `[[20000,50]]`)
		agg, recent = read()
		require.Equal(t, `{"format":1,"seen":1}`, agg)
		require.Equal(t, `[[20000,50]]`, recent)
		save(`{"format":1,"seen":2}`, "")
		agg, recent = read()
		require.Equal(t, `{"format":1,"seen":2}`, agg)
		require.Equal(t, `[[20000,50]]`, recent)
		save(`{"format":1,"seen":3}`, `[[20000,50],[20001,60]]`)
		agg, recent = read()
		require.Equal(t, `{"format":1,"seen":3}`, agg)
		require.Equal(t, `[[20000,50],[20001,60]]`, recent)
	})
}

// TestHealthRecordsOfANewAccountTakeTurns: on PostgreSQL two transactions
// reading the health of an account that has no state row yet (and one that
// has) take turns: the second waits for the first and then reads what it
// wrote, rather than both believing the account new and the second
// overwriting the first's version. SQLite's one writer serialises them
// anyway.
func TestHealthRecordsOfANewAccountTakeTurns(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, store.Postgres)
	ctx := context.Background()
	saveHealth(t, s, 20000, store.AccountHealth{AccountID: "old", Quadrant: "champion", UpdatedAt: t0})

	first, err := s.DB().BeginTx(ctx, nil)
	require.NoError(t, err)
	defer first.Rollback() //nolint:errcheck
	recs, err := s.HealthRecordsTx(ctx, first, []string{"new", "old"})
	require.NoError(t, err)
	require.False(t, recs["new"].Exists, "no health stored for the new account yet")
	require.True(t, recs["old"].Exists)

	type read struct {
		recs map[string]*store.HealthRecord
		err  error
	}
	second := make(chan read, 1)
	go func() {
		tx, err := s.DB().BeginTx(ctx, nil)
		if err != nil {
			second <- read{err: err}
			return
		}
		defer tx.Rollback() //nolint:errcheck
		recs, err := s.HealthRecordsTx(ctx, tx, []string{"new"})
		second <- read{recs, err}
	}()
	select {
	case r := <-second:
		t.Fatalf("the second reader did not wait for the first: %+v, %v", r.recs, r.err)
	case <-time.After(300 * time.Millisecond):
	}
	r := recs["new"]
	r.AccountHealth = store.AccountHealth{AccountID: "new", Quadrant: "at_risk", Version: 1, UpdatedAt: t0}
	r.Aggregate = []byte(`{"format":1}`)
	require.NoError(t, s.SaveHealthRecordsTx(ctx, first, []*store.HealthRecord{r}, 20000))
	require.NoError(t, first.Commit())

	got := <-second
	require.NoError(t, got.err)
	require.True(t, got.recs["new"].Exists, "the second reader sees the first's write")
	require.Equal(t, int64(1), got.recs["new"].Version)
	require.Equal(t, "at_risk", got.recs["new"].Quadrant)
}
