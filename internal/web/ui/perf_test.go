package ui_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// pageBudget is the server-side time every page must render in with
// demo-sized data (300 accounts, a year of events).
const pageBudget = 200 * time.Millisecond

// demoAccounts is the demo's size.
const demoAccounts = 300

// TestUIPagesRenderUnderBudget renders every page as an admin (who sees
// the most) with demo-sized data and checks the median of five renders,
// measured inside the server (no network), against pageBudget.
func TestUIPagesRenderUnderBudget(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("seeds a year of events for 300 accounts; skipped with -short")
	}
	start := time.Now()
	f := setupUI(t, demoAccounts)
	events, err := f.store.CountEvents(t.Context())
	require.NoError(t, err)
	t.Logf("seeded %d accounts and %d events in %s", demoAccounts, events, time.Since(start).Round(time.Millisecond))
	require.Greater(t, events, int64(30_000), "a year of events")

	c := browserClient(t)
	f.signIn(t, c, adminEmail)
	cookies := c.Jar.Cookies(mustURL(t, f.url))
	pages := []string{
		"/", "/?who=all", "/accounts", "/accounts?sort=health&dir=desc", "/accounts?segment=smb&q=labs",
		"/accounts/" + f.csmAccount, "/journey", "/reports", "/reports/exceptions", "/reports/exceptions.csv",
		"/reports/health", "/reports/health.csv", "/reports/time-to-value", "/reports/moments", "/settings/journey",
		"/settings/journey?from=0&to=1", "/settings/keys", "/settings/users", "/settings/delivery",
	}
	h := f.app.Handler()
	for _, p := range pages {
		var took []time.Duration
		for range 5 {
			req := httptest.NewRequest(http.MethodGet, p, nil)
			for _, ck := range cookies {
				req.AddCookie(ck)
			}
			rec := httptest.NewRecorder()
			t0 := time.Now()
			h.ServeHTTP(rec, req)
			took = append(took, time.Since(t0))
			require.Equal(t, http.StatusOK, rec.Code, "%s: %s", p, snippet(rec.Body.String()))
		}
		slices.Sort(took)
		median := took[len(took)/2]
		t.Logf("%-34s median %6.1f ms  (min %.1f, max %.1f)", p, ms(median), ms(took[0]), ms(took[len(took)-1]))
		require.Less(t, median, pageBudget, "%s renders in under %s", p, pageBudget)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
