package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// TestIngestStagesFastLane sends background traffic from eight senders
// while a slow stage falls behind, with an event a moment listens to in
// every fourth call: the listened events of new accounts overtake the
// backlog, yet every event reaches the stages exactly once and each
// account's events reach them in the order they were stored.
func TestIngestStagesFastLane(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var mu sync.Mutex
		var handed []store.Event
		s.OnIngest(func(_ context.Context, _ *sql.Tx, events []store.Event) error {
			// Slow enough to fall behind: rounds shrink to the fewest
			// events (stageMin) and the backlog spans several.
			time.Sleep(time.Duration(len(events)) * 200 * time.Microsecond)
			mu.Lock()
			handed = append(handed, events...)
			mu.Unlock()
			return nil
		})
		s.OnIngestListen(func(context.Context) ([]string, error) { return []string{"Ticket Escalated"}, nil })
		s.StartIngestStages()
		time.Sleep(50 * time.Millisecond) // the stages read the listened names
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := 0; b < 12; b++ {
					var msgs []store.Message
					for i := 0; i < 50; i++ {
						acct := fmt.Sprintf("bg-%d", (w+i)%5)
						msgs = append(msgs, track(fmt.Sprintf("w%d-b%d-m%d", w, b, i), "u-"+acct, acct, "Login"))
					}
					if b%4 == 1 {
						// A new account's first event, and one for an
						// account with events still behind.
						msgs = append(msgs, track(fmt.Sprintf("w%d-b%d-new", w, b), fmt.Sprintf("u-new-%d-%d", w, b), fmt.Sprintf("new-%d-%d", w, b), "Ticket Escalated"),
							track(fmt.Sprintf("w%d-b%d-old", w, b), "u-bg-1", "bg-1", "Ticket Escalated"))
					}
					_, err := s.Ingest(ctx, "wk", msgs)
					require.NoError(t, err)
				}
			}()
		}
		wg.Wait()
		require.NoError(t, s.WaitIdle(ctx))
		mu.Lock()
		defer mu.Unlock()
		var stored int
		require.NoError(t, s.DB().QueryRow("SELECT count(*) FROM events").Scan(&stored))
		seen := map[int64]int{}
		lastOf := map[string]int64{}
		for _, e := range handed {
			seen[e.ID]++
			require.Greater(t, e.ID, lastOf[e.AccountID], "account %s's events out of order", e.AccountID)
			lastOf[e.AccountID] = e.ID
		}
		// A listened event of a new account overtook the backlog when an
		// event stored before it was handed over after it.
		overtook := 0
		later := int64(1 << 62) // the smallest id handed after handed[i]
		for i := len(handed) - 1; i >= 0; i-- {
			e := handed[i]
			if e.Name == "Ticket Escalated" && e.AccountID != "bg-1" && later < e.ID {
				overtook++
			}
			later = min(later, e.ID)
		}
		require.Len(t, seen, stored, "every event reached the stages")
		for id, n := range seen {
			require.Equal(t, 1, n, "event %d reached the stages %d times", id, n)
		}
		require.Positive(t, overtook, "no listened event went ahead of the backlog")
		var left int
		require.NoError(t, s.DB().QueryRow("SELECT count(*) FROM ingest_fast_lane").Scan(&left))
		require.Zero(t, left, "the stages forgot the events they took ahead once past them")
		// The behaviour counts follow the progress: the events taken ahead
		// are counted once the ordinary rounds pass them, like the rest.
		from, to := time.Unix(0, 0).UTC(), time.Now().Add(48*time.Hour).UTC()
		require.Equal(t, rawBehaviourCounts(t, s, from, to), keptBehaviourCounts(t, s, from, to))
	})
}
