package ui_test

import (
	"context"
	_ "embed"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// axeSource is axe-core's axe.min.js, vendored as a test fixture
// (testdata/axe/VENDORED.txt says which version and how to upgrade).
//
//go:embed testdata/axe/axe.min.js
var axeSource string

// axeTags are the rule sets the audit runs: WCAG 2.0 and 2.1, levels A and
// AA, as axe-core measures them.
var axeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa"}

// axeFailing are the impacts that fail a page.
var axeFailing = map[string]bool{"serious": true, "critical": true}

// axeViolation is one rule that a page breaks, with the elements that
// break it, as axe.run reports it.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target  []any  `json:"target"`
		HTML    string `json:"html"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// axeRun injects axe-core into the current page and returns its WCAG 2.1
// AA violations, of every impact.
func axeRun(ctx context.Context) ([]axeViolation, error) {
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof window.axe === "object"`))
	if err != nil {
		return nil, err
	}
	if !loaded {
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](axeSource)); err != nil {
			return nil, fmt.Errorf("inject axe-core: %w", err)
		}
	}
	tags := `["` + strings.Join(axeTags, `","`) + `"]`
	js := `axe.run(document, {runOnly: {type: "tag", values: ` + tags + `}, resultTypes: ["violations"]}).then(r => r.violations)`
	return chromedp.Run(ctx, chromedp.Evaluate[[]axeViolation](js, chromedp.EvalAwaitPromise))
}

// axeAudit is the record of an accessibility walk: the violations found on
// every page, for the failure message and the summary the test logs.
type axeAudit struct {
	mu sync.Mutex
	// found are "rule (impact) on page: n elements" lines.
	counts map[string]int
	// failures are the serious and critical violations, one per element.
	failures []string
	// visited are the paths audited.
	visited []string
}

// check runs axe-core on the page ctx shows and records its violations;
// label names the page (its URL, and the viewport or media when not the
// default). It fails the test at the end, not at once, so that one run
// lists every page's violations.
func (a *axeAudit) check(t *testing.T, ctx context.Context, label string) {
	t.Helper()
	vs, err := axeRun(ctx)
	require.NoError(t, err, label)
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.counts == nil {
		a.counts = map[string]int{}
	}
	if u, err := url.Parse(loc); err == nil {
		a.visited = append(a.visited, u.Path)
	}
	for _, v := range vs {
		a.counts[fmt.Sprintf("%-28s %-8s %s", v.ID, v.Impact, label)] += len(v.Nodes)
		if !axeFailing[v.Impact] {
			continue
		}
		for _, n := range v.Nodes {
			html := n.HTML
			if len(html) > 240 {
				html = html[:240] + "…"
			}
			a.failures = append(a.failures, fmt.Sprintf("%s (%s): %s\n  page:    %s\n  element: %v\n  html:    %s\n  %s",
				v.ID, v.Impact, v.Help, loc, n.Target, html, strings.ReplaceAll(n.Summary, "\n", "\n  ")))
		}
	}
}

// report logs every violation by rule and page, and fails the test on the
// serious and critical ones.
func (a *axeAudit) report(t *testing.T) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	lines := make([]string, 0, len(a.counts))
	for k, n := range a.counts {
		lines = append(lines, fmt.Sprintf("%4d  %s", n, k))
	}
	sort.Strings(lines)
	t.Logf("axe-core violations (elements, rule, impact, page): %d rules×pages\n%s", len(lines), strings.Join(lines, "\n"))
	if len(a.failures) > 0 {
		t.Errorf("%d serious or critical accessibility violations (WCAG 2.1 AA, axe-core):\n\n%s",
			len(a.failures), strings.Join(a.failures, "\n\n"))
	}
}

// phoneWidth is the width of a small phone's screen in CSS pixels.
const phoneWidth = 375

