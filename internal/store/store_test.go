package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func track(id, user, group, name string) store.Message {
	return store.Message{Type: "track", MessageID: id, UserID: user, GroupID: group, Name: name,
		Properties: json.RawMessage(`{"n":1}`), Timestamp: t0, ReceivedAt: t0}
}

// TestDuplicatesLeaveActivityAlone re-sends a track call with a later
// timestamp (a client bug): it is acknowledged as a duplicate and must not
// move its account's or contact's last activity, alone or beside new
// calls, whether or not the activity is due to be written.
func TestDuplicatesLeaveActivityAlone(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		at := func(id string, d time.Duration) store.Message {
			m := track(id, "u1", "acme", "Login")
			m.Timestamp = t0.Add(d)
			return m
		}
		seen := func(want time.Duration) {
			t.Helper()
			a, err := s.Account(ctx, "acme")
			require.NoError(t, err)
			c, err := s.Contact(ctx, "u1")
			require.NoError(t, err)
			require.NotNil(t, a.LastSeenAt)
			require.NotNil(t, c.LastSeenAt)
			require.Equal(t, t0.Add(want), a.LastSeenAt.UTC(), "account")
			require.Equal(t, t0.Add(want), c.LastSeenAt.UTC(), "contact")
		}
		res, err := s.Ingest(ctx, "wk", []store.Message{at("m1", 0)})
		require.NoError(t, err)
		require.Equal(t, store.IngestResult{Stored: 1}, res)
		seen(0)
		res, err = s.Ingest(ctx, "wk", []store.Message{at("m1", 5*time.Hour)})
		require.NoError(t, err)
		require.Equal(t, store.IngestResult{Duplicates: 1}, res)
		seen(0)
		res, err = s.Ingest(ctx, "wk", []store.Message{at("m1", 9*time.Hour), at("m2", 2*time.Hour), at("m2", 8*time.Hour)})
		require.NoError(t, err)
		require.Equal(t, store.IngestResult{Stored: 1, Duplicates: 2}, res)
		seen(2 * time.Hour)
	})
}

func TestIngestMergesAccountTraits(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		_, err := s.Ingest(ctx, "wk", []store.Message{
			{Type: "group", MessageID: "g1", UserID: "u1", GroupID: "acme", Timestamp: t0, ReceivedAt: t0,
				Traits: map[string]any{"name": "Acme", "plan": "pro", "arr": 12000.0, "renewal_date": "2027-01-31T00:00:00Z", "tier": "gold"}},
		})
		require.NoError(t, err)
		_, err = s.Ingest(ctx, "wk", []store.Message{
			{Type: "group", MessageID: "g2", GroupID: "acme", Timestamp: t0, ReceivedAt: t0,
				Traits: map[string]any{"plan": "enterprise", "tier": nil, "segment": "mid_market", "owner": "csm@vendor.example"}},
		})
		require.NoError(t, err)

		a, err := s.Account(ctx, "acme")
		require.NoError(t, err)
		require.Equal(t, "Acme", a.Name, "traits not in the later call are kept")
		require.Equal(t, "enterprise", a.Plan, "a later trait replaces an earlier one")
		require.Equal(t, 12000.0, a.ARR)
		require.Equal(t, "2027-01-31", a.RenewalDate)
		require.Equal(t, "mid_market", a.Segment)
		require.NotContains(t, a.Traits, "tier", "a null trait removes it")

		cs, err := s.AccountContacts(ctx, "acme")
		require.NoError(t, err)
		require.Len(t, cs, 1, "the group call's userId links the contact")
		require.Equal(t, "u1", cs[0].ID)
	})
}

func TestIngestResolvesEventAccount(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		_, err := s.Ingest(ctx, "wk", []store.Message{
			{Type: "identify", MessageID: "i1", UserID: "u1", GroupID: "acme", Timestamp: t0, ReceivedAt: t0,
				Traits: map[string]any{"email": "jo@acme.example", "role": "champion"}},
			track("t1", "u1", "", "Report Created"),
		})
		require.NoError(t, err)
		_, err = s.Ingest(ctx, "wk", []store.Message{track("t2", "u1", "", "Dashboard Shared"), track("t3", "u9", "", "Login")})
		require.NoError(t, err)

		evs, _, err := s.ListEvents(ctx, store.EventFilter{Account: "acme"}, store.Page{})
		require.NoError(t, err)
		var names []string
		for _, e := range evs {
			names = append(names, e.Name)
		}
		require.Equal(t, []string{"Dashboard Shared", "Report Created", ""}, names, "newest first; the identify is on the timeline too")

		c, err := s.Contact(ctx, "u1")
		require.NoError(t, err)
		require.Equal(t, "champion", c.Role)
		require.Equal(t, "jo@acme.example", c.Email)
		require.Equal(t, "acme", c.AccountID)

		orphan, _, err := s.ListEvents(ctx, store.EventFilter{User: "u9"}, store.Page{})
		require.NoError(t, err)
		require.Len(t, orphan, 1)
		require.Empty(t, orphan[0].AccountID, "an event of an unknown contact is kept without an account")

		_, err = s.Ingest(ctx, "wk", []store.Message{{Type: "group", MessageID: "g9", UserID: "u9", GroupID: "globex", Timestamp: t0, ReceivedAt: t0}})
		require.NoError(t, err)
		later, _, err := s.ListEvents(ctx, store.EventFilter{Account: "globex", Type: "track"}, store.Page{})
		require.NoError(t, err)
		require.Len(t, later, 1, "the contact's earlier event joins the account once the contact is linked")
	})
}

