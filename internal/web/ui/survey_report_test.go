package ui_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/vocab"
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

// TestUIAccountSurveyResponse shows the account's survey response and
// the non-response line in the emotional score's explanation.
func TestUIAccountSurveyResponse(t *testing.T) {
	t.Parallel()
	f := setupUI(t, 2)
	ctx := context.Background()
	seven := 7
	for i, answered := range []bool{true, false, false} {
		at := uiNow.AddDate(0, 0, -10*(3-i))
		x := store.SurveySend{ID: fmt.Sprint("s", i), Key: fmt.Sprint("k", i), TokenHash: []byte{byte(i + 1)}, SurveyID: "nps",
			Kind: "nps", AccountID: "acct_000", ContactID: "acct_000-u0", CreatedAt: at}
		_, _, err := f.store.ReserveSurveySend(ctx, x, at, at, func(store.SurveyHistory) store.SurveyDecision { return store.SurveyDecision{} })
		require.NoError(t, err)
		require.NoError(t, f.store.FinishSurveySend(ctx, x.ID, store.SurveySent, "", at))
		if answered {
			_, err = f.store.RecordSurveyAnswer(ctx, x.ID, &seven, "", at.Add(time.Hour))
			require.NoError(t, err)
		}
	}
	c := browserClient(t)
	f.signIn(t, c, adminEmail)
	status, body := f.page(t, c, "/accounts/acct_000")
	require.Equal(t, http.StatusOK, status, snippet(body))
	require.Contains(t, body, "surveys answered (1 of 3, last 12 months)")
	require.Contains(t, body, "2 of the last 3 surveys unanswered")
}

// TestUIJourneyQuality puts each moment's quality score on its swimlane
// card: the answers of its quality survey, from any source.
func TestUIJourneyQuality(t *testing.T) {
	t.Parallel()
	f := setupUI(t, 1)
	ctx := context.Background()
	var msgs []store.Message
	for i, score := range []int{10, 9, 9, 10, 8, 7, 9, 10, 3, 9, 10, 9} {
		at := uiNow.Add(-time.Duration(i+1) * 24 * time.Hour)
		msgs = append(msgs, store.Message{Type: "track", MessageID: fmt.Sprint("nps-", i), UserID: "acct_000-u0", GroupID: "acct_000",
			Name: vocab.EventSurveyResponded, Timestamp: at, ReceivedAt: at,
			Properties: []byte(fmt.Sprintf(`{"kind":"nps","score":%d,"survey":"nps","moment":"relationship_nps"}`, score))})
	}
	_, err := f.store.Ingest(ctx, "wk", msgs)
	require.NoError(t, err)
	c := browserClient(t)
	f.signIn(t, c, adminEmail)
	status, body := f.page(t, c, "/journey")
	require.Equal(t, http.StatusOK, status, snippet(body))
	// 9 promoters, 2 passives, 1 detractor of 12: NPS 67.
	require.Contains(t, body, "quality NPS 67 · good")
	require.Contains(t, body, "Quality over the last 90 days: NPS 67 from 12 answers")
}