// pageWidth is the document's scroll width: wider than the viewport means
// the page scrolls sideways.
func pageWidth(t *testing.T, ctx context.Context) int {
	t.Helper()
	w, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.scrollingElement.scrollWidth`))
	require.NoError(t, err)
	return w
}

// tooWide names the innermost elements that reach past the viewport's
// right edge, for the message of a page that scrolls sideways.
func tooWide(t *testing.T, ctx context.Context) []string {
	t.Helper()
	js := fmt.Sprintf(`(() => { const w = %d + 0.5, wide = e => e.getBoundingClientRect().right > w;
	  return [...document.querySelectorAll("body *")].filter(e => wide(e) && ![...e.children].some(wide))
	    .slice(0, 10).map(e => e.outerHTML.slice(0, 160) + " right=" + Math.round(e.getBoundingClientRect().right)); })()`, phoneWidth)
	out, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](js))
	require.NoError(t, err)
	return out
}

// uiPagePatterns lists the UI's page routes: every GET route the server
// registers that renders a page (not the APIs, the static assets, the
// health check or the metrics).
func uiPagePatterns(f *uiFixture) []string {
	var out []string
	for _, p := range f.app.Web.Routes() {
		method, path, _ := strings.Cut(p, " ")
		if method != http.MethodGet {
			continue
		}
		if strings.HasPrefix(path, "/api/") || strings.HasPrefix(path, "/v1/") || strings.HasPrefix(path, "/static/") ||
			path == "/healthz" || path == "/metrics" {
			continue
		}
		out = append(out, p)
	}
	return out
}

// unvisitedPatterns returns the page patterns that none of the visited
// paths matches, matching as the server does (http.ServeMux).
func unvisitedPatterns(patterns, visited []string) []string {
	mux := http.NewServeMux()
	for _, p := range patterns {
		mux.Handle(p, http.NotFoundHandler())
	}
	seen := map[string]bool{}
	for _, v := range visited {
		_, p := mux.Handler(&http.Request{Method: http.MethodGet, URL: &url.URL{Path: v}, Host: "x"})
		seen[p] = true
	}
	var out []string
	for _, p := range patterns {
		if !seen[p] {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// TestBrowserAccessibility signs in as an admin (who may open every page),
// visits every UI page with a real id from the fixture, runs axe-core on
// each, at the desktop size, at a phone's width (375 px) and as printed,
// and fails on any serious or critical WCAG 2.1 AA violation; then it
// fails if a page route was not visited, so that a new page cannot skip
// the audit.
func TestBrowserAccessibility(t *testing.T) {
	t.Parallel()
	f := setupUI(t, 24, true)
	surveyLink := "/s/" + f.sendSurvey(t)
	ctx := newBrowser(t)
	var audit axeAudit

	base := f.url
	visit := func(path, waitFor string) {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+path), chromedp.WaitVisible(css(waitFor))), path)
		audit.check(t, ctx, path)
		// A page that redirects (/settings) counts as visited too.
		u, err := url.Parse(path)
		require.NoError(t, err)
		audit.visited = append(audit.visited, u.Path)
	}
	visit("/signin", `#email`)
	// The survey answer page is public: a customer opens it from an email.
	visit(surveyLink, `#question`)
	// A link that is not (or no longer) valid says so on the same page.
	visit("/s/not-a-link-we-sent", `main h1`)
	browserSignIn(t, ctx, f, adminEmail)

	pages := []string{
		"/", "/?who=all",
		"/accounts", "/accounts?segment=smb&sort=-arr", "/accounts/" + f.csmAccount,
		"/journey", "/journey/moments/proposal_sent", "/journey/moments/first_value",
		"/reports", "/reports/exceptions", "/reports/health", "/reports/time-to-value", "/reports/moments",
		"/reports/surveys", "/reports/scorecards", "/reports/scorecards?moment=first_value", "/reports/funnel",
		"/reports/funnel?by=segment", "/reports/survival",
		"/settings", "/settings/journey", "/settings/keys", "/settings/users", "/settings/delivery", "/settings/audit",
		"/no-such-page",
	}
	for _, p := range pages {
		visit(p, `main h1`)
	}
	// The drivers of churn and the health backtest need accounts that
	// churned: a second installation holds a planted customer base.
	planted := setupUI(t, 0)
	planted.plant(t, 40, 120)
	browserSignIn(t, ctx, planted, adminEmail)
	base = planted.url
	visit("/reports/drivers", `main svg.chart`)
	visit("/reports/health-backtest", `main svg.chart`)
	visit("/reports/health-backtest?horizon=30d", `main svg.chart`)
	visit("/reports/calibration?horizon=30d", `main textarea#c-section`)
	screenshot(t, ctx, "report-calibration")
	base = f.url

	// A phone's width: the cockpit (everyone's tasks, with their actions)
	// fits without scrolling sideways; the other pages are audited and
	// their width logged. Then the journey map as printed.
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(phoneWidth, 800, chromedp.EmulateMobile)))
	for _, p := range []struct{ path, shot string }{
		{"/?who=all", "phone-cockpit"}, {"/accounts", "phone-accounts"}, {"/accounts/" + f.csmAccount, "phone-account"},
		{"/journey", ""}, {"/reports/health", "phone-report-health"}, {"/reports/exceptions", ""},
		{surveyLink, "phone-survey-answer"},
	} {
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(f.url+p.path), chromedp.WaitVisible(css(`main h1`))), p.path)
		audit.check(t, ctx, p.path+" at 375 px")
		width := pageWidth(t, ctx)
		t.Logf("%s at %d px: the page is %d px wide", p.path, phoneWidth, width)
		if p.path == surveyLink && width > phoneWidth {
			t.Errorf("the survey answer page is %d px wide at %d px: it scrolls sideways on a phone; too wide: %s", width, phoneWidth, strings.Join(tooWide(t, ctx), "\n"))
		}
		if p.path == "/?who=all" {
			if width > phoneWidth {
				t.Errorf("the cockpit is %d px wide at %d px: it scrolls sideways on a phone; too wide: %s", width, phoneWidth, strings.Join(tooWide(t, ctx), "\n"))
			}
		}
		if p.shot != "" {
			screenshot(t, ctx, p.shot)
		}
	}
	_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"})
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1360, 900),
		chromedp.Navigate(f.url+"/journey"), chromedp.WaitVisible(css(`main h1`))))
	audit.check(t, ctx, "/journey printed")

	audit.report(t)
	patterns := uiPagePatterns(f)
	require.NotEmpty(t, patterns)
	require.Empty(t, unvisitedPatterns(patterns, audit.visited), "UI pages the accessibility walk does not visit: add them to TestBrowserAccessibility")
}