func TestIngestDeduplicatesPerWriteKey(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		res, err := s.Ingest(ctx, "wk1", []store.Message{track("m1", "u", "a", "X"), track("m1", "u", "a", "X"), track("m2", "u", "a", "X")})
		require.NoError(t, err)
		require.Equal(t, store.IngestResult{Stored: 2, Duplicates: 1}, res)
		res, err = s.Ingest(ctx, "wk1", []store.Message{track("m1", "u", "a", "X")})
		require.NoError(t, err)
		require.Equal(t, store.IngestResult{Duplicates: 1}, res)
		res, err = s.Ingest(ctx, "wk2", []store.Message{track("m1", "u", "a", "X")})
		require.NoError(t, err)
		require.Equal(t, store.IngestResult{Stored: 1}, res, "another write key has its own messageIds")
		n, err := s.CountEvents(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 3, n)
	})
}

// TestIngestKeepsACallsOrder stores a call of 300 messages, two of them
// already stored: the new events' ids follow the order of the call (the
// stages hand events over in id order), whatever order their dedupe keys
// take, and every column is stored as sent.
func TestIngestKeepsACallsOrder(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		_, err := s.Ingest(ctx, "wk", []store.Message{track("m150", "u", "a", "X"), track("m7", "u", "a", "X")})
		require.NoError(t, err)
		sent := t0.Add(time.Second)
		var msgs []store.Message
		want := []string{"m150", "m7"}
		for _, i := range rand.Perm(300) {
			m := track(fmt.Sprintf("m%d", i), fmt.Sprintf("u%d", i%7), "a", "X")
			m.Context, m.SentAt = json.RawMessage(fmt.Sprintf(`{"ip":"10.0.0.%d"}`, i)), sent
			msgs = append(msgs, m)
			if i != 150 && i != 7 {
				want = append(want, m.MessageID)
			}
		}
		res, err := s.Ingest(ctx, "wk", msgs)
		require.NoError(t, err)
		require.Equal(t, store.IngestResult{Stored: 298, Duplicates: 2}, res)
		rows, err := s.DB().QueryContext(ctx, "SELECT message_id, user_id, context, sent_at, original_timestamp FROM events ORDER BY id")
		require.NoError(t, err)
		defer rows.Close()
		var got []string
		for rows.Next() {
			var (
				id, user, ctxJSON string
				sentAt, original  sql.NullInt64
			)
			require.NoError(t, rows.Scan(&id, &user, &ctxJSON, &sentAt, &original))
			got = append(got, id)
			if len(got) > 2 {
				var i int
				_, err := fmt.Sscanf(id, "m%d", &i)
				require.NoError(t, err)
				require.Equal(t, fmt.Sprintf("u%d", i%7), user, id)
				require.JSONEq(t, fmt.Sprintf(`{"ip":"10.0.0.%d"}`, i), ctxJSON, id)
				require.Equal(t, sql.NullInt64{Int64: sent.UnixMicro(), Valid: true}, sentAt, id)
				require.False(t, original.Valid, id)
			}
		}
		require.NoError(t, rows.Err())
		require.Equal(t, want, got, "events in id order follow the calls")
	})
}

func TestIngestConcurrentRetriesStoreOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var wg sync.WaitGroup
		var mu sync.Mutex
		stored := 0
		for r := 0; r < 8; r++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 50; i++ {
					res, err := s.Ingest(ctx, "wk", []store.Message{track(fmt.Sprintf("m%d", i), "u", "a", "X")})
					require.NoError(t, err)
					mu.Lock()
					stored += res.Stored
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		require.Equal(t, 50, stored, "each message is stored by exactly one of the concurrent retries")
		n, err := s.CountEvents(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 50, n)
	})
}

// TestIngestOverlappingBatchesInAnyOrder sends the same messages in
// several concurrent calls, each in its own order, as SDKs retrying a
// timed-out batch do: every call succeeds (on PostgreSQL their
// transactions are in flight at once and must not deadlock on each
// other's keys) and each message is stored once.
func TestIngestOverlappingBatchesInAnyOrder(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const calls, msgs, rounds = 8, 60, 5
		for round := 0; round < rounds; round++ {
			var wg sync.WaitGroup
			stored := make([]int, calls)
			errs := make([]error, calls)
			for c := 0; c < calls; c++ {
				batch := make([]store.Message, msgs)
				for i, j := range rand.Perm(msgs) {
					batch[i] = track(fmt.Sprintf("r%d-m%d", round, j), fmt.Sprintf("u%d", j%7), "acme", "Login")
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					res, err := s.Ingest(ctx, "wk", batch)
					stored[c], errs[c] = res.Stored, err
				}()
			}
			wg.Wait()
			total := 0
			for c := range calls {
				require.NoError(t, errs[c], "call %d of round %d", c, round)
				total += stored[c]
			}
			require.Equal(t, msgs, total, "round %d: each message stored by exactly one call", round)
		}
		n, err := s.CountEvents(ctx)
		require.NoError(t, err)
		require.EqualValues(t, rounds*msgs, n)
	})
}

