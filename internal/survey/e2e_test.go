package survey_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/app"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/notify/notifytest"
	"github.com/moments-cs/moments/internal/playbook"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
	"github.com/moments-cs/moments/internal/survey"
	"github.com/moments-cs/moments/internal/vocab"
)

// e2eMap surveys the contact after a kickoff and starts service recovery
// on a low CSAT answer, as the example map does on a detractor NPS.
const e2eMap = `version: 1
name: Survey end to end
stages: [{id: delivering, name: Delivering}]
teams: [{id: customer_success, name: Customer Success}]
moments:
  - id: kickoff
    name: Kickoff
    stage: delivering
    owner: customer_success
    metrics: {quality: {survey: csat_kickoff}}
    trigger: {category: customer_event, events: [Kickoff Held]}
    playbook:
      - {kind: survey, template: csat_kickoff, to: contact}
  - id: unhappy_customer
    name: Unhappy customer
    stage: delivering
    owner: customer_success
    trigger:
      category: customer_event
      events: [Survey Responded]
      when: event.properties.kind == "csat" && event.properties.score <= 2
    playbook:
      - {kind: task, title: Call the customer and agree a fix, due: 2d}
surveys:
  - id: csat_kickoff
    kind: csat
    question: How satisfied are you with your kickoff?
    follow_up: What should we do differently?
`

type e2e struct {
	url, admin, write string
	st                *store.Store
	app               *app.App
	mail              *notifytest.MailServer
}

// startE2E starts a whole installation on a real listener, with a real
// SMTP server, and applies mapYAML.
func startE2E(t *testing.T, st *store.Store, mapYAML string) *e2e {
	t.Helper()
	ctx := context.Background()
	mail := notifytest.Start(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	base := "http://" + ln.Addr().String()
	a, err := app.New(ctx, st, app.Options{
		Playbook: playbook.Config{SMTP: mail.Config(), PollInterval: 20 * time.Millisecond, MaxAttempts: 1},
		Survey:   survey.Config{PublicURL: base},
	})
	require.NoError(t, err)
	admin, _, err := a.Keys.Bootstrap(ctx)
	require.NoError(t, err)
	// The product's own servers send contacts' email addresses, which a
	// browser's write key may not set (docs/security.md): a server key.
	_, write, err := a.Keys.CreateServer(ctx, "test server")
	require.NoError(t, err)
	if mapYAML != "" {
		res, err := a.Journey.Apply(ctx, "map.yaml", []byte(mapYAML), "test")
		require.NoError(t, err)
		require.False(t, journey.HasErrors(res.Diagnostics), "%v", res.Diagnostics)
	}
	require.NoError(t, a.Start(ctx))
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 5 * time.Second}}
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		_ = a.Stop(context.Background())
	})
	return &e2e{url: base, admin: admin, write: write, st: st, app: a, mail: mail}
}

// track sends a batch through the tracking API with the write key.
func (e *e2e) track(t *testing.T, batch string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+"/v1/batch", strings.NewReader(batch))
	require.NoError(t, err)
	req.SetBasicAuth(e.write, "")
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode, string(body))
}

func (e *e2e) api(t *testing.T, method, path, body string, header ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+e.admin)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, raw
}

// page fetches an answer page as a person's browser would.
func page(t *testing.T, method, link string, form url.Values) (int, string) {
	t.Helper()
	var res *http.Response
	var err error
	if method == http.MethodPost {
		res, err = http.PostForm(link, form)
	} else {
		res, err = http.Get(link)
	}
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(raw)
}

const people = `{"batch":[
 {"type":"group","messageId":"g1","userId":"kim","groupId":"acme","traits":{"name":"Acme","segment":"enterprise"}},
 {"type":"identify","messageId":"i1","userId":"kim","traits":{"email":"kim@acme.example","first_name":"Kim","role":"sponsor"},"context":{"groupId":"acme"}},
 {"type":"group","messageId":"g2","userId":"lee","groupId":"acme"},
 {"type":"identify","messageId":"i2","userId":"lee","traits":{"email":"lee@acme.example","first_name":"Lee","role":"user"},"context":{"groupId":"acme"}}
]}`

var scoreLink = regexp.MustCompile(`(https?://[^\s"]+/s/([A-Za-z0-9_-]+))\?score=(\d+)`)

// links returns the answer page link and each score's link of an email.
func links(t *testing.T, text string) (string, map[string]string) {
	t.Helper()
	scores := map[string]string{}
	var base string
	for _, m := range scoreLink.FindAllStringSubmatch(text, -1) {
		scores[m[3]] = m[0]
		base = m[1]
	}
	require.NotEmpty(t, base, "no score links in:\n%s", text)
	return base, scores
}

func countSurveyEvents(t *testing.T, st *store.Store) []store.Event {
	t.Helper()
	evs, _, err := st.ListEvents(context.Background(), store.EventFilter{Name: vocab.EventSurveyResponded}, store.Page{Limit: 100})
	require.NoError(t, err)
	return evs
}

