package survey_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
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

const budgetMap = `version: 1
name: Budget
stages: [{id: delivering, name: Delivering}]
teams: [{id: cs, name: CS}]
moments:
  - {id: kickoff, name: Kickoff, stage: delivering, owner: cs, trigger: {category: csm}}
  - {id: onboarding, name: Onboarding, stage: delivering, owner: cs, trigger: {category: csm}}
  - {id: qbr, name: QBR, stage: delivering, owner: cs, trigger: {category: csm}}
surveys:
  - {id: nps, kind: nps, question: How likely are you to recommend us?}
  - {id: csat_kickoff, kind: csat, question: How was the kickoff?}
  - {id: ces_onboarding, kind: ces, question: How easy was onboarding?}
`

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const day = 24 * time.Hour

// clocked is an installation on a driven clock, not started: the tests
// send and sweep themselves.
type clocked struct {
	app  *app.App
	st   *store.Store
	clk  *clock
	mail *notifytest.MailServer
}

func newClocked(t *testing.T, st *store.Store, clk *clock, mail *notifytest.MailServer, mapYAML string) *clocked {
	t.Helper()
	ctx := context.Background()
	a, err := app.New(ctx, st, app.Options{Now: clk.now, Playbook: playbook.Config{SMTP: mail.Config()},
		Survey: survey.Config{PublicURL: "https://moments.example.com"}})
	require.NoError(t, err)
	if mapYAML != "" {
		res, err := a.Journey.Apply(ctx, "map.yaml", []byte(mapYAML), "test")
		require.NoError(t, err)
		require.False(t, journey.HasErrors(res.Diagnostics), "%v", res.Diagnostics)
	}
	return &clocked{app: a, st: st, clk: clk, mail: mail}
}

func (c *clocked) people(t *testing.T, names ...string) {
	t.Helper()
	now := c.clk.now()
	msgs := []store.Message{{Type: "group", MessageID: "g-acme", UserID: names[0], GroupID: "acme", Timestamp: now,
		ReceivedAt: now, Traits: map[string]any{"name": "Acme"}}}
	for _, n := range names {
		msgs = append(msgs, store.Message{Type: "identify", MessageID: "i-" + n, UserID: n, GroupID: "acme", Timestamp: now,
			ReceivedAt: now, Traits: map[string]any{"email": n + "@acme.example", "first_name": strings.ToUpper(n[:1]) + n[1:]}})
	}
	_, err := c.st.Ingest(context.Background(), "wk", msgs)
	require.NoError(t, err)
}

// send surveys one contact by hand and returns its record.
func (c *clocked) send(t *testing.T, surveyID, contact, moment string) store.SurveySend {
	t.Helper()
	out, err := c.app.Surveys.Send(context.Background(), survey.Request{Survey: surveyID, AccountID: "acme", ContactID: contact, MomentID: moment})
	require.NoError(t, err)
	require.Len(t, out, 1)
	return out[0]
}

// lastToken is the token of the newest email's links.
func (c *clocked) lastToken(t *testing.T) string {
	t.Helper()
	msgs := c.mail.Messages()
	require.NotEmpty(t, msgs)
	m := scoreLink.FindStringSubmatch(msgs[len(msgs)-1].Text())
	require.NotNil(t, m)
	return m[2]
}

// TestFatigueBudget walks a month of surveys at one account: once per
// person per 30 days across moments, NPS replacing an unanswered CSAT,
// three per account per 30 days, and the budget kept across a restart.
func TestFatigueBudget(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			cfg := storetest.Config(t, d)
			st, err := store.Open(ctx, cfg)
			require.NoError(t, err)
			clk := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
			mail := notifytest.Start(t)
			c := newClocked(t, st, clk, mail, budgetMap)
			c.people(t, "kim", "lee", "max", "ana")

			first := c.send(t, "csat_kickoff", "kim", "kickoff")
			require.Equal(t, store.SurveySent, first.Status)
			csatToken := c.lastToken(t)

			clk.add(12 * day)
			x := c.send(t, "ces_onboarding", "kim", "onboarding")
			require.Equal(t, store.SurveySkipped, x.Status)
			require.Equal(t, "fatigue: Kim was surveyed 12 days ago (csat_kickoff); at most one survey per person every 30d", x.Reason)

			// A relationship NPS outranks the unanswered CSAT: it goes, and
			// the CSAT's link now says it was replaced.
			x = c.send(t, "nps", "kim", "qbr")
			require.Equal(t, store.SurveySent, x.Status)
			_, err = c.app.Surveys.Open(ctx, csatToken, nil)
			require.ErrorIs(t, err, survey.ErrExpiredLink)
			require.ErrorContains(t, err, "replaced")

			clk.add(day)
			require.Equal(t, store.SurveySent, c.send(t, "csat_kickoff", "lee", "kickoff").Status)
			require.Equal(t, store.SurveySent, c.send(t, "csat_kickoff", "max", "kickoff").Status)
			x = c.send(t, "csat_kickoff", "ana", "kickoff")
			require.Equal(t, store.SurveySkipped, x.Status)
			require.Equal(t, "fatigue: Acme's people were surveyed 3 times in the last 30d; the limit is 3", x.Reason)
			require.Len(t, mail.Messages(), 4, "four emails: kim's CSAT and NPS, lee's and max's CSAT")

			// A restart forgets nothing.
			require.NoError(t, st.Close())
			st, err = store.Open(ctx, cfg)
			require.NoError(t, err)
			t.Cleanup(func() { st.Close() })
			c = newClocked(t, st, clk, mail, "")
			clk.add(day)
			x = c.send(t, "ces_onboarding", "kim", "onboarding")
			require.Equal(t, store.SurveySkipped, x.Status)
			require.Contains(t, x.Reason, "fatigue: Kim was surveyed 2 days ago (nps)")

			// A month later the budget is free again.
			clk.add(30 * day)
			require.Equal(t, store.SurveySent, c.send(t, "csat_kickoff", "ana", "kickoff").Status)
		})
	}
}

