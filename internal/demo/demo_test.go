package demo_test

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/examples"
	"github.com/moments-cs/moments/internal/auth"
	"github.com/moments-cs/moments/internal/demo"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// small is the size the end-to-end test generates: every persona, every
// outcome, in about a second of ingestion.
func small(end time.Time) demo.Config {
	return demo.Config{Seed: 7, Accounts: 40, Months: 6, End: end}
}

// TestGenerationIsDeterministic checks that a seed fixes every message,
// byte for byte, and that another seed gives another company.
func TestGenerationIsDeterministic(t *testing.T) {
	t.Parallel()
	end := time.Date(2026, 3, 10, 14, 30, 0, 0, time.UTC)
	digest := func(cfg demo.Config) (string, int) {
		c, err := demo.NewCompany(cfg)
		require.NoError(t, err)
		h := sha256.New()
		n := 0
		for _, hist := range c.Histories() {
			for i := range hist.Messages {
				h.Write(hist.Messages[i].Append(nil))
				n++
			}
		}
		return hex.EncodeToString(h.Sum(nil)), n
	}
	a, n := digest(small(end))
	b, m := digest(small(end))
	require.Equal(t, a, b, "the same seed gave different messages")
	require.Equal(t, n, m)
	require.Greater(t, n, 5000)
	other := small(end)
	other.Seed = 8
	c, _ := digest(other)
	require.NotEqual(t, a, c, "another seed gave the same messages")
}

// TestMessagesAreValidSegmentCalls checks the wire form of every message
// kind against encoding/json.
func TestMessagesAreValidSegmentCalls(t *testing.T) {
	t.Parallel()
	c, err := demo.NewCompany(demo.Config{Seed: 3, Accounts: 12, Months: 3, End: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)})
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, h := range c.Histories() {
		for i, m := range h.Messages {
			var w map[string]any
			raw := m.Append(nil)
			require.NoError(t, json.Unmarshal(raw, &w), string(raw))
			require.Equal(t, m.Type, w["type"])
			require.NotEmpty(t, w["messageId"])
			require.NotEmpty(t, w["userId"])
			_, err := time.Parse(time.RFC3339, w["originalTimestamp"].(string))
			require.NoError(t, err)
			switch m.Type {
			case "group":
				require.Equal(t, h.Account.ID, w["groupId"])
			case "identify", "track":
				require.Equal(t, h.Account.ID, w["context"].(map[string]any)["groupId"])
			}
			if i > 0 {
				require.False(t, m.At.Before(h.Messages[i-1].At), "messages are in time order")
			}
			require.False(t, m.At.After(c.Config.End), "no message after the end of the history")
			seen[m.Type] = true
		}
	}
	require.Len(t, seen, 3)
}

