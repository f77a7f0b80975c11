package api_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store/storetest"
	"github.com/moments-cs/moments/internal/web/webtest"
)

// TestAnalyticsAPI checks the moment analytics endpoints as a client sees
// them: the scorecard contract, CSV, and errors that name the field.
func TestAnalyticsAPI(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			f := webtest.Setup(t, d)
			// Before a map is applied the reports say what to do.
			code, _ := f.GetError(t, "/api/v1/reports/scorecards", http.StatusNotFound)
			require.Equal(t, "no_journey_map", code)

			require.Equal(t, http.StatusOK, f.PutMap(t, webtest.ExampleMap(t)))
			status, body := f.Get(t, "/api/v1/reports/scorecards?days=90")
			require.Equal(t, http.StatusOK, status)
			moments := body["moments"].([]any)
			require.Len(t, moments, 21)
			for _, x := range moments {
				m := x.(map[string]any)
				require.NotEmpty(t, m["moment"])
				require.Contains(t, m, "occurrences")
				tm := m["time"].(map[string]any)
				require.Contains(t, tm, "median_days")
				require.Contains(t, tm, "p90_days")
				for _, s := range m["ideal"].([]any) {
					step := s.(map[string]any)
					require.NotEmpty(t, step["step"])
					require.Contains(t, step, "done_share")
					require.Contains(t, step, "on_time_share")
				}
			}
			status, body = f.Get(t, "/api/v1/reports/scorecards/contract_signed")
			require.Equal(t, http.StatusOK, status)
			require.Len(t, body["ideal"], 4)

			tests := []struct {
				path, code, field string
				status            int
			}{
				{"/api/v1/reports/scorecards?days=0", "invalid_parameter", "days", 400},
				{"/api/v1/reports/scorecards?days=ninety", "invalid_parameter", "days", 400},
				{"/api/v1/reports/scorecards/nope", "not_found", "", 404},
				{"/api/v1/reports/funnel?by=region", "invalid_parameter", "by", 400},
				{"/api/v1/reports/funnel?path=nope", "invalid_parameter", "path", 400},
				{"/api/v1/reports/funnel?window_days=0", "invalid_parameter", "window_days", 400},
				{"/api/v1/reports/ttv?by=region", "invalid_parameter", "by", 400},
			}
			for _, tc := range tests {
				c, fld := f.GetError(t, tc.path, tc.status)
				require.Equal(t, tc.code, c, tc.path)
				require.Equal(t, tc.field, fld, tc.path)
			}
			for _, p := range []string{"/api/v1/reports/funnel", "/api/v1/reports/funnel?events=Kickoff%20Held,Integration%20Connected&by=cohort",
				"/api/v1/reports/ttv"} {
				status, _ := f.Get(t, p)
				require.Equal(t, http.StatusOK, status, p)
			}
			// CSV by format=csv or by Accept.
			for _, c := range []struct{ path, accept string }{{"/api/v1/reports/scorecards?format=csv", ""},
				{"/api/v1/reports/scorecards", "text/csv"}} {
				status, ct, raw := f.GetRaw(t, c.path, c.accept)
				require.Equal(t, http.StatusOK, status)
				require.Equal(t, "text/csv; charset=utf-8", ct)
				require.True(t, strings.HasPrefix(string(raw), "rank,moment,name,owner,"), string(raw))
				require.Equal(t, 22, strings.Count(string(raw), "\n"))
			}
			// Effort on a task.
			put := func(body string) (int, map[string]any) {
				req, err := http.NewRequest("PUT", f.URL+"/api/v1/tasks/nope/effort", bytes.NewBufferString(body))
				require.NoError(t, err)
				req.Header.Set("Authorization", "Bearer "+f.AdminKey)
				req.Header.Set("Content-Type", "application/json")
				return webtest.Do(t, req)
			}
			status, _ = put(`{"minutes": 30}`)
			require.Equal(t, http.StatusNotFound, status)
			for _, b := range []string{`{"minutes": -3}`, `{}`} {
				status, body := put(b)
				require.Equal(t, http.StatusBadRequest, status, b)
				_, fld := webtest.ErrorOf(t, body)
				require.Equal(t, "minutes", fld, b)
			}
		})
	}
}