// TestQuietPeriod holds surveys back while the account has an open
// escalation, and lets them go once its task is done.
func TestQuietPeriod(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.Open(t, store.SQLite)
	clk := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	c := newClocked(t, st, clk, notifytest.Start(t), budgetMap)
	c.people(t, "kim")
	task := store.Task{ID: "t1", RunID: "r1", AccountID: "acme", MomentID: "kickoff", Title: "Fix the import", Team: "cs", Assignee: "cs", CreatedAt: clk.now()}
	_, err := st.InsertTaskTx(ctx, st.DB(), task)
	require.NoError(t, err)
	_, err = st.InsertEscalationTx(ctx, st.DB(), store.Escalation{ID: "e1", Key: "k1", TaskID: "t1", RunID: "r1", AccountID: "acme",
		MomentID: "kickoff", Level: 1, Severity: "high", Reason: "overdue", CreatedAt: clk.now()})
	require.NoError(t, err)
	x := c.send(t, "nps", "kim", "")
	require.Equal(t, store.SurveySkipped, x.Status)
	require.Equal(t, "quiet period: Acme has an open escalation; no survey until it is resolved", x.Reason)
	done := vocab.TaskDone
	_, err = st.UpdateTask(ctx, "t1", store.TaskChange{Status: &done}, clk.now())
	require.NoError(t, err)
	require.Equal(t, store.SurveySent, c.send(t, "nps", "kim", "").Status)
}

// TestExpiredLink refuses a link after its expiry with 410 and no change.
func TestExpiredLink(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.Open(t, store.SQLite)
	clk := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	c := newClocked(t, st, clk, notifytest.Start(t), budgetMap)
	c.people(t, "kim")
	x := c.send(t, "nps", "kim", "")
	token := c.lastToken(t)
	srv := httptest.NewServer(c.app.Handler())
	t.Cleanup(srv.Close)

	clk.add(30*day - time.Minute)
	code, _ := page(t, http.MethodGet, srv.URL+"/s/"+token, nil)
	require.Equal(t, http.StatusOK, code, "still open a minute before it expires")
	clk.add(time.Minute)
	code, body := page(t, http.MethodGet, srv.URL+"/s/"+token+"?score=10", nil)
	require.Equal(t, http.StatusGone, code)
	require.Contains(t, body, "This survey has closed")
	code, _ = page(t, http.MethodPost, srv.URL+"/s/"+token, map[string][]string{"score": {"10"}})
	require.Equal(t, http.StatusGone, code)
	got, err := st.SurveySend(ctx, x.ID)
	require.NoError(t, err)
	require.Nil(t, got.Score)
	require.Empty(t, countSurveyEvents(t, st))
}

