package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
	"github.com/stretchr/testify/require"
)

// BenchmarkReadByAccount measures the reads of one account's events
// (health's, and its timeline's first page) on an SQLite database of
// 200,000 events over 1,000 accounts ingested through the committer, so
// that on SQLite up to a merge's worth of them are in the account index's
// unmerged tail (account_index.go), which every such read scans.
func BenchmarkReadByAccount(b *testing.B) {
	ctx := context.Background()
	s, err := store.Open(ctx, storetest.Config(b, store.SQLite))
	require.NoError(b, err)
	b.Cleanup(func() { s.Close() })
	now := time.Now().UTC()
	const events, accounts = 200_000, 1000
	for done := 0; done < events; done += 5000 {
		msgs := make([]store.Message, 0, 5000)
		for range 5000 {
			u := rand.IntN(accounts * 10)
			msgs = append(msgs, store.Message{Type: "track", MessageID: uuid.NewString(), UserID: "u" + strconv.Itoa(u),
				GroupID: "acct-" + strconv.Itoa(u%accounts), Name: "Feature Used",
				Properties: []byte(`{"feature":"reports"}`), Timestamp: now, ReceivedAt: now})
		}
		_, err := s.Ingest(ctx, "wk", msgs)
		require.NoError(b, err)
	}
	time.Sleep(2 * time.Second) // a merge the last commit set off
	var through int64
	if s.DB().QueryRowContext(ctx, "SELECT value FROM store_meta WHERE name = 'accounts_indexed_through'").Scan(&through) == nil {
		b.Logf("unmerged tail: %d events", events-through)
	}
	b.Run("health", func(b *testing.B) {
		n := 0
		for i := range b.N {
			err := s.AccountHistoryEvents(ctx, []string{fmt.Sprint("acct-", i%accounts)}, func(*store.HealthEvent) error { n++; return nil })
			require.NoError(b, err)
		}
		b.ReportMetric(float64(n)/float64(b.N), "events/op")
	})
	b.Run("timeline", func(b *testing.B) {
		for i := range b.N {
			evs, _, err := s.ListEvents(ctx, store.EventFilter{Account: fmt.Sprint("acct-", i%accounts)}, store.Page{Limit: 50})
			require.NoError(b, err)
			require.Len(b, evs, 50)
		}
	})
}