// TestSurveyEndToEnd follows a survey from the moment that sends it to the
// recovery its low answer starts: real SMTP, real HTTP, the tracking API.
func TestSurveyEndToEnd(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			e := startE2E(t, storetest.Open(t, d), e2eMap)
			ctx := context.Background()
			e.track(t, people)
			e.track(t, `{"batch":[{"type":"track","messageId":"k1","userId":"kim","event":"Kickoff Held","context":{"groupId":"acme"}}]}`)

			// The email: the question and a link per score, built from the public URL.
			msg := e.mail.Wait(t, 1, 10*time.Second)[0]
			require.Equal(t, "How satisfied are you with your kickoff?", msg.Subject)
			require.Equal(t, []string{"kim@acme.example"}, msg.To)
			link, scores := links(t, msg.Text())
			require.Len(t, scores, 5, "CSAT scores 1 to 5")
			require.True(t, strings.HasPrefix(link, e.url+"/s/"))
			require.Contains(t, msg.Parts["text/html"], `aria-label="Score 1"`)

			// Tampered and unknown links are refused with a friendly 404 and change nothing.
			token := link[strings.LastIndex(link, "/")+1:]
			last := "A"
			if strings.HasSuffix(link, "A") {
				last = "B"
			}
			tampered := link[:len(link)-1] + last
			for _, bad := range []string{tampered + "?score=1", e.url + "/s/short?score=1", e.url + "/s/" + strings.Repeat("A", len(token))} {
				code, body := page(t, http.MethodGet, bad, nil)
				require.Equal(t, http.StatusNotFound, code, bad)
				require.Contains(t, body, "This survey link is not valid")
			}
			code, _ := page(t, http.MethodPost, tampered, url.Values{"score": {"1"}})
			require.Equal(t, http.StatusNotFound, code)

			// One click on "1" records the score and opens the page for the comment.
			code, body := page(t, http.MethodGet, scores["1"], nil)
			require.Equal(t, http.StatusOK, code, body)
			require.Contains(t, body, "your score of 1 is recorded")
			require.Contains(t, body, `<label class="q" for="comment">What should we do differently?`)
			// A page for another survey cannot answer this one.
			code, _ = page(t, http.MethodPost, link, url.Values{"score": {"5"}, "survey": {"nps"}})
			require.Equal(t, http.StatusNotFound, code)
			// A score off the scale is refused, naming the problem.
			code, body = page(t, http.MethodPost, link, url.Values{"score": {"9"}})
			require.Equal(t, http.StatusBadRequest, code)
			require.Contains(t, body, "score must be a whole number from 1 to 5")

			// The answer: a later score does not change the first; the comment is kept.
			code, body = page(t, http.MethodPost, link, url.Values{"score": {"5"}, "comment": {"The kickoff started late"}, "survey": {"csat_kickoff"}})
			require.Equal(t, http.StatusOK, code, body)
			require.Contains(t, body, "Thank you")
			require.Contains(t, body, "Your first score (1) was kept")

			evs := countSurveyEvents(t, e.st)
			require.Len(t, evs, 1)
			var props map[string]any
			require.NoError(t, json.Unmarshal(evs[0].Properties, &props))
			require.Equal(t, "csat", props["kind"])
			require.EqualValues(t, 1, props["score"])
			require.Equal(t, "csat_kickoff", props["survey"])
			require.Equal(t, "kickoff", props["moment"])
			require.Equal(t, "The kickoff started late", props["comment"])
			require.Equal(t, "kim", evs[0].UserID)
			require.Equal(t, "acme", evs[0].AccountID)

			// The emotional score now counts the answer, and service recovery started.
			require.Eventually(t, func() bool {
				h, err := e.st.AccountHealth(ctx, "acme")
				return err == nil && h.Emotional != nil
			}, 10*time.Second, 20*time.Millisecond)
			h, err := e.st.AccountHealth(ctx, "acme")
			require.NoError(t, err)
			require.Less(t, *h.Emotional, 50.0, "a CSAT of 1 is a poor emotional score")
			var recovery store.Run
			require.Eventually(t, func() bool {
				runs, _, err := e.st.ListRuns(ctx, store.RunFilter{AccountID: "acme", MomentID: "unhappy_customer"}, store.Page{Limit: 10})
				if err != nil || len(runs) != 1 {
					return false
				}
				recovery = runs[0]
				return true
			}, 10*time.Second, 20*time.Millisecond)
			require.Equal(t, evs[0].ID, recovery.EventID)

			// Reused: the comment may be replaced, nothing else; no second event.
			code, _ = page(t, http.MethodPost, link, url.Values{"score": {"4"}, "comment": {"Late, but the plan is good"}})
			require.Equal(t, http.StatusOK, code)
			require.Len(t, countSurveyEvents(t, e.st), 1)
			sends, err := e.st.SurveySends(ctx, store.SurveySendFilter{AccountID: "acme"})
			require.NoError(t, err)
			require.Len(t, sends, 1)
			require.Equal(t, 1, *sends[0].Score)
			require.Equal(t, "Late, but the plan is good", sends[0].Comment)

			// The report: the moment's quality with its sample size, and the loop.
			code, raw := e.api(t, http.MethodGet, "/api/v1/reports/surveys", "")
			require.Equal(t, http.StatusOK, code, string(raw))
			var rep struct {
				Scores []struct {
					By, Key, Kind string
					N             int
					Value         float64
				}
				Response []struct {
					Moment         string
					Sent, Answered int
				}
				Loop []struct {
					RecoveryRun    string `json:"recovery_run"`
					RecoveryMoment string `json:"recovery_moment"`
				} `json:"closing_the_loop"`
			}
			require.NoError(t, json.Unmarshal(raw, &rep))
			require.Contains(t, rep.Scores, struct {
				By, Key, Kind string
				N             int
				Value         float64
			}{"moment", "kickoff", "csat", 1, 0})
			require.Equal(t, "kickoff", rep.Response[0].Moment)
			require.Equal(t, 1, rep.Response[0].Answered)
			require.Len(t, rep.Loop, 1)
			require.Equal(t, recovery.ID, rep.Loop[0].RecoveryRun)
			code, raw = e.api(t, http.MethodGet, "/api/v1/reports/surveys", "", "Accept", "text/csv")
			require.Equal(t, http.StatusOK, code)
			require.Contains(t, string(raw), "moment,kickoff,csat,1,0.0,0.0,79.3\n")
		})
	}
}
