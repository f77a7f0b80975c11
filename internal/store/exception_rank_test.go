package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// requireRankCopies checks that the copies account_health keeps for the
// exception report's ranking (migration 00028_exception_rank) equal what
// they are computed from: accounts, health_warnings and tasks.
func requireRankCopies(t *testing.T, s *store.Store) {
	t.Helper()
	days := "CAST(julianday(a.renewal_date) - 2440587.5 AS INTEGER)"
	if s.Dialect() == store.Postgres {
		days = "(a.renewal_date::date - DATE '1970-01-01')"
	}
	overdue := "MIN(MAX(t.due_at + 1, COALESCE(t.snoozed_until, 0)))"
	if s.Dialect() == store.Postgres {
		overdue = "MIN(GREATEST(t.due_at + 1, COALESCE(t.snoozed_until, 0)))"
	}
	rows, err := s.DB().QueryContext(context.Background(), `SELECT h.account_id FROM account_health h
		LEFT JOIN accounts a ON a.id = h.account_id
		WHERE h.arr IS DISTINCT FROM a.arr
			OR h.renewal_day IS DISTINCT FROM (CASE WHEN a.renewal_date = '' THEN NULL ELSE `+days+` END)
			OR h.owner <> COALESCE(a.owner, h.owner) OR h.segment <> COALESCE(a.segment, h.segment)
			OR h.lifecycle_stage <> COALESCE(a.lifecycle_stage, h.lifecycle_stage)
			OR h.warned <> (CASE WHEN EXISTS (SELECT 1 FROM health_warnings w WHERE w.account_id = h.account_id AND w.codes <> '')
				THEN 1 ELSE 0 END)
			OR h.overdue_from IS DISTINCT FROM (SELECT `+overdue+` FROM tasks t WHERE t.account_id = h.account_id
				AND t.status NOT IN ('done', 'cancelled', 'canceled') AND t.due_at IS NOT NULL)`)
	require.NoError(t, err)
	defer rows.Close()
	var bad []string
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		bad = append(bad, id)
	}
	require.NoError(t, rows.Err())
	require.Empty(t, bad, "accounts whose kept ranking columns differ from their sources")
}