// TestIngestEventsBesideTheirContactsLink sends a contact's group call
// (linking it to an account) at the same moment as calls of that
// contact's track events without an account, as an SDK sending batches
// concurrently does: whichever is stored first, every event ends up in
// the account. On PostgreSQL a server commits several groups side by side;
// a batch of track calls committed beside the link, neither seeing the
// other's rows, kept its events out of the account.
func TestIngestEventsBesideTheirContactsLink(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const contacts, batches, perBatch = 30, 4, 10
		var wg sync.WaitGroup
		errs := make(chan error, contacts*(batches+1))
		for c := range contacts {
			user, acct := fmt.Sprintf("u%d", c), fmt.Sprintf("acct-%d", c)
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.Ingest(ctx, "wk", []store.Message{{Type: "group", MessageID: "g-" + user, UserID: user, GroupID: acct,
					Timestamp: t0, ReceivedAt: t0, Traits: map[string]any{"name": acct}}})
				errs <- err
			}()
			for b := range batches {
				batch := make([]store.Message, perBatch)
				for i := range batch {
					batch[i] = track(fmt.Sprintf("%s-%d-%d", user, b, i), user, "", "Report Created")
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := s.Ingest(ctx, "wk", batch)
					errs <- err
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		for c := range contacts {
			evs, _, err := s.ListEvents(ctx, store.EventFilter{Account: fmt.Sprintf("acct-%d", c), Name: "Report Created"}, store.Page{Limit: 100})
			require.NoError(t, err)
			require.Equal(t, batches*perBatch, len(evs), "contact u%d's events in its account", c)
		}
	})
}

func TestListAccountsFiltersAndPaginates(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var msgs []store.Message
		for i := 0; i < 7; i++ {
			seg := "smb"
			if i%2 == 0 {
				seg = "enterprise"
			}
			msgs = append(msgs, store.Message{Type: "group", MessageID: fmt.Sprint("g", i), GroupID: fmt.Sprint("acct-", i),
				Timestamp: t0, ReceivedAt: t0, Traits: map[string]any{"name": fmt.Sprintf("Company %02d", 10-i), "segment": seg, "owner": "ann"}})
		}
		_, err := s.Ingest(ctx, "wk", msgs)
		require.NoError(t, err)

		var names []string
		cursor := ""
		for pages := 0; ; pages++ {
			require.Less(t, pages, 5)
			got, next, err := s.ListAccounts(ctx, store.AccountFilter{Segment: "enterprise", Owner: "ann"}, store.Page{Limit: 3, Cursor: cursor})
			require.NoError(t, err)
			for _, a := range got {
				names = append(names, a.Name)
			}
			if next == "" {
				break
			}
			cursor = next
		}
		require.Equal(t, []string{"Company 04", "Company 06", "Company 08", "Company 10"}, names)

		_, _, err = s.ListAccounts(ctx, store.AccountFilter{}, store.Page{Cursor: "!!"})
		require.ErrorIs(t, err, store.ErrBadCursor)
		_, err = s.Account(ctx, "nope")
		require.ErrorIs(t, err, store.ErrNotFound)
	})
}

func TestKeys(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		require.NoError(t, s.CreateKey(ctx, store.APIKey{ID: "k1", Name: "ci", Scope: "write", CreatedAt: t0}, []byte("hash1")))
		k, err := s.KeyByHash(ctx, []byte("hash1"))
		require.NoError(t, err)
		require.Equal(t, "write", k.Scope)
		require.NoError(t, s.RevokeKey(ctx, "k1", t0))
		_, err = s.KeyByHash(ctx, []byte("hash1"))
		require.ErrorIs(t, err, store.ErrNotFound, "a revoked key no longer authenticates")
		require.ErrorIs(t, s.RevokeKey(ctx, "k9", t0), store.ErrNotFound)
		keys, err := s.ListKeys(ctx)
		require.NoError(t, err)
		require.Len(t, keys, 1)
		require.NotNil(t, keys[0].RevokedAt)
	})
}

func TestDedupeSurvivesMergeAndRestart(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			cfg := storetest.Config(t, d)
			cfg.DedupeMergeEvery = 7 // merge often: keys move from memory to the index
			s, err := store.Open(ctx, cfg)
			require.NoError(t, err)
			batch := func(from, to int) []store.Message {
				var out []store.Message
				for i := from; i < to; i++ {
					out = append(out, track(fmt.Sprint("m", i), "u", "a", "X"))
				}
				return out
			}
			res, err := s.Ingest(ctx, "wk", batch(0, 20))
			require.NoError(t, err)
			require.Equal(t, 20, res.Stored)
			res, err = s.Ingest(ctx, "wk", batch(15, 25)) // 5 old (merged), 5 new
			require.NoError(t, err)
			require.Equal(t, store.IngestResult{Stored: 5, Duplicates: 5}, res)
			require.NoError(t, s.Close())

			s, err = store.Open(ctx, cfg)
			require.NoError(t, err)
			defer s.Close()
			res, err = s.Ingest(ctx, "wk", batch(0, 30))
			require.NoError(t, err)
			require.Equal(t, store.IngestResult{Stored: 5, Duplicates: 25}, res, "after a restart, merged and pending keys still deduplicate")
			n, err := s.CountEvents(ctx)
			require.NoError(t, err)
			require.EqualValues(t, 30, n)
		})
	}
}

