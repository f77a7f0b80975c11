package store

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestAccountMergeReadBeforeADropIsNotApplied: a merge's entries are read
// off the committer (mergeAccounts); when retention drops events between
// that read and the committer's inserting them, the merge is dropped, not
// applied (its entries would name deleted events), and the next merge
// indexes what is left. Fails without accountIndex.gen: entries of the
// dropped events stay in event_accounts.
func TestAccountMergeReadBeforeADropIsNotApplied(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, Config{Data: t.TempDir(), AccountMergeEvery: 7})
	require.NoError(t, err)
	defer s.Close()
	read, release := make(chan struct{}, 1), make(chan struct{})
	require.NoError(t, s.writer.do(ctx, func() error {
		s.writer.accounts.afterRead = func() {
			read <- struct{}{}
			<-release
		}
		return nil
	}))
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	send := func(from, n int) {
		t.Helper()
		var msgs []Message
		for i := from; i < from+n; i++ {
			msgs = append(msgs, Message{Type: "track", MessageID: "m" + strconv.Itoa(i), UserID: "u" + strconv.Itoa(i%4),
				GroupID: "acct-" + strconv.Itoa(i%3), Name: "Report Created", Timestamp: t0, ReceivedAt: t0})
		}
		_, err := s.Ingest(ctx, "wk", msgs)
		require.NoError(t, err)
	}
	send(0, 20)
	<-read // the merge of events 1-20 is read, not yet applied
	dropped, err := s.dropRange(ctx, 1, 10)
	require.NoError(t, err)
	require.EqualValues(t, 10, dropped)
	require.NoError(t, s.writer.do(ctx, func() error {
		s.writer.accounts.afterRead = nil
		return nil
	}))
	close(release)
	send(20, 10) // sets off the next merge
	require.NoError(t, s.WaitMerged(ctx))
	var stale, indexed, through int64
	require.NoError(t, s.write.QueryRowContext(ctx,
		"SELECT COUNT(*) FROM event_accounts WHERE id NOT IN (SELECT id FROM events)").Scan(&stale))
	require.Zero(t, stale, "no entry names a dropped event")
	require.NoError(t, s.write.QueryRowContext(ctx, "SELECT COUNT(*) FROM event_accounts").Scan(&indexed))
	require.NoError(t, s.write.QueryRowContext(ctx,
		"SELECT value FROM store_meta WHERE name = 'accounts_indexed_through'").Scan(&through))
	require.Greater(t, through, int64(20), "the next merge indexed the rest")
	var kept int64
	require.NoError(t, s.write.QueryRowContext(ctx, "SELECT COUNT(*) FROM events WHERE id <= $1", through).Scan(&kept))
	require.Equal(t, kept, indexed, "every kept event up to the mark has its entry")
	for a := range 3 {
		evs, _, err := s.ListEvents(ctx, EventFilter{Account: "acct-" + strconv.Itoa(a)}, Page{Limit: 100})
		require.NoError(t, err)
		want := 0
		for i := 10; i < 30; i++ {
			if i%3 == a {
				want++
			}
		}
		require.Len(t, evs, want, "reads by account see the kept events once")
	}
}