// TestEveryPersonaAndOutcome checks that a small company still has every
// story in it.
func TestEveryPersonaAndOutcome(t *testing.T) {
	t.Parallel()
	for _, seed := range []uint64{1, 2, 7, 42} {
		c, err := demo.NewCompany(demo.Config{Seed: seed, Accounts: 40, Months: 6})
		require.NoError(t, err)
		personas := map[demo.Persona]int{}
		outcomes := map[string]int{}
		for _, h := range c.Histories() {
			personas[h.Account.Persona]++
			outcomes[h.Outcome]++
		}
		for _, p := range demo.Personas {
			require.Positive(t, personas[p], "seed %d has no %s account", seed, p)
		}
		for _, o := range []string{demo.OutcomeRenewed, demo.OutcomeChurned, demo.OutcomeExpanded} {
			require.Positive(t, outcomes[o], "seed %d has no %s account", seed, o)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  demo.Config
		want string
	}{
		{demo.Config{Accounts: -1}, "--accounts"},
		{demo.Config{Accounts: demo.MaxAccounts + 1}, "--accounts"},
		{demo.Config{Months: 37}, "--months"},
		{demo.Config{Months: -2}, "--months"},
	} {
		err := tc.cfg.Validate()
		require.ErrorContains(t, err, tc.want)
	}
	var c demo.Config
	require.NoError(t, c.Validate())
	require.Equal(t, demo.Config{Seed: 1, Accounts: 300, Months: 12, End: c.End}, c)
}

// TestDemo generates a small company twice, into two real installations,
// through the tracking API, and checks what the engine made of it.
func TestDemo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	end := time.Now().UTC().Truncate(time.Hour)
	cfg := small(end)

	first := startServer(t, store.SQLite)
	res, err := demo.Generate(ctx, cfg, demo.Target{URL: first.url, WriteKey: first.writeKey}, nil)
	require.NoError(t, err)
	began := time.Now()
	sc, err := demo.RunShowcase(ctx, demo.Target{URL: first.url}, first.adminKey, res)
	require.NoError(t, err)
	t.Logf("%d messages sent in %s; showcase in %s", res.Messages, res.Elapsed, time.Since(began))

	t.Run("nothing is lost", func(t *testing.T) {
		// Every message is stored as an event; the engine stores events of
		// its own beside them (such as Milestone Reached).
		n := 0
		for _, line := range eventLines(t, first.store) {
			if strings.HasPrefix(line, "demo-") {
				n++
			}
		}
		require.Equal(t, res.Messages, n)
		accts, err := first.store.CountAccounts(ctx)
		require.NoError(t, err)
		require.Equal(t, cfg.Accounts, accts)
	})

	t.Run("the same seed gives the same data", func(t *testing.T) {
		// The second installation runs on PostgreSQL when the test run
		// has one: the same seed must give the same data on both.
		d := storetest.Dialects()
		second := startServer(t, d[len(d)-1])
		_, err := demo.Generate(ctx, cfg, demo.Target{URL: second.url, WriteKey: second.writeKey}, nil)
		require.NoError(t, err)
		a, b := snapshot(t, first.store), snapshot(t, second.store)
		require.Equal(t, len(a), len(b))
		for id := range a {
			require.Equal(t, a[id], b[id], "account %s differs", id)
		}
	})

	t.Run("every persona and outcome is recorded as traits", func(t *testing.T) {
		personas, outcomes := map[string]int{}, map[string]int{}
		for _, acct := range allAccounts(t, first.store) {
			personas[fmt.Sprint(acct.Traits["persona"])]++
			if o, ok := acct.Traits["outcome"]; ok {
				outcomes[fmt.Sprint(o)]++
			}
			if acct.Traits["outcome"] == demo.OutcomeChurned {
				require.Equal(t, "churned", acct.LifecycleStage, acct.ID)
				require.NotEmpty(t, acct.Traits["churned_at"], acct.ID)
			}
		}
		for _, p := range demo.Personas {
			require.Positive(t, personas[string(p)], "no %s account", p)
		}
		for _, o := range []string{demo.OutcomeRenewed, demo.OutcomeChurned, demo.OutcomeExpanded} {
			require.Positive(t, outcomes[o], "no %s account", o)
		}
	})

	t.Run("every health quadrant has accounts", func(t *testing.T) {
		var rep struct {
			Quadrants []struct {
				Quadrant string `json:"quadrant"`
				Accounts int    `json:"accounts"`
			} `json:"quadrants"`
		}
		first.getJSON(t, "/api/v1/reports/health", &rep)
		got := map[string]int{}
		for _, q := range rep.Quadrants {
			got[q.Quadrant] = q.Accounts
		}
		for _, q := range []string{"champion", "captive", "dormant_fan", "at_risk"} {
			require.Positive(t, got[q], "no account in the %s quadrant: %v", q, got)
		}
	})

	t.Run("the reports of the API have rows", func(t *testing.T) {
		var exc struct {
			Total      int              `json:"total"`
			Exceptions []map[string]any `json:"exceptions"`
		}
		first.getJSON(t, "/api/v1/reports/exceptions", &exc)
		require.Positive(t, exc.Total)
		require.NotEmpty(t, exc.Exceptions)
		var h struct {
			Accounts int `json:"accounts"`
		}
		first.getJSON(t, "/api/v1/reports/health", &h)
		require.Positive(t, h.Accounts)
	})

	t.Run("every report of the UI has rows", func(t *testing.T) {
		// Reports are found from the Reports page, so that each report
		// added later is checked too.
		c := first.signIn(t, "head-of-cs@northwind.example", auth.RoleOps)
		status, index := first.page(t, c, "/reports")
		require.Equal(t, http.StatusOK, status)
		ids := map[string]bool{}
		for _, m := range regexp.MustCompile(`href="/reports/([a-z0-9-]+)"`).FindAllStringSubmatch(index, -1) {
			ids[m[1]] = true
		}
		require.GreaterOrEqual(t, len(ids), 4, "the Reports page lists too few reports: %v", ids)
		for id := range ids {
			status, body := first.page(t, c, "/reports/"+id+".csv")
			require.Equal(t, http.StatusOK, status, "report %s: %s", id, body)
			rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
			require.NoError(t, err, "report %s", id)
			if _, page := first.page(t, c, "/reports/"+id); strings.Contains(page, "too few outcomes") {
				// The reports on outcomes refuse, and say so, with fewer
				// than 10 churners, which a 40-account demo of six months
				// may have; the 300-account demo has about 50.
				require.Len(t, rows, 1, "report %s: only the columns", id)
				continue
			}
			require.Greater(t, len(rows), 1, "report %s has no rows:\n%s", id, body)
		}
	})

	t.Run("accounts generated to churn rank below the renewers on health", func(t *testing.T) {
		var churners, renewers []float64
		for _, h := range res.Histories {
			a := h.Account
			var v struct {
				Combined *float64 `json:"combined"`
			}
			first.getJSON(t, "/api/v1/accounts/"+a.ID+"/health", &v)
			score := 0.0
			if v.Combined != nil {
				score = *v.Combined
			}
			switch {
			case a.WillChurn:
				churners = append(churners, score)
			case a.Persona == demo.Adopter || a.Persona == demo.SupportHeavy || a.Persona == demo.SlowOnboarder ||
				(a.Persona == demo.SponsorChange && a.SponsorHandled):
				renewers = append(renewers, score)
			}
		}
		require.NotEmpty(t, churners)
		require.NotEmpty(t, renewers)
		// The personas show in the quadrants the engine computes: the
		// happy path as champions, the cable-company case as captive, the
		// music-service case as dormant fans.
		q := first.quadrants(t, res)
		t.Logf("quadrant by persona (accounts still customers): %v", q)
		for p, want := range map[demo.Persona]string{demo.Adopter: "champion", demo.Captive: "captive", demo.DormantFan: "dormant_fan"} {
			require.Positive(t, q[p][want], "no %s account is %s: %v", p, want, q[p])
			for other, n := range q[p] {
				require.GreaterOrEqual(t, q[p][want], n, "more %s accounts are %s than %s: %v", p, other, want, q[p])
			}
		}
		// The share of (renewer, churner) pairs in which the renewer is
		// healthier: 0.5 would be a coin toss.
		auc := rankAbove(renewers, churners)
		t.Logf("renewers median %.0f, churners median %.0f, P(renewer healthier) %.2f", median(renewers), median(churners), auc)
		require.Greater(t, median(renewers), median(churners))
		require.GreaterOrEqual(t, auc, 0.8)
	})

	t.Run("a sponsor leaving starts the sponsor change moment", func(t *testing.T) {
		left := 0
		for _, h := range res.Histories {
			if h.Account.Persona != demo.SponsorChange {
				continue
			}
			evs, _, err := first.store.ListEvents(ctx, store.EventFilter{Account: h.Account.ID, Type: "identify"}, store.Page{Limit: 500})
			require.NoError(t, err)
			for _, e := range evs {
				if !strings.Contains(string(e.Properties), `"left_company"`) {
					continue
				}
				left++
				var runs struct {
					Runs []struct {
						EventID int64 `json:"event_id"`
					} `json:"runs"`
				}
				first.getJSON(t, "/api/v1/runs?moment=sponsor_change&limit=50&account="+h.Account.ID, &runs)
				found := false
				for _, r := range runs.Runs {
					found = found || r.EventID == e.ID
				}
				require.True(t, found, "no sponsor_change run for %s's sponsor leaving (event %d)", h.Account.ID, e.ID)
			}
		}
		require.Positive(t, left, "no sponsor left in the history")
	})

	t.Run("playbooks send email and webhooks", func(t *testing.T) {
		require.Eventually(t, func() bool { return first.sinks.Emails() > 0 && first.sinks.Webhooks() > 0 },
			30*time.Second, 100*time.Millisecond, "emails %d, webhooks %d", first.sinks.Emails(), first.sinks.Webhooks())
	})

	t.Run("every trigger category started runs", func(t *testing.T) {
		if strings.Contains(sc.CSMNote, "playbook engine is not running") {
			t.Skip("pending issue 4: the playbook engine is not yet part of internal/app, so no run can start")
		}
		require.True(t, sc.CSMStarted, "the CSM moment was not started: %s", sc.CSMNote)
		require.NotEmpty(t, sc.BroadcastID, "the broadcast was not started: %s", sc.BroadcastNote)
		require.Positive(t, sc.BroadcastReached)
		// Scheduled moments fall due as time passes. The first tick marks
		// where each schedule starts (a new installation does not start
		// the past's check-ins); 32 days later a month has turned for the
		// monthly check-in and renewals have come within 120, 90 and 30
		// days.
		require.NoError(t, first.app.Triggers.Tick(ctx))
		first.clock.advance(32 * 24 * time.Hour)
		require.NoError(t, first.app.Triggers.Tick(ctx))
		if status, _ := first.get(t, "/api/v1/runs?limit=1"); status == http.StatusNotFound {
			t.Skip("pending issue 4: GET /api/v1/runs is not served yet")
		}
		m, diags := journey.Parse("b2b-saas.yaml", examples.B2BSaaS)
		require.False(t, journey.HasErrors(diags))
		byCategory := map[string][]string{}
		for _, mo := range m.Moments {
			byCategory[mo.Trigger.Category] = append(byCategory[mo.Trigger.Category], mo.ID)
		}
		for _, cat := range []string{"lifecycle", "customer_event", "scheduled", "csm", "vendor"} {
			runs := 0
			require.Eventually(t, func() bool {
				runs = 0
				for _, id := range byCategory[cat] {
					runs += first.countRuns(t, id)
				}
				return runs > 0
			}, 20*time.Second, 200*time.Millisecond, "no run of a %s moment (%v)", cat, byCategory[cat])
		}
	})
}

