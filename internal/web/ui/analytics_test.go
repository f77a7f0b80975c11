package ui_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/web/webtest"
)

// TestAnalyticsPages renders the scorecards, a moment's ideal process, the
// funnel and the time-to-value curve for a signed-in viewer.
func TestAnalyticsPages(t *testing.T) {
	t.Parallel()
	f := webtest.Setup(t, "sqlite")
	page := func(path string) (int, string) {
		req, err := http.NewRequest("GET", f.URL+path, nil)
		require.NoError(t, err)
		res, err := http.DefaultClient.Do(webtest.WithSession(req))
		require.NoError(t, err)
		defer res.Body.Close()
		raw, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res.StatusCode, string(raw)
	}
	code, body := page("/reports/scorecards")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "moments map apply examples/b2b-saas.yaml")

	require.Equal(t, http.StatusOK, f.PutMap(t, webtest.ExampleMap(t)))
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
	// and links to its scorecard; the journey map links to the scorecards.
	code, body = page("/journey/moments/contract_signed")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "The ideal process against what actually happened")
	require.Contains(t, body, `href="/reports/scorecards?moment=contract_signed"`)
	code, body = page("/journey")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `href="/reports/scorecards"`)

	code, _ = page("/reports/scorecards?moment=nope")
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