func TestHooksSeeReattributedEvents(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var seen [][]string
		s.OnIngest(func(ctx context.Context, tx *sql.Tx, events []store.Event) error {
			var got []string
			for _, e := range events {
				got = append(got, e.Type+":"+e.Name+"@"+e.AccountID)
			}
			seen = append(seen, got)
			return nil
		})
		_, err := s.Ingest(ctx, "wk", []store.Message{track("t1", "u1", "", "Login")})
		require.NoError(t, err)
		require.NoError(t, s.WaitIdle(ctx))
		_, err = s.Ingest(ctx, "wk", []store.Message{{Type: "group", MessageID: "g1", UserID: "u1", GroupID: "acme", Timestamp: t0, ReceivedAt: t0}})
		require.NoError(t, err)
		require.NoError(t, s.WaitIdle(ctx))
		require.Equal(t, [][]string{{"track:Login@"}, {"group:@acme", "track:Login@acme"}}, seen,
			"the login sent before the link reaches the hooks again, now with its account")
	})
}

// TestRunsAndTasksPaginate pages through runs (newest first) and tasks (by
// due date, undated last) three at a time, ties included: every row once,
// in order.
func TestRunsAndTasksPaginate(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var wantRuns, wantTasks []string
		for i := 0; i < 7; i++ {
			id := fmt.Sprintf("run-%d", i)
			created := t0.Add(time.Duration(i/2) * time.Minute) // pairs share a creation time
			_, ok, err := s.InsertRunTx(ctx, s.DB(), store.Run{ID: id, AccountID: "acme", MomentID: "kickoff",
				Occurrence: id, MapVersion: 1, Category: "csm", Status: "running", CreatedAt: created})
			require.NoError(t, err)
			require.True(t, ok)
			task := store.Task{ID: fmt.Sprintf("task-%d", i), RunID: id, AccountID: "acme", MomentID: "kickoff",
				Title: "Call", Assignee: "cs", CreatedAt: created}
			if i < 5 {
				due := t0.Add(time.Duration(i%3) * time.Hour) // ties on due dates too
				task.DueAt = &due
			}
			_, err = s.InsertTaskTx(ctx, s.DB(), task)
			require.NoError(t, err)
		}
		wantRuns = []string{"run-6", "run-5", "run-4", "run-3", "run-2", "run-1", "run-0"}
		wantTasks = []string{"task-0", "task-3", "task-1", "task-4", "task-2", "task-5", "task-6"}

		var runs []string
		cursor := ""
		for pages := 0; ; pages++ {
			require.Less(t, pages, 5)
			page, next, err := s.ListRuns(ctx, store.RunFilter{AccountID: "acme"}, store.Page{Limit: 3, Cursor: cursor})
			require.NoError(t, err)
			for _, r := range page {
				runs = append(runs, r.ID)
			}
			if next == "" {
				break
			}
			cursor = next
		}
		require.Equal(t, wantRuns, runs)

		var tasks []string
		cursor = ""
		for pages := 0; ; pages++ {
			require.Less(t, pages, 5)
			page, next, err := s.ListTasks(ctx, store.TaskFilter{AccountID: "acme"}, t0, store.Page{Limit: 3, Cursor: cursor})
			require.NoError(t, err)
			for _, x := range page {
				tasks = append(tasks, x.ID)
			}
			if next == "" {
				break
			}
			cursor = next
		}
		require.Equal(t, wantTasks, tasks)

		_, _, err := s.ListTasks(ctx, store.TaskFilter{}, t0, store.Page{Cursor: "bm90LWEtbnVtYmVy"})
		require.ErrorIs(t, err, store.ErrBadCursor)
	})
}

// TestIngestStagesExactlyOnceAcrossRestart closes the store while its
// ingest stages may still be behind, opens it again and checks that every
// stored event reached the stages exactly once: what a stage writes
// commits with the stages' progress.
func TestIngestStagesExactlyOnceAcrossRestart(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			cfg := storetest.Config(t, d)
			// The stage records every event it sees in a table of its own.
			stage := func(ctx context.Context, tx *sql.Tx, events []store.Event) error {
				for _, e := range events {
					if _, err := tx.ExecContext(ctx, "INSERT INTO seen (message_id) VALUES ($1)", e.MessageID); err != nil {
						return err
					}
				}
				return nil
			}
			s, err := store.Open(ctx, cfg)
			require.NoError(t, err)
			_, err = s.DB().Exec("CREATE TABLE seen (message_id TEXT NOT NULL)")
			require.NoError(t, err)
			s.OnIngest(stage)
			sent := 0
			for b := 0; b < 20; b++ {
				var msgs []store.Message
				for i := 0; i < 50; i++ {
					msgs = append(msgs, track(fmt.Sprintf("b%d-m%d", b, i), "u", "acme", "Login"))
				}
				_, err := s.Ingest(ctx, "wk", msgs)
				require.NoError(t, err)
				sent += len(msgs)
			}
			require.NoError(t, s.Close()) // the stages stop wherever they are

			s, err = store.Open(ctx, cfg)
			require.NoError(t, err)
			defer s.Close()
			s.OnIngest(stage)
			s.StartIngestStages()
			require.NoError(t, s.WaitIdle(ctx))
			lag, err := s.IngestLag(ctx)
			require.NoError(t, err)
			require.Zero(t, lag.Events)
			var n, distinct int
			require.NoError(t, s.DB().QueryRow("SELECT count(*), count(DISTINCT message_id) FROM seen").Scan(&n, &distinct))
			require.Equal(t, sent, distinct, "every event reached the stages")
			require.Equal(t, sent, n, "no event reached them twice")
		})
	}
}