// snapshot is what must be equal between two installations fed the same
// seed: per account its traits and a digest of its events, leaving out
// what the server assigns (ids, receivedAt, and the skew-corrected
// timestamp, which moves by the request's latency).
func snapshot(t *testing.T, st *store.Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, a := range allAccounts(t, st) {
		lines := accountEventLines(t, st, a.ID)
		traits, err := json.Marshal(a.Traits)
		require.NoError(t, err)
		sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
		out[a.ID] = fmt.Sprintf("%s %s %s %s %s %v %s traits=%s events=%d/%x", a.Name, a.Plan, a.Segment, a.Owner,
			a.LifecycleStage, a.ARR, a.RenewalDate, traits, len(lines), sum[:8])
	}
	return out
}

// accountEventLines lists an account's events, one sorted line each.
func accountEventLines(t *testing.T, st *store.Store, id string) []string {
	t.Helper()
	var lines []string
	cursor := ""
	for {
		evs, next, err := st.ListEvents(context.Background(), store.EventFilter{Account: id}, store.Page{Limit: 500, Cursor: cursor})
		require.NoError(t, err)
		for _, e := range evs {
			orig := ""
			if e.OriginalTimestamp != nil {
				orig = e.OriginalTimestamp.UTC().Format(time.RFC3339Nano)
			}
			// PostgreSQL keeps JSON as jsonb, with its own key order and
			// spacing: compare the values.
			var props any
			require.NoError(t, json.Unmarshal(e.Properties, &props))
			canon, err := json.Marshal(props)
			require.NoError(t, err)
			lines = append(lines, strings.Join([]string{e.MessageID, e.Type, e.Name, e.UserID, orig, string(canon)}, "|"))
		}
		if next == "" {
			break
		}
		cursor = next
	}
	sort.Strings(lines)
	return lines
}

