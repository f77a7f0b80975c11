package ui_test

import (
	"context"
	"github.com/moments-cs/moments/internal/vocab"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
)

// chromiumPath finds Debian's Chromium (or the one MOMENTS_CHROMIUM names).
func chromiumPath() string {
	if p := os.Getenv("MOMENTS_CHROMIUM"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	return ""
}

// newBrowser starts headless Chromium with a fresh profile.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		t.Skip("Chromium is not installed, so the browser tests cannot run: `apt-get install -y chromium` (CI installs it)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1360, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	// A walk over every page with axe-core takes a few minutes on a busy
	// machine.
	ctx, cancelTimeout := context.WithTimeout(ctx, 10*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	return ctx
}

// screenshot writes docs/screenshots/<name>.png when MOMENTS_SCREENSHOTS=1.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if os.Getenv("MOMENTS_SCREENSHOTS") != "1" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	require.NoError(t, err)
	dir := filepath.Join("..", "..", "..", "docs", "screenshots")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644))
	t.Logf("wrote docs/screenshots/%s.png (%d KB)", name, len(png)/1024)
}

// browserSignIn signs in through the sign-in form.
func browserSignIn(t *testing.T, ctx context.Context, f *uiFixture, email string) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(f.url+"/"),
		chromedp.WaitVisible(css(`#email`)),
		chromedp.SendKeys(css(`#email`), email),
		chromedp.SendKeys(css(`#password`), f.passwords[email]),
		chromedp.Submit(css(`#password`)),
		chromedp.WaitVisible(css(`nav.side`)),
	))
}

func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(css(sel)))
	require.NoError(t, err)
	return s
}