// TestIngestStagesTakeWholeTransactions ingests twenty calls while no
// stage runs, then starts the stages: although they are twenty calls
// behind, each hook call gets exactly one call's events, in order, so
// what depends on a batch's extent (a condition milestone's date) is as
// if the stages had kept up.
func TestIngestStagesTakeWholeTransactions(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			// per hook call: its batches, and how many events
			calls := stageCallsAfterBacklog(t, d, 20, nil, func(events []store.Event) string {
				batches := map[string]bool{}
				for _, e := range events {
					batches[e.MessageID[:3]] = true
				}
				keys := make([]string, 0, len(batches))
				for k := range batches {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				return fmt.Sprintf("%s:%d", strings.Join(keys, ","), len(events))
			})
			want := make([]string, 20)
			for b := range want {
				want[b] = fmt.Sprintf("b%02d:%d", b, 10+b)
			}
			require.Equal(t, want, calls)
		})
	}
}

// TestIngestStagesJoinTransactionsOfOtherAccounts ingests twenty calls
// alternating between two accounts (and their contacts) while no stage
// runs: the stages hand two consecutive calls over together, as they share
// no account or contact, but never two calls of the same account, so each
// account's events still come one call at a time, in order.
func TestIngestStagesJoinTransactionsOfOtherAccounts(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			// per hook call: each account's calls
			calls := stageCallsAfterBacklog(t, d, 20, []string{"acme", "globex"}, func(events []store.Event) string {
				var parts []string
				for _, e := range events {
					p := e.AccountID + ":" + e.MessageID[:3]
					if !slices.Contains(parts, p) {
						parts = append(parts, p)
					}
				}
				return strings.Join(parts, ",")
			})
			want := make([]string, 10)
			for i := range want {
				want[i] = fmt.Sprintf("acme:b%02d,globex:b%02d", 2*i, 2*i+1)
			}
			require.Equal(t, want, calls)
		})
	}
}

// ingestOnEach has every server ingest calls calls of per messages at
// once, message i of call b on server n being msg(n, b, i), and waits
// until every server's stages are idle.
func ingestOnEach(t *testing.T, servers []*store.Store, calls, per int, msg func(n, b, i int) store.Message) {
	t.Helper()
	ctx := context.Background()
	errs := make(chan error, len(servers))
	for n, s := range servers {
		go func() {
			for b := 0; b < calls; b++ {
				msgs := make([]store.Message, per)
				for i := range msgs {
					msgs[i] = msg(n, b, i)
				}
				if _, err := s.Ingest(ctx, "wk", msgs); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range servers {
		require.NoError(t, <-errs)
	}
	for _, s := range servers {
		require.NoError(t, s.WaitIdle(ctx))
	}
}

// stageCallsAfterBacklog ingests n numbered calls (ingestNumberedBatches)
// while no stage runs, then reopens the store and starts its stages, and
// returns what describe says of each hook call's events, in order.
func stageCallsAfterBacklog(t *testing.T, d store.Dialect, n int, accounts []string, describe func([]store.Event) string) []string {
	t.Helper()
	ctx := context.Background()
	cfg := storetest.Config(t, d)
	s, err := store.Open(ctx, cfg)
	require.NoError(t, err)
	ingestNumberedBatches(t, s, n, accounts...)
	require.NoError(t, s.Close())

	s, err = store.Open(ctx, cfg)
	require.NoError(t, err)
	defer s.Close()
	var calls []string
	s.OnIngest(func(_ context.Context, _ *sql.Tx, events []store.Event) error {
		calls = append(calls, describe(events))
		return nil
	})
	s.StartIngestStages()
	require.NoError(t, s.WaitIdle(ctx))
	return calls
}

// ingestNumberedBatches ingests n calls, the b-th of 10+b track calls whose
// message ids begin with "bNN-" (its number), each in its own transaction,
// from the account accounts[b % len(accounts)] ("acme" when none is
// given) and its contact "u-" + account.
func ingestNumberedBatches(t *testing.T, s *store.Store, n int, accounts ...string) {
	t.Helper()
	if len(accounts) == 0 {
		accounts = []string{"acme"}
	}
	for b := 0; b < n; b++ {
		acct := accounts[b%len(accounts)]
		var msgs []store.Message
		for i := 0; i < 10+b; i++ {
			msgs = append(msgs, track(fmt.Sprintf("b%02d-m%d", b, i), "u-"+acct, acct, "Login"))
		}
		_, err := s.Ingest(context.Background(), "wk", msgs)
		require.NoError(t, err)
	}
}

// recordStageCalls registers an ingest stage that records each call as the
// first n characters of its first event's messageId and its number of
// events, and returns a reader of the calls so far.
func recordStageCalls(s *store.Store, n int) func() []string {
	var mu sync.Mutex
	var calls []string
	s.OnIngest(func(_ context.Context, _ *sql.Tx, events []store.Event) error {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, fmt.Sprintf("%s:%d", events[0].MessageID[:n], len(events)))
		return nil
	})
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(calls)
	}
}

// TestIngestStagesWaitForTheRestOfATransaction holds the PostgreSQL
// sequence in the middle of a committed transaction's ids, as when a round
// noted the sequence while that transaction was drawing them and waited for
// it to commit: the round must not hand the hooks the first half on its
// own (it did: TestIncrementalHealthAndPath then saw an account's health
// written twice for one batch, about once in a few hundred CI runs).
func TestIngestStagesWaitForTheRestOfATransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := storetest.Config(t, store.Postgres) // skips without PostgreSQL
	s, err := store.Open(ctx, cfg)
	require.NoError(t, err)
	ingestNumberedBatches(t, s, 3)
	var last int64
	require.NoError(t, s.DB().QueryRow("SELECT max(id) FROM events").Scan(&last))
	_, err = s.DB().Exec("SELECT setval('events_id_seq', $1)", last-6) // six of b02's twelve ids beyond it
	require.NoError(t, err)
	require.NoError(t, s.Close())

	s, err = store.Open(ctx, cfg)
	require.NoError(t, err)
	defer s.Close()
	got := recordStageCalls(s, 3)
	s.StartIngestStages()
	require.Eventually(t, func() bool { return len(got()) >= 2 }, 10*time.Second, 10*time.Millisecond)
	time.Sleep(300 * time.Millisecond) // several polling rounds, each noting the held sequence
	require.Equal(t, []string{"b00:10", "b01:11"}, got(), "b02 waits until the sequence passes all of it")

	_, err = s.DB().Exec("SELECT setval('events_id_seq', $1)", last)
	require.NoError(t, err)
	require.NoError(t, s.WaitIdle(ctx))
	require.Equal(t, []string{"b00:10", "b01:11", "b02:12"}, got())
}

