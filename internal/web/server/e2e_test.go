package server_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	analytics "gopkg.in/segmentio/analytics-go.v3"

	"github.com/moments-cs/moments/internal/store/storetest"
	"github.com/moments-cs/moments/internal/web/webtest"
)

// TestSegmentClientEndToEnd sends identify, group and track calls through
// the official Segment Go client and reads the results back through the
// REST API.
func TestSegmentClientEndToEnd(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			f := webtest.Setup(t, d)
			client, err := analytics.NewWithConfig(f.WriteKey, analytics.Config{
				Endpoint:  f.URL,
				BatchSize: 50,
				Interval:  50 * time.Millisecond,
				Logger:    testLogger{t},
			})
			require.NoError(t, err)
			require.NoError(t, client.Enqueue(analytics.Group{UserId: "u-1", GroupId: "acme",
				Traits: analytics.NewTraits().SetName("Acme Corp").Set("plan", "enterprise").Set("arr", 48000).
					Set("segment", "enterprise").Set("owner", "casey@vendor.example").Set("renewal_date", "2027-03-31")}))
			require.NoError(t, client.Enqueue(analytics.Identify{UserId: "u-1",
				Traits: analytics.NewTraits().SetEmail("jo@acme.example").Set("role", "champion")}))
			require.NoError(t, client.Enqueue(analytics.Identify{UserId: "u-2",
				Traits:  analytics.NewTraits().SetEmail("sam@acme.example").Set("role", "sponsor"),
				Context: &analytics.Context{Extra: map[string]any{"groupId": "acme"}}}))
			for i := 0; i < 120; i++ {
				require.NoError(t, client.Enqueue(analytics.Track{UserId: "u-1", Event: "Report Created",
					Properties: analytics.NewProperties().Set("n", i)}))
			}
			require.NoError(t, client.Close(), "Close flushes every message")

			status, body := f.Get(t, "/api/v1/accounts/acme")
			require.Equal(t, http.StatusOK, status, body)
			acct := body["account"].(map[string]any)
			require.Equal(t, "Acme Corp", acct["name"])
			require.Equal(t, 48000.0, acct["arr"])
			require.Equal(t, "2027-03-31", acct["renewal_date"])
			require.Len(t, body["contacts"], 2, "u-1 linked by group, u-2 by context.groupId")
			timeline := body["timeline"].([]any)
			require.Len(t, timeline, 50, "the latest 50 events")
			require.Equal(t, "Report Created", timeline[0].(map[string]any)["name"])

			status, body = f.Get(t, "/api/v1/accounts?segment=enterprise&owner=casey@vendor.example")
			require.Equal(t, http.StatusOK, status)
			require.Len(t, body["accounts"], 1)

			status, body = f.Get(t, "/api/v1/contacts/u-2")
			require.Equal(t, http.StatusOK, status)
			require.Equal(t, "sponsor", body["contact"].(map[string]any)["role"])

			total := 0
			cursor := ""
			for {
				status, body = f.Get(t, "/api/v1/events?account=acme&name=Report+Created&limit=500"+cursor)
				require.Equal(t, http.StatusOK, status)
				total += len(body["events"].([]any))
				next := body["next_cursor"].(string)
				if next == "" {
					break
				}
				cursor = "&cursor=" + next
			}
			require.Equal(t, 120, total, "every track call stored once")

			code, _ := f.GetError(t, "/api/v1/accounts/nope", http.StatusNotFound)
			require.Equal(t, "not_found", code)
			_, field := f.GetError(t, "/api/v1/accounts?limit=0", http.StatusBadRequest)
			require.Equal(t, "limit", field)
		})
	}
}

type testLogger struct{ t *testing.T }

func (l testLogger) Logf(format string, args ...any)   { l.t.Logf(format, args...) }
func (l testLogger) Errorf(format string, args ...any) { l.t.Errorf(format, args...) }
