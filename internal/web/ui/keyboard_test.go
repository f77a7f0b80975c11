package ui_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/vocab"
)

// focusState is what the test reads of the focused element after each
// key press.
type focusState struct {
	// Matches is whether the focused element matches the wanted selector.
	Matches bool `json:"matches"`
	// Desc names the focused element for messages.
	Desc string `json:"desc"`
	// Visible is whether it shows a focus indicator: an outline, or (for
	// a chart's link) a stroke round its shape.
	Visible bool `json:"visible"`
}

// focusProbe is evaluated after each Tab: does the focused element match
// the selector, and can a sighted keyboard user see where the focus is?
const focusProbe = `(() => {
  const el = document.activeElement;
  if (!el || el === document.body) return {matches: false, desc: "body", visible: true};
  const cs = getComputedStyle(el);
  const outline = cs.outlineStyle !== "none" && parseFloat(cs.outlineWidth) > 0;
  const svg = el.closest("svg") !== null;
  return {matches: el.matches(%s), desc: el.outerHTML.slice(0, 160), visible: outline || svg};
})()`

// tabTo presses Tab until the element sel has the focus (at most limit
// presses), and checks that every element the focus passes shows it.
func tabTo(t *testing.T, ctx context.Context, sel string, limit int) {
	t.Helper()
	for range limit {
		require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent(kb.Tab)))
		st, err := chromedp.Run(ctx, chromedp.Evaluate[focusState](fmt.Sprintf(focusProbe, jsString(sel))))
		require.NoError(t, err)
		require.True(t, st.Visible, "the focus is not visible on %s", st.Desc)
		if st.Matches {
			return
		}
	}
	t.Fatalf("%s cannot be reached with Tab within %d presses", sel, limit)
}

// press sends one key (Enter, Space, an arrow) to the focused element.
func press(t *testing.T, ctx context.Context, key string) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent(key)))
}

// TestBrowserKeyboardOnly is a CSM's morning with the keyboard alone —
// Tab, Enter, Space and typing; no mouse click and no script clicking for
// them: complete a task, snooze another, give a third to a colleague,
// open an account from the cockpit and start a moment on it. Every
// element the focus passes must show it.
func TestBrowserKeyboardOnly(t *testing.T) {
	t.Parallel()
	f := setupUI(t, 24, true)
	ctx := newBrowser(t)

	// The playbooks of the seeded history give the team tasks on the
	// CSM's accounts (every fourth account is theirs).
	require.Eventually(t, func() bool {
		n := 0
		for i := 0; i < len(f.accounts); i += 4 {
			ts, _, err := f.store.ListTasks(context.Background(), store.TaskFilter{AccountID: f.accounts[i], Status: vocab.TaskOpen}, f.now, store.Page{Limit: 10})
			require.NoError(t, err)
			n += len(ts)
		}
		return n >= 3
	}, 60*time.Second, 200*time.Millisecond, "the playbooks create three tasks on the CSM's accounts")

	// Sign in by typing and pressing Enter.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(f.url+"/"), chromedp.WaitVisible(css(`#email`))))
	tabTo(t, ctx, `#email`, 5)
	require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent(csmEmail)))
	tabTo(t, ctx, `#password`, 3)
	require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent(f.passwords[csmEmail]+kb.Enter), chromedp.WaitVisible(css(`nav.side`))))

	// Skip to content is the first stop, and Enter follows it.
	tabTo(t, ctx, `a.skip`, 1)
	press(t, ctx, kb.Enter)

	// The first three tasks of the cockpit the CSM may act on (read from
	// the page; nothing is clicked).
	ids, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('#tasks-h ~ .table-wrap tr[id^="task-"]')].filter(r => r.querySelector('form[action$="/complete"]')).map(r => r.id.slice(5)).slice(0, 3)`))
	require.NoError(t, err)
	require.Len(t, ids, 3, "three tasks to act on")
	done, snoozed, given := ids[0], ids[1], ids[2]
	row := func(id string) string { return `#task-` + id }

	// Complete: Tab to the task's Done button, Enter.
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(css(row(done)))))
	tabTo(t, ctx, row(done)+` form[action$="/complete"] button`, 200)
	press(t, ctx, kb.Enter)
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(css(row(done)+`.is-done`))))
	// The focus stays in the updated row, not at the top of the page.
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.activeElement.closest(`+jsString(row(done))+`) !== null`,
		chromedp.WithPollingTimeout(10*time.Second)))
	require.NoError(t, err, "the focus stays in the row")

	// Snooze for 3 days: Tab to the length, ArrowDown, Tab to Snooze, Space.
	tabTo(t, ctx, row(snoozed)+` select[name="for"]`, 200)
	press(t, ctx, kb.ArrowDown)
	tabTo(t, ctx, row(snoozed)+` form[action$="/snooze"] button`, 2)
	require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent(" ")))
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(css(row(snoozed)+` .b-snoozed`))))

	// Reassign to Dana: Tab to the person, type the name, Tab, Enter.
	tabTo(t, ctx, row(given)+` select[name="to"]`, 200)
	require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent("Dana")))
	tabTo(t, ctx, row(given)+` form[action$="/reassign"] button`, 2)
	press(t, ctx, kb.Enter)
	require.Eventually(t, func() bool {
		got, err := f.store.Task(context.Background(), given)
		return err == nil && got.Assignee == otherEmail
	}, 10*time.Second, 50*time.Millisecond, "the task is Dana's")
	// The live region still says "Task snoozed." until the reassignment's
	// answer arrives: wait for its own announcement.
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`(() => { const l = document.querySelector('#live'); return !!l && !l.hidden && l.textContent.includes('reassigned'); })()`,
		chromedp.WithPollingTimeout(10*time.Second)))
	require.NoError(t, err, "the live region announces the reassignment, it says %q", textOf(t, ctx, `#live`))

	got, err := f.store.Task(context.Background(), done)
	require.NoError(t, err)
	require.Equal(t, vocab.TaskDone, got.Status)
	got, err = f.store.Task(context.Background(), snoozed)
	require.NoError(t, err)
	require.NotNil(t, got.SnoozedUntil)
	require.Equal(t, f.now.Add(72*time.Hour), got.SnoozedUntil.UTC(), "snoozed for the 3 days chosen")

	// Open the account of the completed task from its link, with Enter.
	link := row(done) + ` a[href^="/accounts/"]`
	href, err := chromedp.Run(ctx, chromedp.AttributeValue(css(link), "href"))
	require.NoError(t, err)
	account := strings.TrimPrefix(href.Value, "/accounts/")
	tabTo(t, ctx, link, 200)
	press(t, ctx, kb.Enter)
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(css(`#health-h`))))
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(loc, href.Value), loc)

	// Start a moment: Tab to its Start button, Enter.
	tabTo(t, ctx, `form[action="/accounts/`+account+`/moments/proposal_sent/start"] button`, 300)
	press(t, ctx, kb.Enter)
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(css(`#live:not([hidden])`))))
	require.Contains(t, textOf(t, ctx, `#live`), "Moment started")
	runs, _, err := f.store.ListRuns(context.Background(), store.RunFilter{AccountID: account, MomentID: "proposal_sent"}, store.Page{})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, csmEmail, runs[0].StartedBy)
}