// TestIngestStagesWaitForATransactionInFlight holds an ingestion
// transaction open on PostgreSQL (as another server's, slow, would be) after
// it drew an event id, while this server ingests and commits a later batch:
// the stages must wait for it and hand its event over before the later
// batch's, not skip it.
func TestIngestStagesWaitForATransactionInFlight(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := storetest.Config(t, store.Postgres) // skips without PostgreSQL
	s, err := store.Open(ctx, cfg)
	require.NoError(t, err)
	defer s.Close()
	got := recordStageCalls(s, 4)
	// The slow transaction, as the ingestion path runs it: both ingestion
	// locks (the constants of internal/store/stages.go), an id, its event
	// and its commit mark.
	tx, err := s.DB().BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback() //nolint:errcheck // committed below
	_, err = tx.Exec("SELECT pg_advisory_xact_lock($2, pg_backend_pid()), pg_advisory_xact_lock_shared($1)",
		int64(0x6d6f6d656e7473), int32(0x6d6f6d65))
	require.NoError(t, err)
	var id int64
	require.NoError(t, tx.QueryRow("SELECT nextval('events_id_seq')").Scan(&id))
	_, err = tx.Exec(`INSERT INTO events (id, message_id, dedupe_key, write_key_id, type, name, user_id, account_id, timestamp, received_at)
		VALUES ($1, 'slow-1', $2, 'wk', 'track', 'Login', 'u', 'acme', $3, $3)`, id, store.MessageKey("wk", "slow-1"), t0.UnixMicro())
	require.NoError(t, err)
	_, err = tx.Exec("INSERT INTO ingest_commits (last_event_id) VALUES ($1)", id)
	require.NoError(t, err)

	var msgs []store.Message
	for i := 0; i < 5; i++ {
		msgs = append(msgs, track(fmt.Sprintf("fast-%d", i), "u", "acme", "Login"))
	}
	_, err = s.Ingest(ctx, "wk", msgs)
	require.NoError(t, err)
	time.Sleep(300 * time.Millisecond) // several polling rounds
	require.Empty(t, got(), "the later batch waits for the transaction in flight")
	require.NoError(t, tx.Commit())
	require.NoError(t, s.WaitIdle(ctx))
	require.Equal(t, []string{"slow:1", "fast:5"}, got())
}