// TestReminderGoesOnce sends one reminder after three days to those who
// have not answered, never a second, and none to those who answered.
func TestReminderGoesOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.Open(t, store.SQLite)
	clk := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	mail := notifytest.Start(t)
	c := newClocked(t, st, clk, mail, budgetMap)
	c.people(t, "kim", "lee")
	c.send(t, "nps", "kim", "")
	c.send(t, "nps", "lee", "")
	leeToken := c.lastToken(t)
	one := 10
	_, err := c.app.Surveys.Submit(ctx, leeToken, survey.Form{Score: &one})
	require.NoError(t, err)

	clk.add(2 * day)
	require.NoError(t, c.app.Surveys.Sweep(ctx))
	require.Len(t, mail.Messages(), 2, "no reminder before three days")
	clk.add(day + time.Minute)
	require.NoError(t, c.app.Surveys.Sweep(ctx))
	msgs := mail.Messages()
	require.Len(t, msgs, 3)
	require.Equal(t, "Reminder: How likely are you to recommend us?", msgs[2].Subject)
	require.Equal(t, []string{"kim@acme.example"}, msgs[2].To)
	clk.add(3 * day)
	require.NoError(t, c.app.Surveys.Sweep(ctx))
	require.Len(t, mail.Messages(), 3, "the reminder goes once")

	// The reminder's link answers the same survey; the first link still works too.
	reminder := c.lastToken(t)
	p, err := c.app.Surveys.Open(ctx, reminder, &one)
	require.NoError(t, err)
	require.Equal(t, 10, *p.Send.Score)
}

// TestOneClickScoreBecomesAnEvent ingests a one-click score whose page was
// left without a comment once the comment window is over.
func TestOneClickScoreBecomesAnEvent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.Open(t, store.SQLite)
	clk := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	c := newClocked(t, st, clk, notifytest.Start(t), budgetMap)
	c.people(t, "kim")
	c.send(t, "nps", "kim", "")
	seven := 7
	_, err := c.app.Surveys.Open(ctx, c.lastToken(t), &seven)
	require.NoError(t, err)
	clk.add(10 * time.Minute)
	require.NoError(t, c.app.Surveys.Sweep(ctx))
	require.Empty(t, countSurveyEvents(t, st), "the comment may still come")
	clk.add(6 * time.Minute)
	require.NoError(t, c.app.Surveys.Sweep(ctx))
	require.Len(t, countSurveyEvents(t, st), 1)
	require.NoError(t, c.app.Surveys.Sweep(ctx))
	require.Len(t, countSurveyEvents(t, st), 1, "once")
}

// TestAnswerWhileTheEmailIsStillGoingOut clicks a score in the email
// before the mailer has returned (the send is still pending): the answer
// counts, and it stays once the send is recorded as sent. A reader this
// fast got "This survey link is not valid" before (CI caught it in
// TestSurveyEndToEnd under load).
func TestAnswerWhileTheEmailIsStillGoingOut(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.Open(t, store.SQLite)
	mail := notifytest.Start(t)
	c := newClocked(t, st, &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}, mail, budgetMap)
	c.people(t, "kim")
	clicked := make(chan error, 1)
	mail.Received = func(m notifytest.Message) {
		tok := scoreLink.FindStringSubmatch(m.Text())
		if tok == nil {
			clicked <- errors.New("no score link in the email")
			return
		}
		nine := 9
		_, err := c.app.Surveys.Open(ctx, tok[2], &nine)
		clicked <- err
	}
	x := c.send(t, "nps", "kim", "")
	require.NoError(t, <-clicked)
	got, err := st.SurveySend(ctx, x.ID)
	require.NoError(t, err)
	require.Equal(t, store.SurveySent, got.Status)
	require.NotNil(t, got.Score)
	require.Equal(t, 9, *got.Score)
}

// TestUnknownSurvey names the survey that is not in the map.
func TestUnknownSurvey(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t, store.SQLite)
	c := newClocked(t, st, &clock{t: time.Now().UTC()}, notifytest.Start(t), budgetMap)
	c.people(t, "kim")
	_, err := c.app.Surveys.Send(context.Background(), survey.Request{Survey: "npss", AccountID: "acme", ContactID: "kim"})
	require.True(t, errors.Is(err, survey.ErrUnknownSurvey), "%v", err)
}

// TestBudgetHoldsUnderConcurrentSends sends to six people of one account
// at once: the account's limit of three holds, because each decision is
// taken in one transaction with recording the send.
func TestBudgetHoldsUnderConcurrentSends(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			clk := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
			c := newClocked(t, storetest.Open(t, d), clk, notifytest.Start(t), budgetMap)
			names := []string{"kim", "lee", "max", "ana", "bo", "cy"}
			c.people(t, names...)
			var wg sync.WaitGroup
			statuses := make(chan string, len(names))
			for _, n := range names {
				wg.Add(1)
				go func() {
					defer wg.Done()
					out, err := c.app.Surveys.Send(context.Background(), survey.Request{Survey: "nps", AccountID: "acme", ContactID: n})
					if err != nil || len(out) != 1 {
						statuses <- "error"
						return
					}
					statuses <- out[0].Status
				}()
			}
			wg.Wait()
			close(statuses)
			count := map[string]int{}
			for s := range statuses {
				count[s]++
			}
			require.Equal(t, map[string]int{store.SurveySent: 3, store.SurveySkipped: 3}, count)
		})
	}
}
