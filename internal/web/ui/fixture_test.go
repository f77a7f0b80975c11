package ui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/app"
	"github.com/moments-cs/moments/internal/auth"
	"github.com/moments-cs/moments/internal/health/planted"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
	"github.com/moments-cs/moments/internal/survey"
)

// uiFixture is a running installation for UI tests: the whole app on a
// fresh store, the example journey map applied, people of every role, and
// (when seeded) demo-sized data ingested through store.Ingest so that the
// real health engine computes everything the pages show.
type uiFixture struct {
	url   string
	app   *app.App
	store *store.Store
	now   time.Time
	// passwords by email.
	passwords map[string]string
	// accounts are the seeded account ids; csmAccount is owned by
	// csm@example.com, otherAccount by another CSM.
	accounts     []string
	csmAccount   string
	otherAccount string
}

// People of the fixture, one per role plus a second CSM.
const (
	adminEmail  = "admin@example.com"
	opsEmail    = "ops@example.com"
	csmEmail    = "csm@example.com"
	otherEmail  = "csm2@example.com"
	viewerEmail = "viewer@example.com"
)

// uiNow is the fixture's clock: a fixed day, so that data and pages are
// the same on every run.
var uiNow = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func setupUI(t testing.TB, accounts int, withPlaybooks ...bool) *uiFixture {
	t.Helper()
	ctx := context.Background()
	st := storetest.Open(t, store.SQLite)
	now := uiNow
	var log *slog.Logger
	if os.Getenv("MOMENTS_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	a, err := app.New(ctx, st, app.Options{Now: func() time.Time { return now }, Logger: log})
	require.NoError(t, err)
	// The playbook engine turns started moments into runs and tasks.
	// Opt-in: a year of events starts many runs, which the engine then
	// works through for a while.
	if len(withPlaybooks) > 0 && withPlaybooks[0] {
		pb := a.Playbooks
		require.NoError(t, pb.Start(ctx))
		t.Cleanup(func() {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = pb.Stop(sctx)
		})
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	f := &uiFixture{url: srv.URL, app: a, store: st, now: now, passwords: map[string]string{}}
	for _, p := range []struct {
		email, name string
		role        auth.Role
	}{
		{adminEmail, "Ada Admin", auth.RoleAdmin}, {opsEmail, "Otto Ops", auth.RoleOps}, {csmEmail, "Casey CSM", auth.RoleCSM},
		{otherEmail, "Dana CSM", auth.RoleCSM}, {viewerEmail, "Vic Viewer", auth.RoleViewer},
	} {
		_, pw, err := a.People.Add(ctx, p.email, p.name, p.role, "")
		require.NoError(t, err)
		f.passwords[p.email] = pw
	}
	example, err := os.ReadFile("../../../examples/b2b-saas.yaml")
	require.NoError(t, err)
	res, err := a.Journey.Apply(ctx, "examples/b2b-saas.yaml", example, "test")
	require.NoError(t, err)
	require.True(t, res.Changed, "%v", res.Diagnostics)
	if accounts > 0 {
		f.seed(t, accounts)
	}
	return f
}

// seed ingests accounts, two contacts each and a year of usage, surveys
// and tickets, in batches through store.Ingest, as the tracking API would.
func (f *uiFixture) seed(t testing.TB, n int) {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	owners := []string{csmEmail, otherEmail, "csm3@example.com", "csm4@example.com"}
	segments := []string{"smb", "mid_market", "enterprise"}
	stages := []string{"onboarding", "adoption", "renewal"}
	features := []string{"Report Created", "Dashboard Shared", "Export Run", "Integration Connected", "Page Viewed", "Query Run"}
	var batch []store.Message
	seq := 0
	flush := func() {
		if len(batch) == 0 {
			return
		}
		_, err := f.store.Ingest(ctx, "key_test", batch)
		require.NoError(t, err)
		batch = batch[:0]
	}
	add := func(m store.Message) {
		seq++
		m.MessageID = fmt.Sprintf("msg-%07d", seq)
		if m.ReceivedAt.IsZero() {
			m.ReceivedAt = m.Timestamp
		}
		batch = append(batch, m)
		if len(batch) >= 500 {
			flush()
		}
	}
	start := f.now.AddDate(-1, 0, 0)
	for i := range n {
		id := fmt.Sprintf("acct_%03d", i)
		f.accounts = append(f.accounts, id)
		owner := owners[i%len(owners)]
		if i == 0 {
			f.csmAccount = id
		}
		if i == 1 {
			f.otherAccount = id
		}
		// Most customers signed before the year began; a third during it.
		contract := start.AddDate(0, 0, rng.IntN(300)-200)
		renewal := f.now.AddDate(0, 0, rng.IntN(400)-30)
		arr := float64(5000 + rng.IntN(40)*2500)
		traits := map[string]any{
			"name":  fmt.Sprintf("Customer %03d %s", i, []string{"Labs", "Group", "Systems", "Health", "Retail"}[i%5]),
			"owner": owner, "segment": segments[i%3], "plan": []string{"team", "business", "enterprise"}[i%3],
			"arr": arr, "renewal_date": renewal.Format(time.DateOnly), "lifecycle_stage": stages[rng.IntN(3)],
			"contract_start": contract.Format(time.DateOnly), "seats": 10 + rng.IntN(40),
		}
		add(store.Message{Type: "group", GroupID: id, UserID: id + "-u0", Traits: traits, Timestamp: contract})
		for c, role := range []string{"sponsor", "champion"} {
			add(store.Message{Type: "identify", UserID: fmt.Sprintf("%s-u%d", id, c), GroupID: id,
				Traits: map[string]any{"email": fmt.Sprintf("p%d@%s.example", c, id), "role": role}, Timestamp: contract})
		}
		// A year of usage: busy accounts use the product most days, quiet
		// ones rarely, and some fade out in the last months.
		activity := []float64{0.6, 0.3, 0.1}[i%3]
		fades := i%7 == 3
		for d := later(contract, start); d.Before(f.now); d = d.Add(24 * time.Hour) {
			p := activity
			if fades && f.now.Sub(d) < 60*24*time.Hour {
				p /= 10
			}
			if rng.Float64() > p {
				continue
			}
			name := features[rng.IntN(len(features))]
			props, _ := json.Marshal(map[string]any{"feature": name})
			add(store.Message{Type: "track", Name: name, UserID: fmt.Sprintf("%s-u%d", id, rng.IntN(2)), GroupID: id,
				Properties: props, Timestamp: d.Add(time.Duration(rng.IntN(36000)) * time.Second)})
		}
		for s := 0; s < 2; s++ {
			score := rng.IntN(11)
			if i%4 == 1 {
				score = rng.IntN(5)
			}
			props, _ := json.Marshal(map[string]any{"kind": "nps", "score": score})
			add(store.Message{Type: "track", Name: "Survey Responded", UserID: id + "-u0", GroupID: id, Properties: props,
				Timestamp: f.now.Add(-time.Duration(10+rng.IntN(80)) * 24 * time.Hour)})
		}
	}
	flush()
	// The pages show health and tasks, which the ingest stages derive just
	// after the acknowledgement.
	require.NoError(t, f.store.WaitIdle(ctx))
}

// sendSurvey records the example map's NPS survey as sent to the first
// seeded account's sponsor, as the survey service does once its email has
// gone, and returns the link's token, so that the public answer page
// (/s/{token}) shows a real survey.
func (f *uiFixture) sendSurvey(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	token, hash, err := survey.NewToken()
	require.NoError(t, err)
	at := f.now.Add(-time.Hour)
	expires := f.now.AddDate(0, 0, 30)
	x := store.SurveySend{ID: "send-ui-nps", Key: "ui-nps", TokenHash: hash, SurveyID: "nps", Kind: "nps",
		AccountID: f.accounts[0], ContactID: f.accounts[0] + "-u0", Email: "p0@" + f.accounts[0] + ".example",
		Role: "sponsor", CreatedAt: at, ExpiresAt: &expires}
	_, _, err = f.store.ReserveSurveySend(ctx, x, at, at, func(store.SurveyHistory) store.SurveyDecision { return store.SurveyDecision{} })
	require.NoError(t, err)
	require.NoError(t, f.store.FinishSurveySend(ctx, x.ID, store.SurveySent, "", at))
	return token
}

// plant ingests a planted customer base (internal/health/planted) of n
// accounts over days days ending at the fixture's clock: accounts that
// churn and accounts that stay, with the signals that go with churn, so
// that the drivers and backtest reports have outcomes to weigh.
func (f *uiFixture) plant(t testing.TB, n, days int) {
	t.Helper()
	cfg := planted.DefaultConfig(9)
	cfg.Accounts, cfg.Days, cfg.End = n, days, f.now
	msgs := planted.Messages(planted.Generate(cfg), f.now)
	for i := 0; i < len(msgs); i += 500 {
		_, err := f.store.Ingest(context.Background(), "key_test", msgs[i:min(i+500, len(msgs))])
		require.NoError(t, err)
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// browserClient is a cookie-keeping HTTP client that does not follow
// redirects, so tests see them.
func browserClient(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn signs email in with c and returns the session's CSRF token.
func (f *uiFixture) signIn(t testing.TB, c *http.Client, email string) string {
	t.Helper()
	status, body := f.page(t, c, "/signin")
	require.Equal(t, http.StatusOK, status)
	m := csrfField.FindStringSubmatch(body)
	require.NotNil(t, m, "the sign-in form carries a CSRF token")
	res, err := c.PostForm(f.url+"/signin", url.Values{"email": {email}, "password": {f.passwords[email]}, "csrf": {m[1]}})
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	status, body = f.page(t, c, "/")
	require.Equal(t, http.StatusOK, status, snippet(body))
	m = csrfField.FindStringSubmatch(body)
	require.NotNil(t, m)
	return m[1]
}

// page GETs path and returns the status and body.
func (f *uiFixture) page(t testing.TB, c *http.Client, path string) (int, string) {
	t.Helper()
	res, err := c.Get(f.url + path)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

// post sends a form and returns the status and body.
func (f *uiFixture) post(t testing.TB, c *http.Client, path string, form url.Values, headers ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.url+path, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := c.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b), res.Header
}
