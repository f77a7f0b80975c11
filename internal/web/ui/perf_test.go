package ui_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// demoAccounts is the demo's size.
const demoAccounts = 300

// demoPages are the pages a CS team opens every day, with the filters that
// make them work hardest.
func demoPages(csmAccount string) []string {
	return []string{
		"/", "/?who=all", "/accounts", "/accounts?sort=health&dir=desc", "/accounts?segment=smb&q=labs",
		"/accounts/" + csmAccount, "/journey", "/reports", "/reports/exceptions", "/reports/exceptions.csv",
		"/reports/health", "/reports/health.csv", "/reports/time-to-value", "/reports/moments", "/settings/journey",
		"/settings/journey?from=0&to=1", "/settings/keys", "/settings/users", "/settings/delivery",
	}
}

// setupDemoSized seeds demo-sized data (300 accounts, a year of events) and
// returns a function that renders a page as an admin (who sees the most)
// inside the server, without the network, and its status.
func setupDemoSized(tb testing.TB) (render func(path string) int, csmAccount string) {
	tb.Helper()
	start := time.Now()
	f := setupUI(tb, demoAccounts)
	events, err := f.store.CountEvents(tb.Context())
	require.NoError(tb, err)
	tb.Logf("seeded %d accounts and %d events in %s", demoAccounts, events, time.Since(start).Round(time.Millisecond))
	require.Greater(tb, events, int64(30_000), "a year of events")
	c := browserClient(tb)
	f.signIn(tb, c, adminEmail)
	cookies := c.Jar.Cookies(mustURL(tb, f.url))
	h := f.app.Handler()
	return func(p string) int {
		req := httptest.NewRequest(http.MethodGet, p, nil)
		for _, ck := range cookies {
			req.AddCookie(ck)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}, f.csmAccount
}

// TestUIPagesWithDemoSizedData renders every daily page with demo-sized
// data. How fast they render is measured by BenchmarkUIPages, not here: a
// timed assertion fails on a busy machine for no fault of the code.
func TestUIPagesWithDemoSizedData(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("seeds a year of events for 300 accounts; skipped with -short")
	}
	render, csm := setupDemoSized(t)
	for _, p := range demoPages(csm) {
		require.Equal(t, http.StatusOK, render(p), p)
	}
}

// BenchmarkUIPages measures each daily page's server-side render time with
// demo-sized data: go test ./internal/web/ui -run '^$' -bench UIPages.
func BenchmarkUIPages(b *testing.B) {
	render, csm := setupDemoSized(b)
	for _, p := range demoPages(csm) {
		b.Run(p, func(b *testing.B) {
			for b.Loop() {
				if code := render(p); code != http.StatusOK {
					b.Fatalf("%s answered %d", p, code)
				}
			}
		})
	}
}
