package web_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/examples"
	"github.com/moments-cs/moments/internal/auth"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/store/storetest"
	"github.com/moments-cs/moments/internal/web"
)

// TestAnalyticsAPI checks the moment analytics endpoints as a client sees
// them: the scorecard contract, CSV, and errors that name the field.
func TestAnalyticsAPI(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			st := storetest.Open(t, d)
			keys := auth.NewKeys(st)
			admin, _, err := keys.Bootstrap(context.Background())
			require.NoError(t, err)
			live := journey.NewLive(st)
			srv := httptest.NewServer(web.New(web.Options{Store: st, Keys: keys, Journey: live}))
			t.Cleanup(srv.Close)
			call := func(method, path, body string, header ...string) (int, map[string]any) {
				req, err := http.NewRequest(method, srv.URL+path, bytes.NewBufferString(body))
				require.NoError(t, err)
				req.Header.Set("Authorization", "Bearer "+admin)
				for i := 0; i+1 < len(header); i += 2 {
					req.Header.Set(header[i], header[i+1])
				}
				return do(t, req)
			}

			// Before a map is applied the reports say what to do.
			code, body := call("GET", "/api/v1/reports/scorecards", "")
			require.Equal(t, http.StatusConflict, code)
			c, _ := errorOf(t, body)
			require.Equal(t, "no_journey_map", c)

			_, err = live.Apply(context.Background(), "b2b-saas.yaml", examples.B2BSaaS, "test")
			require.NoError(t, err)
			code, body = call("GET", "/api/v1/reports/scorecards?days=90", "")
			require.Equal(t, http.StatusOK, code)
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

			code, body = call("GET", "/api/v1/reports/scorecards/contract_signed", "")
			require.Equal(t, http.StatusOK, code)
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
				code, body := call("GET", tc.path, "")
				require.Equal(t, tc.status, code, tc.path)
				c, f := errorOf(t, body)
				require.Equal(t, tc.code, c, tc.path)
				require.Equal(t, tc.field, f, tc.path)
			}
			for _, p := range []string{"/api/v1/reports/funnel", "/api/v1/reports/funnel?events=Kickoff%20Held,Integration%20Connected&by=cohort",
				"/api/v1/reports/ttv"} {
				code, _ := call("GET", p, "")
				require.Equal(t, http.StatusOK, code, p)
			}

			// CSV by format=csv or by Accept.
			for _, h := range [][]string{nil, {"Accept", "text/csv"}} {
				path := "/api/v1/reports/scorecards"
				if h == nil {
					path += "?format=csv"
				}
				req, err := http.NewRequest("GET", srv.URL+path, nil)
				require.NoError(t, err)
				req.Header.Set("Authorization", "Bearer "+admin)
				if h != nil {
					req.Header.Set(h[0], h[1])
				}
				res, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				raw, _ := io.ReadAll(res.Body)
				res.Body.Close()
				require.Equal(t, "text/csv; charset=utf-8", res.Header.Get("Content-Type"))
				require.True(t, strings.HasPrefix(string(raw), "rank,moment,name,owner,"), string(raw))
				require.Equal(t, 22, strings.Count(string(raw), "\n"))
			}

			// Effort on a task.
			code, body = call("PUT", "/api/v1/tasks/nope/effort", `{"minutes": 30}`, "Content-Type", "application/json")
			require.Equal(t, http.StatusNotFound, code)
			code, body = call("PUT", "/api/v1/tasks/nope/effort", `{"minutes": -3}`, "Content-Type", "application/json")
			require.Equal(t, http.StatusBadRequest, code)
			_, f := errorOf(t, body)
			require.Equal(t, "minutes", f)
			code, body = call("PUT", "/api/v1/tasks/nope/effort", `{}`, "Content-Type", "application/json")
			require.Equal(t, http.StatusBadRequest, code)
			_, f = errorOf(t, body)
			require.Equal(t, "minutes", f)
		})
	}
}

// TestAnalyticsPages renders the scorecards, a moment's ideal process, the
// funnel and the time-to-value curve for a signed-in viewer.
func TestAnalyticsPages(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t, "sqlite")
	keys := auth.NewKeys(st)
	_, _, err := keys.Bootstrap(context.Background())
	require.NoError(t, err)
	people := auth.NewPeople(st, auth.PeopleConfig{})
	live := journey.NewLive(st)
	srv := httptest.NewServer(web.New(web.Options{Store: st, Keys: keys, People: people, Journey: live}))
	t.Cleanup(srv.Close)
	_, pw, err := people.Add(context.Background(), "viewer@example.com", "", auth.RoleViewer, "")
	require.NoError(t, err)
	token, _, err := people.SignIn(context.Background(), "viewer@example.com", pw, "", "")
	require.NoError(t, err)
	page := func(path string) (int, string) {
		req, err := http.NewRequest("GET", srv.URL+path, nil)
		require.NoError(t, err)
		req.AddCookie(&http.Cookie{Name: "moments_session", Value: token})
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		raw, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res.StatusCode, string(raw)
	}
	code, body := page("/reports/scorecards")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "moments map apply examples/b2b-saas.yaml")

	_, err = live.Apply(context.Background(), "b2b-saas.yaml", examples.B2BSaaS, "test")
	require.NoError(t, err)
	code, body = page("/reports")
	require.Equal(t, http.StatusOK, code)
	for _, want := range []string{"Moment scorecards", "Funnel by account", "Time to value, counting those on the way"} {
		require.Contains(t, body, want)
	}
	code, body = page("/reports/scorecards?days=90")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `href="/reports/scorecards?moment=contract_signed&amp;days=90"`)
	code, body = page("/reports/scorecards?moment=contract_signed")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "The ideal process against what actually happened")
	require.Contains(t, body, "event: Kickoff Held")
	// The moment's own page shows its ideal steps with the actual figures
	// and links to its scorecard.
	code, body = page("/journey/moments/contract_signed")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "The ideal process against what actually happened")
	require.Contains(t, body, `href="/reports/scorecards?moment=contract_signed"`)
	code, body = page("/journey")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `href="/reports/scorecards"`)
	code, body = page("/reports/scorecards?moment=nope")
	require.Equal(t, http.StatusNotFound, code)
	code, _ = page("/reports/scorecards?days=0")
	require.Equal(t, http.StatusBadRequest, code)
	code, body = page("/reports/funnel?by=segment")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "No account entered this funnel")
	code, body = page("/reports/survival")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "has a contract start yet")
	code, body = page("/reports/scorecards.csv?days=30")
	require.Equal(t, http.StatusOK, code)
	require.True(t, strings.HasPrefix(body, "rank,moment,"), body)
}
