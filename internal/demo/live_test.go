package demo_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/demo"
	"github.com/moments-cs/moments/internal/store"
)

// TestLive checks the trickle: events arrive now, from customers who are
// still customers, until the context ends.
func TestLive(t *testing.T) {
	t.Parallel()
	s := startServer(t, store.SQLite)
	c, err := demo.NewCompany(demo.Config{Seed: 4, Accounts: 30, Months: 3})
	require.NoError(t, err)
	hs := c.Histories()
	churned := map[string]bool{}
	for _, h := range hs {
		if !h.Churned.IsZero() {
			churned[h.Account.ID] = true
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	sent := 0
	start := time.Now()
	require.NoError(t, demo.Live(ctx, hs, demo.Target{URL: s.url, WriteKey: s.writeKey},
		demo.LiveOptions{Every: 20 * time.Millisecond, Sent: func(n int) { sent += n }}))
	require.Positive(t, sent)

	evs, _, err := s.store.ListEvents(context.Background(), store.EventFilter{}, store.Page{Limit: 500})
	require.NoError(t, err)
	live := 0
	for _, e := range evs {
		if !strings.HasPrefix(e.MessageID, "live-") {
			continue
		}
		live++
		require.False(t, churned[e.AccountID], "a churned account %s is still active", e.AccountID)
		require.WithinDuration(t, start, e.Timestamp, 5*time.Second)
	}
	// A batch in flight when the context ended may have been stored
	// without being counted as sent.
	require.GreaterOrEqual(t, live, sent)
	require.LessOrEqual(t, live, sent+3)
}
