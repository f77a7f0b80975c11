package ui_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOutcomeReportPages renders the drivers and backtest pages on a
// planted customer base: the forest plot, the ROC curve and the deciles
// as SVG, their CSV, and a page that says why when there are too few
// outcomes.
func TestOutcomeReportPages(t *testing.T) {
	t.Parallel()
	f := setupUI(t, 0)
	f.plant(t, 40, 120)
	c := browserClient(t)
	f.signIn(t, c, viewerEmail)

	status, body := f.page(t, c, "/reports")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "Drivers of churn")
	require.Contains(t, body, "How well health predicts")

	status, body = f.page(t, c, "/reports/drivers")
	require.Equal(t, http.StatusOK, status, snippet(body))
	require.Contains(t, body, `aria-labelledby="forest-t"`)
	require.Contains(t, body, "Correlation is not cause")

	status, body = f.page(t, c, "/reports/health-backtest?horizon=30d")
	require.Equal(t, http.StatusOK, status, snippet(body))
	require.Contains(t, body, `aria-labelledby="roc-t"`)
	require.Contains(t, body, `aria-labelledby="deciles-t"`)
	require.Contains(t, body, "At-risk quadrant")

	status, body = f.page(t, c, "/reports/calibration?horizon=30d")
	require.Equal(t, http.StatusOK, status, snippet(body))
	require.Contains(t, body, "AUC of the proposed weights on accounts held out of their fit")
	require.Contains(t, body, `<th scope="row">intensity</th>`)
	require.Contains(t, body, "health:\n  behavioural:\n    weights:")
	require.Contains(t, body, "Caveats")
	status, body = f.page(t, c, "/reports/calibration.csv?horizon=30d")
	require.Equal(t, http.StatusOK, status)
	require.True(t, strings.HasPrefix(body, "component,group,current_weight,proposed_weight\nrecency,behavioural,"), body)
	require.Equal(t, 14, strings.Count(body, "\n"), "a header and 13 components")
	status, body = f.page(t, c, `/reports/calibration?outcome=account.id+%3D%3D+%22acct_001%22`)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "No calibration for this outcome.")

	status, body = f.page(t, c, "/reports/drivers.csv")
	require.Equal(t, http.StatusOK, status)
	require.True(t, strings.HasPrefix(body, "signal,kind,significant"), body)

	status, body = f.page(t, c, `/reports/drivers?outcome=account.id+%3D%3D+%22acct_001%22`)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "No drivers report for this outcome.")
	require.Contains(t, body, "too few outcomes")
}
