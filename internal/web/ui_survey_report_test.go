package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestUISurveyReport shows the survey results of the seeded year's
// answers: a chart with intervals, the table with n, and the CSV.
func TestUISurveyReport(t *testing.T) {
	t.Parallel()
	f := setupUI(t, 30)
	c := browserClient(t)
	f.signIn(t, c, csmEmail)
	status, body := f.page(t, c, "/reports")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, `href="/reports/surveys"`)
	status, body = f.page(t, c, "/reports/surveys")
	require.Equal(t, http.StatusOK, status, snippet(body))
	require.Contains(t, body, "Survey score by moment over the last 90 days, with 95 % intervals")
	require.Contains(t, body, "<svg")
	require.Contains(t, body, "Scores by moment")
	require.Contains(t, body, "Closing the loop on low answers")
	status, body = f.page(t, c, "/reports/surveys.csv?segment=enterprise")
	require.Equal(t, http.StatusOK, status)
	require.True(t, strings.HasPrefix(body, "by,key,kind,n,value,ci95_low,ci95_high\n"), body)
	require.NotContains(t, body, ",smb,", "the segment filter keeps enterprise accounts only")
}
