package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/app"
	"github.com/moments-cs/moments/internal/store/storetest"
	"github.com/moments-cs/moments/internal/web/webtest"
)

// healthNow is the fixed clock of the health end-to-end test.
var healthNow = time.Date(2026, 5, 15, 12, 0, 0, 0, time.UTC)

// TestHealthEndToEnd sends a scripted account history through /v1/batch to
// a server built by internal/app (so the health hook is registered), with
// the events' original (past) timestamps, and reads the account's success
// path, health and its row in the exception report back through the API.
func TestHealthEndToEnd(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := storetest.Open(t, d)
			a, err := app.New(ctx, st, app.Options{Now: func() time.Time { return healthNow }})
			require.NoError(t, err)
			data, err := os.ReadFile("../../../examples/b2b-saas.yaml")
			require.NoError(t, err)
			_, err = a.Journey.Apply(ctx, "b2b-saas.yaml", data, "test")
			require.NoError(t, err)
			admin, _, err := a.Keys.Bootstrap(ctx)
			require.NoError(t, err)
			_, write, err := a.Keys.CreateServer(ctx, "backend")
			require.NoError(t, err)
			srv := httptest.NewServer(a.Handler())
			t.Cleanup(srv.Close)
			f := &webtest.Fixture{URL: srv.URL, Store: st, WriteKey: write, AdminKey: admin}

			status, body := f.Post(t, "/v1/batch", scriptedHistory(t))
			require.Equal(t, http.StatusOK, status, body)
			require.NoError(t, a.WaitIdle(ctx))

			// Acme follows the mid-market path: kickoff on day 3, the
			// integration (implementation) on day 12 and the first shared
			// dashboard (value) on day 20; nobody was invited, which was due
			// on day 21, 24 days ago.
			status, body = f.Get(t, "/api/v1/accounts/acme/path")
			require.Equal(t, http.StatusOK, status, body)
			require.Equal(t, "mid_market", body["path_id"])
			require.Equal(t, 3.0, body["reached"])
			require.Equal(t, 5.0, body["total"])
			require.Equal(t, 0.6, body["progress"])
			require.Equal(t, "team_invited", body["next_milestone"].(map[string]any)["id"])
			require.Equal(t, 24.0, body["days_behind"])
			require.Equal(t, 20.0, body["time_to_value_days"])
			require.Equal(t, 12.0, body["time_to_implementation_days"])
			ms := body["milestones"].([]any)
			require.Equal(t, "reached", ms[0].(map[string]any)["status"])
			require.Equal(t, "overdue", ms[2].(map[string]any)["status"])
			require.Equal(t, true, ms[2].(map[string]any)["late"])

			status, body = f.Get(t, "/api/v1/accounts/acme/health")
			require.Equal(t, http.StatusOK, status, body)
			require.Equal(t, "at_risk", body["quadrant"], body)
			require.Len(t, body["components"], 13)
			require.Equal(t, true, body["usage_drop"].(map[string]any)["dropped"])
			require.Len(t, body["trend"], 1)
			require.NotEmpty(t, body["moving"])
			var nps map[string]any
			for _, c := range body["components"].([]any) {
				if c.(map[string]any)["name"] == "nps" {
					nps = c.(map[string]any)
				}
			}
			require.Equal(t, 30.0, nps["value"])
			require.Equal(t, 50.0, nps["weight"])
			require.Contains(t, nps["reason"], "NPS 3 from sponsor")

			status, body = f.Get(t, "/api/v1/reports/exceptions")
			require.Equal(t, http.StatusOK, status, body)
			require.Equal(t, 1.0, body["total"], "globex is on track")
			row := body["exceptions"].([]any)[0].(map[string]any)
			require.Equal(t, "acme", row["account_id"])
			require.Equal(t, 120000.0, row["arr_at_risk"])
			require.Equal(t, 30.0, row["days_to_renewal"])
			require.Equal(t, 90000.0, row["priority"], "120,000 × 90 ÷ (90 + 30)")
			var codes []string
			for _, r := range row["reasons"].([]any) {
				codes = append(codes, r.(map[string]any)["code"].(string))
			}
			require.Equal(t, []string{"off_path", "usage_gap", "low_health"}, codes, "acme is at risk with a combined score below 40")

			csv := getCSV(f, t, "/api/v1/reports/exceptions")
			webtest.Golden(t, "health/exceptions.csv", csv)
			webtest.Golden(t, "health/health.csv", getCSV(f, t, "/api/v1/reports/health"))

			status, body = f.Get(t, "/api/v1/reports/exceptions?behind_days=30&segment=mid_market")
			require.Equal(t, http.StatusOK, status, body)
			row = body["exceptions"].([]any)[0].(map[string]any)
			require.Len(t, row["reasons"], 2, "24 days behind is under 30: only the usage gap and the low health remain")
			status, body = f.Get(t, "/api/v1/reports/exceptions?owner=nobody@vendor.example")
			require.Equal(t, http.StatusOK, status, body)
			require.Equal(t, 0.0, body["total"])

			status, body = f.Get(t, "/api/v1/reports/health")
			require.Equal(t, http.StatusOK, status, body)
			require.Equal(t, 2.0, body["accounts"])
			require.Equal(t, 150000.0, body["arr"])

			_, field := f.GetError(t, "/api/v1/reports/exceptions?behind_days=soon", http.StatusBadRequest)
			require.Equal(t, "behind_days", field)
			code, _ := f.GetError(t, "/api/v1/accounts/nope/health", http.StatusNotFound)
			require.Equal(t, "not_found", code)
			status, _ = f.Get(t, "/api/v1/accounts/nope/path")
			require.Equal(t, http.StatusNotFound, status)
		})
	}
}