// TestExceptionRankCopies changes every source of the kept ranking columns
// in every way (accounts created before and after their health row, traits
// changed, warnings raised and cleared, tasks created, snoozed, moved,
// done and deleted) and checks the copies after each change, and that the
// report's candidates follow.
func TestExceptionRankCopies(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := t0
		exec := func(q string, args ...any) {
			t.Helper()
			_, err := s.DB().ExecContext(ctx, q, args...)
			require.NoError(t, err)
			requireRankCopies(t, s)
		}
		candidates := func() []string {
			t.Helper()
			got, total, err := s.ExceptionCandidates(ctx, store.ExceptionQuery{Now: now, DueBefore: now.Add(-7 * 24 * time.Hour),
				ScoreDrop: 10, Limit: 10})
			require.NoError(t, err)
			var ids []string
			for _, c := range got {
				ids = append(ids, c.Account.ID)
			}
			require.Len(t, ids, total)
			return ids
		}
		_, err := s.Ingest(ctx, "wk", []store.Message{
			{Type: "group", MessageID: "g1", GroupID: "a1", Timestamp: t0, ReceivedAt: t0,
				Traits: map[string]any{"name": "One", "arr": 1000.0, "owner": "ann", "segment": "smb", "renewal_date": "2024-03-01"}},
		})
		require.NoError(t, err)
		// a1 has an account before its health row; a2 a health row first.
		saveHealth(t, s, 20000,
			store.AccountHealth{AccountID: "a1", Quadrant: "champion", Combined: fptr(80), UpdatedAt: now},
			store.AccountHealth{AccountID: "a2", Quadrant: "champion", Combined: fptr(80), UpdatedAt: now})
		requireRankCopies(t, s)
		require.Empty(t, candidates())
		_, err = s.Ingest(ctx, "wk", []store.Message{
			{Type: "group", MessageID: "g2", GroupID: "a2", Timestamp: t0, ReceivedAt: t0,
				Traits: map[string]any{"name": "Two", "arr": 5000.0, "owner": "bob", "renewal_date": "2024-01-20T10:00:00Z"}},
			{Type: "group", MessageID: "g3", GroupID: "a1", Timestamp: t0, ReceivedAt: t0,
				Traits: map[string]any{"name": "One", "arr": 2000.0, "owner": "cy", "segment": "mid", "lifecycle_stage": "customer"}},
		})
		require.NoError(t, err)
		requireRankCopies(t, s)

		// Warnings raised, changed and cleared.
		exec(`INSERT INTO health_warnings (account_id, codes, texts, updated_at) VALUES ('a1', 'low_health', '["low"]', 1)`)
		require.Equal(t, []string{"a1"}, candidates())
		exec(`UPDATE health_warnings SET codes = '', texts = '[]' WHERE account_id = 'a1'`)
		require.Empty(t, candidates())
		exec(`UPDATE health_warnings SET codes = 'sponsor_left' WHERE account_id = 'a1'`)
		exec(`DELETE FROM health_warnings WHERE account_id = 'a1'`)
		require.Empty(t, candidates())

		// Tasks: overdue, done, snoozed, moved to another account, deleted.
		task := func(id, account, status string, due, snoozed any) {
			exec(`INSERT INTO tasks (id, run_id, step_index, account_id, moment_id, title, status, due_at, snoozed_until,
				created_at, updated_at) VALUES ($1, $2, 0, $3, 'm', 'Call them', $4, $5, $6, $7, $7)`,
				id, "run-"+id, account, status, due, snoozed, now.UnixMicro())
		}
		task("t1", "a1", "open", now.Add(-48*time.Hour).UnixMicro(), nil)
		task("t2", "a1", "done", now.Add(-96*time.Hour).UnixMicro(), nil)
		task("t3", "a2", "open", nil, nil)
		task("t4", "a2", "open", now.Add(-time.Hour).UnixMicro(), now.Add(time.Hour).UnixMicro())
		require.Equal(t, []string{"a1"}, candidates(), "a2's task is snoozed past now")
		exec(`UPDATE tasks SET snoozed_until = $1 WHERE id = 't4'`, now.UnixMicro())
		require.Equal(t, []string{"a2", "a1"}, candidates(), "snoozed until now: overdue again")
		exec(`UPDATE tasks SET due_at = $1 WHERE id = 't4'`, now.UnixMicro())
		require.Equal(t, []string{"a1"}, candidates(), "due now is not overdue yet")
		exec(`UPDATE tasks SET status = 'done' WHERE id = 't1'`)
		require.Empty(t, candidates())
		exec(`UPDATE tasks SET status = 'open', account_id = 'a2' WHERE id = 't1'`)
		require.Equal(t, []string{"a2"}, candidates())
		exec(`DELETE FROM tasks WHERE id = 't1'`)
		require.Empty(t, candidates())
		task("t5", "a3", "open", now.Add(-48*time.Hour).UnixMicro(), nil)

		// A health row made after its account and tasks (a3); a churned
		// account leaves the report; an account's id changed or deleted.
		_, err = s.Ingest(ctx, "wk", []store.Message{
			{Type: "group", MessageID: "g4", GroupID: "a3", Timestamp: t0, ReceivedAt: t0,
				Traits: map[string]any{"name": "Three", "arr": 300.0, "renewal_date": "2024-02-01"}},
		})
		require.NoError(t, err)
		saveHealth(t, s, 20000, store.AccountHealth{AccountID: "a3", Quadrant: "at_risk", Combined: fptr(20), UpdatedAt: now})
		requireRankCopies(t, s)
		require.Equal(t, []string{"a3"}, candidates())
		exec(`UPDATE accounts SET lifecycle_stage = 'churned' WHERE id = 'a3'`)
		require.Empty(t, candidates())
		exec(`UPDATE accounts SET lifecycle_stage = 'customer', renewal_date = '' WHERE id = 'a3'`)
		require.Equal(t, []string{"a3"}, candidates())
		exec(`UPDATE accounts SET id = 'a4' WHERE id = 'a3'`)
		require.Empty(t, candidates(), "a3 has no account any more")
		exec(`UPDATE accounts SET id = 'a3' WHERE id = 'a4'`)
		exec(`DELETE FROM accounts WHERE id = 'a3'`)
		require.Empty(t, candidates())
	})
}