func eventLines(t *testing.T, st *store.Store) []string {
	t.Helper()
	var out []string
	for _, a := range allAccounts(t, st) {
		out = append(out, accountEventLines(t, st, a.ID)...)
	}
	return out
}

func allAccounts(t *testing.T, st *store.Store) []store.Account {
	t.Helper()
	var out []store.Account
	cursor := ""
	for {
		accts, next, err := st.ListAccounts(context.Background(), store.AccountFilter{}, store.Page{Limit: 500, Cursor: cursor})
		require.NoError(t, err)
		out = append(out, accts...)
		if next == "" {
			return out
		}
		cursor = next
	}
}

func (s *server) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	status, body := s.get(t, path)
	require.Equal(t, http.StatusOK, status, "GET %s: %s", path, body)
	require.NoError(t, json.Unmarshal(body, v), string(body))
}

func (s *server) get(t *testing.T, path string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.url+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+s.adminKey)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, body
}

// signIn creates a person with role and signs them in through the sign-in
// form, as a browser would; the client keeps the session cookie.
func (s *server) signIn(t *testing.T, email string, role auth.Role) *http.Client {
	t.Helper()
	const password = "demo-test-password"
	_, _, err := s.app.People.Add(context.Background(), email, "Test", role, password)
	require.NoError(t, err)
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	c := &http.Client{Jar: jar}
	status, form := s.page(t, c, "/signin")
	require.Equal(t, http.StatusOK, status)
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(form)
	require.Len(t, m, 2, "no CSRF token on the sign-in form")
	res, err := c.PostForm(s.url+"/signin", url.Values{"csrf": {m[1]}, "email": {email}, "password": {password}})
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.NotContains(t, res.Request.URL.Path, "signin", "the sign-in was refused")
	return c
}