// TestBrowserCSMWorkday drives a real Chromium through a CSM's morning:
// sign in, complete a task from the cockpit in place, open an account,
// start a CSM moment, download a report as CSV; and checks that a CSM
// cannot reach admin pages or act on another CSM's account, and that a
// request without the CSRF token is refused.
func TestBrowserCSMWorkday(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	f := setupUI(t, 24, true)

	// The playbooks of the seeded history have given the customer success
	// team tasks on the CSM's accounts.
	var task store.Task
	require.Eventually(t, func() bool {
		tasks, _, err := f.store.ListTasks(context.Background(), store.TaskFilter{AccountID: f.csmAccount, Status: vocab.TaskOpen}, f.now, store.Page{Limit: 10})
		if err != nil || len(tasks) == 0 {
			return false
		}
		task = tasks[0]
		return true
	}, 20*time.Second, 100*time.Millisecond, "the playbooks create tasks on the CSM's account")

	browserSignIn(t, ctx, f, csmEmail)
	require.Equal(t, "Cockpit", textOf(t, ctx, `main h1`))
	require.Contains(t, textOf(t, ctx, `.me`), "Casey CSM")

	// Complete the task in place: htmx swaps the row, the page stays.
	row := `#task-` + task.ID
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(css(row))))
	screenshot(t, ctx, "cockpit")
	url1, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(row+` form[action$="/complete"] button`)),
		chromedp.WaitVisible(css(row+`.is-done`)),
	))
	url2, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	require.Equal(t, url1, url2, "updated in place, no page load")
	require.Contains(t, textOf(t, ctx, row), "done")
	require.Contains(t, textOf(t, ctx, `#live`), "Task marked done")
	got, err := f.store.Task(context.Background(), task.ID)
	require.NoError(t, err)
	require.Equal(t, vocab.TaskDone, got.Status)
	require.Equal(t, csmEmail, got.CompletedBy)

	// Open an account from the accounts list.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(f.url+"/accounts?owner=me"),
		chromedp.WaitVisible(css(`a[href="/accounts/`+f.csmAccount+`"]`)),
		chromedp.Click(css(`a[href="/accounts/`+f.csmAccount+`"]`)),
		chromedp.WaitVisible(css(`#health-h`)),
	))
	require.Contains(t, textOf(t, ctx, `main h1`), "Customer 000")
	require.Regexp(t, `champion|captive|dormant fan|at risk|behaviour only`, textOf(t, ctx, `#health-h + p`), "the quadrant is a word")
	screenshot(t, ctx, "account")

	// Start a CSM moment: the trigger engine starts its playbook.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(`form[action="/accounts/`+f.csmAccount+`/moments/proposal_sent/start"] button`)),
		chromedp.WaitVisible(css(`#live:not([hidden])`)),
	))
	require.Contains(t, textOf(t, ctx, `#live`), "Moment started")
	runs, _, err := f.store.ListRuns(context.Background(), store.RunFilter{AccountID: f.csmAccount, MomentID: "proposal_sent"}, store.Page{})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, csmEmail, runs[0].StartedBy)
	require.Equal(t, "csm", runs[0].Category)

	// Download a report as CSV, as a browser does.
	dl := t.TempDir()
	_, err = chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dl})
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(f.url+"/reports/health"),
		chromedp.WaitVisible(css(`svg.chart`)),
	))
	screenshot(t, ctx, "report-health")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(css(`a[href^="/reports/health.csv"]`))))
	var file string
	require.Eventually(t, func() bool {
		matches, _ := filepath.Glob(filepath.Join(dl, "moments-health-*.csv"))
		if len(matches) == 1 {
			file = matches[0]
		}
		return file != ""
	}, 20*time.Second, 50*time.Millisecond, "the CSV is downloaded")
	csv, err := os.ReadFile(file)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
	require.Equal(t, "account_id,account_name,owner,segment,stage,arr,renewal_date,behavioural,emotional,combined,quadrant", lines[0])
	require.Len(t, lines, 1+24, "one row per account")

	// The journey map, for the screenshot and the delivery colours.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(f.url+"/journey"),
		chromedp.WaitVisible(css(`.jm-grid`)),
	))
	require.Equal(t, 21, strings.Count(textOf(t, ctx, `.jm-grid`), "delivery "), "every card says how it is delivered")
	// At a laptop's width (the window is 1,360 px) nothing on a card or a
	// stage heading runs past its edge: long SLAs, team names and counts wrap.
	spill, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('.jm-card, .jm-grid thead th')]
		.filter(el => [...el.querySelectorAll('*')].some(c => c.getBoundingClientRect().right > el.getBoundingClientRect().right + 1))
		.map(el => el.textContent.trim().replace(/\s+/g, ' ').slice(0, 60))`))
	require.NoError(t, err)
	require.Empty(t, spill, "text runs past the edge of these cards or headings")
	screenshot(t, ctx, "journey")

	// A CSM cannot reach admin pages…
	for _, p := range []string{"/settings/keys", "/settings/users", "/settings/journey"} {
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(f.url+p), chromedp.WaitVisible(css(`main h1`))))
		require.Equal(t, "Not allowed", textOf(t, ctx, `main h1`), p)
	}
	// …nor act on another CSM's account, nor post without the token.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(f.url+"/"), chromedp.WaitVisible(css(`main h1`))))
	attr, err := chromedp.Run(ctx, chromedp.AttributeValue(css(`input[name="csrf"]`), "value"))
	require.NoError(t, err)
	token := attr.Value
	require.NotEmpty(t, token)
	status := func(path, csrf string) int {
		js := `fetch(` + jsString(path) + `, {method: "POST", headers: {"X-CSRF-Token": ` + jsString(csrf) + `}}).then(r => r.status)`
		code, err := chromedp.Run(ctx, chromedp.Evaluate[int](js, chromedp.EvalAwaitPromise))
		require.NoError(t, err)
		return code
	}
	require.Equal(t, 403, status("/accounts/"+f.otherAccount+"/moments/proposal_sent/start", token), "another CSM's account")
	require.Equal(t, 403, status("/settings/keys", token), "an admin action")
	open, _, err := f.store.ListTasks(context.Background(), store.TaskFilter{AccountID: f.csmAccount, Status: vocab.TaskOpen}, f.now, store.Page{Limit: 1})
	require.NoError(t, err)
	if len(open) > 0 {
		require.Equal(t, 403, status("/tasks/"+open[0].ID+"/complete", ""), "no CSRF token")
		require.Equal(t, 403, status("/tasks/"+open[0].ID+"/complete", "forged"), "a wrong CSRF token")
		still, err := f.store.Task(context.Background(), open[0].ID)
		require.NoError(t, err)
		require.NotEqual(t, vocab.TaskDone, still.Status, "nothing changed")
	}
	runs, _, err = f.store.ListRuns(context.Background(), store.RunFilter{AccountID: f.otherAccount, MomentID: "proposal_sent"}, store.Page{})
	require.NoError(t, err)
	require.Empty(t, runs)
}

func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "<", `\u003c`)
	return `"` + r.Replace(s) + `"`
}