// TestIngestStagesOnceWithSeveralServers runs three stores on one
// PostgreSQL database, as three servers would, each ingesting and each
// running the stages: every event reaches the stages exactly once.
func TestIngestStagesOnceWithSeveralServers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := storetest.Config(t, store.Postgres) // skips without PostgreSQL
	stage := func(ctx context.Context, tx *sql.Tx, events []store.Event) error {
		for _, e := range events {
			if _, err := tx.ExecContext(ctx, "INSERT INTO seen (message_id) VALUES ($1)", e.MessageID); err != nil {
				return err
			}
		}
		return nil
	}
	var servers []*store.Store
	for i := 0; i < 3; i++ {
		s, err := store.Open(ctx, cfg)
		require.NoError(t, err)
		defer s.Close()
		if i == 0 {
			_, err = s.DB().Exec("CREATE TABLE seen (message_id TEXT NOT NULL)")
			require.NoError(t, err)
		}
		s.OnIngest(stage)
		s.StartIngestStages()
		servers = append(servers, s)
	}
	const calls, per = 30, 40
	ingestOnEach(t, servers, calls, per, func(n, b, i int) store.Message {
		return track(fmt.Sprintf("s%d-b%d-m%d", n, b, i), fmt.Sprintf("u%d", i), "acme", "Login")
	})
	var n, distinct int
	require.NoError(t, servers[0].DB().QueryRow("SELECT count(*), count(DISTINCT message_id) FROM seen").Scan(&n, &distinct))
	sent := len(servers) * calls * per
	require.Equal(t, sent, distinct, "every event reached the stages")
	require.Equal(t, sent, n, "no event reached them twice")
}

func TestDedupeExactAcrossManyRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := storetest.Config(t, store.SQLite)
	cfg.DedupeMergeEvery = 500 // six runs of merged keys, each with its own filter
	s, err := store.Open(ctx, cfg)
	require.NoError(t, err)
	batch := func(prefix string, from, to int) []store.Message {
		var out []store.Message
		for i := from; i < to; i++ {
			out = append(out, track(fmt.Sprint(prefix, i), "u", "a", "X"))
		}
		return out
	}
	for i := 0; i < 3000; i += 100 {
		_, err := s.Ingest(ctx, "wk", batch("m", i, i+100))
		require.NoError(t, err)
	}
	require.NoError(t, s.Close())

	s, err = store.Open(ctx, cfg)
	require.NoError(t, err)
	defer s.Close()
	res, err := s.Ingest(ctx, "wk", append(batch("m", 0, 3000), batch("fresh", 0, 100)...))
	require.NoError(t, err)
	require.Equal(t, store.IngestResult{Stored: 100, Duplicates: 3000}, res, "every merged key is found, every new one stored")
	res, err = s.Ingest(ctx, "other-key", batch("m", 0, 50))
	require.NoError(t, err)
	require.Equal(t, store.IngestResult{Stored: 50}, res, "dedupe is per write key")
}

func TestDedupeKeepsKeysOfOlderDatabases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := storetest.Config(t, store.SQLite)
	s, err := store.Open(ctx, cfg)
	require.NoError(t, err)
	var msgs []store.Message
	for i := 0; i < 40; i++ {
		msgs = append(msgs, track(fmt.Sprint("m", i), "u", "a", "X"))
	}
	_, err = s.Ingest(ctx, "wk", msgs)
	require.NoError(t, err)
	// A database written before the dedupe runs: merged keys in the
	// message_keys index.
	_, err = s.DB().ExecContext(ctx, "INSERT INTO message_keys (key) SELECT dedupe_key FROM events")
	require.NoError(t, err)
	_, err = s.DB().ExecContext(ctx, "UPDATE store_meta SET value = (SELECT MAX(id) FROM events) WHERE name = 'dedupe_merged_through'")
	require.NoError(t, err)
	require.NoError(t, s.Close())

	s, err = store.Open(ctx, cfg)
	require.NoError(t, err)
	defer s.Close()
	res, err := s.Ingest(ctx, "wk", msgs)
	require.NoError(t, err)
	require.Equal(t, store.IngestResult{Duplicates: 40}, res)
	var left int
	require.NoError(t, s.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM message_keys").Scan(&left))
	require.Zero(t, left, "the keys moved to a run")
}

// TestReadsWhileEveryWriterIsBusy: reads outside a transaction get a
// connection while transactions hold every writing connection. On
// PostgreSQL the readers once shared the writers' pool, and a stage round
// that held rows and read a cache's refresh waited for playbook steps that
// held every connection while waiting for the round's rows: the demo
// stalled until a step's 30 s deadline.
func TestReadsWhileEveryWriterIsBusy(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		for range s.DB().Stats().MaxOpenConnections {
			tx, err := s.DB().BeginTx(ctx, nil)
			require.NoError(t, err)
			t.Cleanup(func() { _ = tx.Rollback() })
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := s.Account(rctx, "nobody")
		require.ErrorIs(t, err, store.ErrNotFound, "a read must not wait for a writing connection")
	})
}