// page GETs a UI page with a signed-in client.
func (s *server) page(t *testing.T, c *http.Client, path string) (int, string) {
	t.Helper()
	res, err := c.Get(s.url + path)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

// countRuns counts the runs of a moment through the runs API (at most one
// page: the test only needs to know there are some).
func (s *server) countRuns(t *testing.T, moment string) int {
	t.Helper()
	var runs struct {
		Runs []json.RawMessage `json:"runs"`
	}
	s.getJSON(t, "/api/v1/runs?moment="+moment+"&limit=5", &runs)
	return len(runs.Runs)
}

// quadrants counts, per persona, the quadrants of the accounts that are
// still customers.
func (s *server) quadrants(t *testing.T, res *demo.Result) map[demo.Persona]map[string]int {
	t.Helper()
	out := map[demo.Persona]map[string]int{}
	for _, h := range res.Histories {
		if !h.Churned.IsZero() {
			continue
		}
		var v struct {
			Quadrant string `json:"quadrant"`
		}
		s.getJSON(t, "/api/v1/accounts/"+h.Account.ID+"/health", &v)
		if out[h.Account.Persona] == nil {
			out[h.Account.Persona] = map[string]int{}
		}
		out[h.Account.Persona][v.Quadrant]++
	}
	return out
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// rankAbove is the share of pairs (x from hi, y from lo) with x > y, ties
// counting half: the area under the ROC curve.
func rankAbove(hi, lo []float64) float64 {
	var wins float64
	for _, x := range hi {
		for _, y := range lo {
			switch {
			case x > y:
				wins++
			case x == y:
				wins += 0.5
			}
		}
	}
	return wins / float64(len(hi)*len(lo))
}
