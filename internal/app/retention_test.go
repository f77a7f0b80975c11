package app

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/health/planted"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// TestDropOldEventsKeepsHealth receives a planted customer base live (each
// event when it happened), then runs the daily drop with a 60-day event
// retention: exactly the events received before the cutoff go (on
// PostgreSQL, those of the whole partitions before it, partitions of 1,000
// ids), and every account's stored health reads the same afterwards.
func TestDropOldEventsKeepsHealth(t *testing.T) {
	t.Parallel()
	cfg := planted.DefaultConfig(7)
	cfg.Accounts, cfg.Days = 20, 150
	accounts := planted.Generate(cfg)
	msgs := planted.Messages(accounts, cfg.End)
	for i := range msgs {
		msgs[i].ReceivedAt = msgs[i].Timestamp
	}
	slices.SortStableFunc(msgs, func(a, b store.Message) int { return a.ReceivedAt.Compare(b.ReceivedAt) })
	cutoff := cfg.End.Add(-60 * 24 * time.Hour)
	var old int64
	for _, m := range msgs {
		if m.ReceivedAt.Before(cutoff) {
			old++
		}
	}
	const span = 1000
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			sc := storetest.Config(t, d)
			sc.EventPartitionSpan = span
			st, err := store.Open(ctx, sc)
			require.NoError(t, err)
			t.Cleanup(func() { st.Close() })
			a, err := New(ctx, st, Options{Now: func() time.Time { return cfg.End }, EventRetention: 60 * 24 * time.Hour,
				MetricsToken: "retention-test-token"})
			require.NoError(t, err)
			for i := 0; i < len(msgs); i += 500 {
				res, err := st.Ingest(ctx, "wk", msgs[i:min(i+500, len(msgs))])
				require.NoError(t, err)
				require.Zero(t, res.Duplicates)
			}
			require.NoError(t, a.WaitIdle(ctx))
			require.Zero(t, a.DropOldEvents(ctx).Events, "nothing is dropped before a recompute has folded the events into the health bases")
			_, err = a.Health.Recompute(ctx)
			require.NoError(t, err)
			if d == store.Postgres {
				// PostgreSQL's bases reach the largest id seen when the
				// previous recompute began.
				_, err = a.Health.Recompute(ctx)
				require.NoError(t, err)
			}
			// health is every account's scores, quadrant and usage windows.
			health := func() map[string]string {
				out := map[string]string{}
				for _, acc := range accounts {
					h, err := st.AccountHealth(ctx, acc.ID)
					require.NoError(t, err)
					require.NotNil(t, h.Combined)
					out[acc.ID] = fmt.Sprintf("behavioural %.4f emotional %.4f combined %.4f %s usage %d/%d last %s",
						*h.Behavioural, *h.Emotional, *h.Combined, h.Quadrant, h.UsageLast, h.UsagePrevious, h.LastActivityAt)
				}
				return out
			}
			before := health()

			dropped := a.DropOldEvents(ctx)
			if d == store.SQLite {
				require.Equal(t, old, dropped.Events, "the events received before %s", cutoff)
			} else {
				require.LessOrEqual(t, dropped.Events, old, "no event received after %s", cutoff)
				require.Greater(t, dropped.Events, old-span, "the partitions before the one holding %s", cutoff)
			}
			require.Positive(t, old)
			n, err := st.CountEvents(ctx)
			require.NoError(t, err)
			require.EqualValues(t, len(msgs), n+dropped.Events, "the events received since stay")

			require.Equal(t, before, health(), "stored health keeps what the dropped events made of it")
			_, err = a.Health.Recompute(ctx)
			require.NoError(t, err)
			require.Equal(t, before, health(), "the daily recompute starts from the accounts' bases, which hold the dropped events")
			require.Zero(t, a.DropOldEvents(ctx).Events, "a second run finds nothing older")
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", "/metrics", nil)
			req.Header.Set("Authorization", "Bearer retention-test-token")
			a.Web.ServeHTTP(rec, req)
			require.Contains(t, rec.Body.String(), fmt.Sprintf("moments_events_dropped_total %d\n", dropped.Events))
			t.Logf("dropped %d of %d events (%d received before the cutoff)", dropped.Events, len(msgs), old)
		})
	}
}