// TestRunsInsertedTogether: the runs a stage round starts are written
// together with their first steps; an occurrence that already has a run,
// or that comes twice, gets one run and one first step.
func TestRunsInsertedTogether(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		_, ok, err := s.InsertRunTx(ctx, s.DB(), store.Run{ID: "old", AccountID: "acme", MomentID: "kickoff",
			Occurrence: "o1", MapVersion: 1, Category: "csm", Status: "running", CreatedAt: t0})
		require.NoError(t, err)
		require.True(t, ok)
		var runs []store.Run
		var firsts []store.RunStep
		lease := t0.Add(time.Minute)
		for i, occ := range []string{"o1", "o2", "o2", "o3"} {
			id := fmt.Sprintf("new-%d", i)
			runs = append(runs, store.Run{ID: id, AccountID: "acme", MomentID: "kickoff", Occurrence: occ, MapVersion: 1,
				Category: "csm", Status: "running", CreatedAt: t0, EventID: int64(i + 1)})
			first := store.RunStep{RunID: id, AccountID: "acme", Status: store.StepDue, DueAt: &t0, CreatedAt: t0}
			if i == 3 { // claimed at once, as a stage round's first task
				first = store.RunStep{RunID: id, AccountID: "acme", Status: store.StepRunning, DueAt: &lease, Attempts: 1,
					StartedAt: &t0, CreatedAt: t0}
			}
			firsts = append(firsts, first)
		}
		inserted, err := s.InsertRunsWithStepsTx(ctx, s.DB(), runs, firsts)
		require.NoError(t, err)
		require.Equal(t, map[string]bool{"new-1": true, "new-3": true}, inserted)
		for id, want := range map[string]string{"old": "", "new-1": store.StepDue, "new-3": store.StepRunning} {
			steps, err := s.RunStepsTx(ctx, nil, id)
			require.NoError(t, err)
			if want == "" {
				require.Empty(t, steps, id)
				continue
			}
			require.Len(t, steps, 1, id)
			require.Equal(t, want, steps[0].Status, id)
			require.Equal(t, 1, steps[0].Gen, id)
		}
		steps, err := s.RunStepsTx(ctx, nil, "new-3")
		require.NoError(t, err)
		require.Equal(t, 1, steps[0].Attempts)
		require.NotNil(t, steps[0].StartedAt)
		for _, id := range []string{"new-0", "new-2"} {
			_, err := s.Run(ctx, id)
			require.ErrorIs(t, err, store.ErrNotFound, id)
		}
		r, err := s.Run(ctx, "new-1")
		require.NoError(t, err)
		require.EqualValues(t, 2, r.EventID)
	})
}

// TestIngestLagEstimatesPastItsCount: the lag counts the events behind
// one by one only over the first ids past the stages' progress (so that a
// scrape of /metrics costs the same whatever the backlog) and estimates
// the rest from their ids, saying so; on a backlog within the count it is
// exact. Here no stage runs, so all 300 events are behind.
func TestIngestLagEstimatesPastItsCount(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		for b := range 3 {
			var msgs []store.Message
			for i := range 100 {
				msgs = append(msgs, track(fmt.Sprintf("b%d-m%d", b, i), fmt.Sprint("u", i%7), fmt.Sprint("a", i%5), "Login"))
			}
			_, err := s.Ingest(ctx, "wk", msgs)
			require.NoError(t, err)
		}
		for _, c := range []struct {
			limit     int64
			estimated bool
		}{{1000, false}, {300, false}, {120, true}, {1, true}} {
			lag, err := s.IngestLagCounting(ctx, c.limit)
			require.NoError(t, err)
			require.Equal(t, int64(300), lag.Events, "counting %d ids", c.limit)
			require.Equal(t, c.estimated, lag.Estimated, "counting %d ids", c.limit)
			require.Positive(t, lag.Seconds)
		}
	})
}

// TestIngestRunsAgainAfterADeadlock: on PostgreSQL an ingestion
// transaction can meet another transaction in a deadlock: here the
// committer's touch of contacts holds existing contact c0 and waits to
// create "new1", which another transaction is creating and which then asks
// for c0. PostgreSQL rolls the committer's transaction back (it waited
// first); the committer runs it again, and the call succeeds once the other
// transaction ends, instead of answering an error.
func TestIngestRunsAgainAfterADeadlock(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, store.Postgres)
	ctx := context.Background()
	_, err := s.DB().ExecContext(ctx, "INSERT INTO contacts (id, created_at, updated_at) VALUES ('c0', 0, 0)")
	require.NoError(t, err)

	other, err := s.DB().BeginTx(ctx, nil)
	require.NoError(t, err)
	defer other.Rollback() //nolint:errcheck
	_, err = other.ExecContext(ctx, "INSERT INTO contacts (id, created_at, updated_at) VALUES ('new1', 0, 0)")
	require.NoError(t, err)

	ingested := make(chan error, 1)
	go func() {
		_, err := s.Ingest(ctx, "wk", []store.Message{track("m1", "c0", "", "Login"), track("m2", "new1", "", "Login")})
		ingested <- err
	}()
	// The committer now holds c0 and waits for new1; asking for c0 closes
	// the cycle, and PostgreSQL breaks it after deadlock_timeout (1 s).
	time.Sleep(300 * time.Millisecond)
	_, err = other.ExecContext(ctx, "SELECT 1 FROM contacts WHERE id = 'c0' FOR UPDATE")
	require.NoError(t, err, "the other transaction gets c0 once the committer's is rolled back")
	require.NoError(t, other.Commit())
	select {
	case err := <-ingested:
		require.NoError(t, err, "the call is run again, not failed")
	case <-time.After(20 * time.Second):
		t.Fatal("the call did not finish")
	}
	var n int
	require.NoError(t, s.DB().QueryRowContext(ctx, "SELECT count(*) FROM events WHERE message_id IN ('m1', 'm2')").Scan(&n))
	require.Equal(t, 2, n)
}