func getCSV(f *webtest.Fixture, t *testing.T, path string) []byte {
	t.Helper()
	status, contentType, raw := f.GetRaw(t, path, "text/csv")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "text/csv; charset=utf-8", contentType)
	return raw
}

// scriptedHistory is the batch of two accounts' histories, with
// originalTimestamp in the past and no sentAt, so the events keep their
// times.
func scriptedHistory(t *testing.T) string {
	t.Helper()
	start := healthNow.Add(-45 * 24 * time.Hour).Truncate(24 * time.Hour)
	day := func(n float64) string {
		return start.Add(time.Duration(n * float64(24*time.Hour))).Format(time.RFC3339)
	}
	var msgs []map[string]any
	n := 0
	add := func(m map[string]any) {
		n++
		m["messageId"] = fmt.Sprintf("m-%d", n)
		msgs = append(msgs, m)
	}
	add(map[string]any{"type": "group", "groupId": "acme", "userId": "u-jo", "originalTimestamp": day(0),
		"traits": map[string]any{"name": "Acme Corp", "segment": "mid_market", "plan": "business", "arr": 120000,
			"seats": 10, "owner": "casey@vendor.example", "lifecycle_stage": "onboarding",
			"contract_start": start.Format(time.DateOnly), "renewal_date": healthNow.Add(30 * 24 * time.Hour).Format(time.DateOnly)}})
	add(map[string]any{"type": "identify", "userId": "u-sam", "originalTimestamp": day(0),
		"traits": map[string]any{"email": "sam@acme.example", "role": "sponsor"}, "context": map[string]any{"groupId": "acme"}})
	track := func(user, acct, event string, at float64, props map[string]any) {
		m := map[string]any{"type": "track", "userId": user, "event": event, "originalTimestamp": day(at),
			"context": map[string]any{"groupId": acct}}
		if props != nil {
			m["properties"] = props
		}
		add(m)
	}
	track("u-jo", "acme", "Kickoff Held", 3, nil)
	track("u-jo", "acme", "Integration Connected", 12, nil)
	track("u-jo", "acme", "Dashboard Shared", 20, nil)
	for d := 3; d <= 25; d++ {
		track("u-jo", "acme", "Report Created", float64(d)+0.25, nil)
		track("u-jo", "acme", "Logged In", float64(d)+0.5, nil)
	}
	track("u-sam", "acme", "Survey Responded", 35, map[string]any{"kind": "nps", "score": 3})

	// Globex signed two days ago and uses the product every day.
	gstart := healthNow.Add(-2 * 24 * time.Hour).Truncate(24 * time.Hour)
	add(map[string]any{"type": "group", "groupId": "globex", "userId": "u-gil", "originalTimestamp": day(43),
		"traits": map[string]any{"name": "Globex", "segment": "smb", "arr": 30000, "owner": "casey@vendor.example",
			"contract_start": gstart.Format(time.DateOnly)}})
	for d := 43.0; d <= 45; d += 0.25 {
		track("u-gil", "globex", "Report Created", d, nil)
	}
	b, err := json.Marshal(map[string]any{"batch": msgs})
	require.NoError(t, err)
	return string(bytes.TrimSpace(b))
}
