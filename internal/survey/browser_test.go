package survey_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

func chromium(t *testing.T) string {
	t.Helper()
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
	t.Skip("Chromium is not installed, so the browser test cannot run: `apt-get install -y chromium` (CI installs it)")
	return ""
}

// TestAnswerByKeyboardOnPhone sends an NPS by hand through the API and
// answers it in headless Chromium on a 375-pixel-wide screen with the
// keyboard only: Tab to the scale, arrows to the score, Tab to the
// comment, Enter to send.
func TestAnswerByKeyboardOnPhone(t *testing.T) {
	t.Parallel()
	path := chromium(t)
	e := startE2E(t, storetest.Open(t, store.SQLite), budgetMap)
	e.track(t, people)
	code, raw := e.api(t, http.MethodPost, "/api/v1/surveys/send", `{"survey":"nps","account":"acme","contact":"lee","moment":"qbr"}`)
	require.Equal(t, http.StatusOK, code, string(raw))
	require.Contains(t, string(raw), `"status":"sent"`)
	code, raw = e.api(t, http.MethodPost, "/api/v1/surveys/send", `{"survey":"nps","account":"acme"}`)
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, string(raw), `"field":"to"`)
	link, _ := links(t, e.mail.Wait(t, 1, 10*time.Second)[0].Text())

	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromedp.ExecPath(path), chromedp.Headless,
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(375, 812))
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	defer cancelT()

	// Tab reaches the scale; Space chooses 0; eight arrows move to 8;
	// Tab to the comment, type, Tab to the button, Enter.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.EmulateViewport(375, 812),
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(`#question`)),
	))
	fits, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.KeyEvent(kb.Tab),
		chromedp.KeyEvent(" "),
		chromedp.KeyEvent(strings.Repeat(kb.ArrowRight, 8)),
		chromedp.KeyEvent(kb.Tab),
		chromedp.KeyEvent("Good, but exports are slow"),
		chromedp.KeyEvent(kb.Tab),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.Search(`//h1[text()="Thank you"]`)),
	))
	thanks, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`main`)))
	require.NoError(t, err)
	require.True(t, fits, "the page fits a 375-pixel-wide screen without scrolling sideways")
	require.Contains(t, thanks, "Your answer is recorded, with your comment")
	sends, err := e.st.SurveySends(context.Background(), store.SurveySendFilter{AccountID: "acme"})
	require.NoError(t, err)
	require.Len(t, sends, 1)
	require.Equal(t, 8, *sends[0].Score)
	require.Equal(t, "Good, but exports are slow", sends[0].Comment)
	require.Equal(t, "qbr", sends[0].MomentID)
}
