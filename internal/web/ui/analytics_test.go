package ui_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/vocab"
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

// TestJourneyCardConformance puts each moment's ideal process against the
// actual one on its journey-map card, linked to the moment's page.
func TestJourneyCardConformance(t *testing.T) {
	t.Parallel()
	f := webtest.Setup(t, "sqlite")
	require.Equal(t, http.StatusOK, f.PutMap(t, webtest.ExampleMap(t)))
	ctx, st := context.Background(), f.Store
	// One contract signed ten days ago: the hand-over task done two hours
	// later (within its business day); the introduction, billing and the
	// kickoff not done, all past their targets. Each of the four steps is
	// due once: done 1, 0, 0, 0 — a mean of 25 % done and 25 % on time.
	occurred := time.Now().UTC().Add(-10 * 24 * time.Hour)
	_, ok, err := st.InsertRunTx(ctx, st.DB(), store.Run{ID: "r1", AccountID: "acme", MomentID: "contract_signed", Occurrence: "r1",
		MapVersion: 1, Category: "lifecycle", Status: store.RunRunning, CreatedAt: occurred, OccurredAt: occurred})
	require.NoError(t, err)
	require.True(t, ok)
	_, err = st.InsertStepTx(ctx, st.DB(), store.RunStep{RunID: "r1", Index: 0, AccountID: "acme", Status: store.StepDue, CreatedAt: occurred})
	require.NoError(t, err)
	lease := store.StepLease{RunID: "r1", Index: 0, Gen: 1}
	_, ok, err = st.ClaimStep(ctx, lease, occurred, occurred.Add(time.Minute))
	require.NoError(t, err)
	require.True(t, ok)
	_, err = st.FinishStepTx(ctx, st.DB(), lease, store.StepResult{Status: store.StepDone, Key: "handoff", Kind: "task"}, occurred)
	require.NoError(t, err)
	_, err = st.InsertTaskTx(ctx, st.DB(), store.Task{ID: "t1", RunID: "r1", AccountID: "acme", MomentID: "contract_signed",
		Title: "Hand over", CreatedAt: occurred})
	require.NoError(t, err)
	done := vocab.TaskDone
	_, err = st.UpdateTask(ctx, "t1", store.TaskChange{Status: &done}, occurred.Add(2*time.Hour))
	require.NoError(t, err)

	req, err := http.NewRequest("GET", f.URL+"/journey", nil)
	require.NoError(t, err)
	res, err := http.DefaultClient.Do(webtest.WithSession(req))
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	body := string(raw)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, body, `href="/journey/moments/contract_signed#ideal"`)
	require.Contains(t, body, "ideal steps done 25% · on time 25% · slowest: Sales hands over the account notes and promises made (Sales)")
	require.Contains(t, body, `<span class="badge b-poor">poor</span>`)
}
