package trigger_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/fakeclock"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

func occurrences(runs []store.Run) []string {
	out := make([]string, len(runs))
	for i, r := range runs {
		out[i] = r.Occurrence
	}
	return out
}

// TestIngestionTriggers sends events through /v1/batch and checks which
// runs the real playbook engine recorded, category by category.
func TestIngestionTriggers(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			e := setup(t, d, testMap)

			// lifecycle: entering and leaving a trait value.
			e.batch(t, group("acme", map[string]any{"name": "Acme", "lifecycle_stage": "trial", "plan": "pro"}))
			require.Empty(t, e.runs(t, "acme", ""), "entering trial starts nothing")
			e.batch(t, group("acme", map[string]any{"lifecycle_stage": "onboarding"}))
			kick := e.runs(t, "acme", "kickoff")
			require.Len(t, kick, 1)
			require.True(t, strings.HasPrefix(kick[0].Occurrence, "enter:onboarding:"), kick[0].Occurrence)
			require.Equal(t, "lifecycle", kick[0].Category)
			require.Equal(t, 1, kick[0].MapVersion)
			// The same value sent again (a new call, Segment resends traits)
			// is no change; a call without the trait is none either.
			e.batch(t, group("acme", map[string]any{"lifecycle_stage": "onboarding", "plan": "pro"}),
				group("acme", map[string]any{"seats": 60}))
			require.Len(t, e.runs(t, "acme", "kickoff"), 1)
			require.Empty(t, e.runs(t, "acme", "onboarding_done"))
			e.batch(t, group("acme", map[string]any{"lifecycle_stage": "adoption", "plan": "enterprise"}))
			require.Len(t, e.runs(t, "acme", "onboarding_done"), 1)
			require.Len(t, e.runs(t, "acme", "plan_upgrade"), 1, "any trait can be watched")
			// Within one batch: in and out again fires both.
			e.batch(t, group("acme", map[string]any{"lifecycle_stage": "onboarding"}),
				group("acme", map[string]any{"lifecycle_stage": "renewal"}))
			require.Len(t, e.runs(t, "acme", "kickoff"), 2)
			require.Len(t, e.runs(t, "acme", "onboarding_done"), 2)

			// lifecycle and customer_event on event names.
			e.batch(t, track("u-1", "acme", "Contract Signed", nil), track("u-1", "acme", "Ticket Escalated", map[string]any{"id": 7}),
				track("u-1", "acme", "Ticket Solved", nil))
			esc := e.runs(t, "acme", "escalation")
			require.Len(t, esc, 1)
			require.Equal(t, "evt:"+fmt.Sprint(esc[0].EventID), esc[0].Occurrence)
			require.Equal(t, "u-1", esc[0].ContactID)
			require.Equal(t, "customer_event", esc[0].Category)
			require.Len(t, e.runs(t, "acme", "contract_signed"), 1)

			// Conditions over event properties and account traits.
			e.batch(t, track("u-1", "acme", "Survey Responded", map[string]any{"kind": "nps", "score": 9}),
				track("u-1", "acme", "Survey Responded", map[string]any{"kind": "csat", "score": 2}),
				track("u-1", "acme", "Survey Responded", map[string]any{"score": 1}))
			require.Empty(t, e.runs(t, "acme", "detractor"), "a promoter, a CSAT answer, and an answer without kind")
			require.Empty(t, e.runs(t, "acme", "low_nps"))
			e.batch(t, track("u-1", "acme", "Survey Responded", map[string]any{"kind": "nps", "score": 4}))
			require.Len(t, e.runs(t, "acme", "detractor"), 1)
			require.Len(t, e.runs(t, "acme", "low_nps"), 1)
			e.batch(t, track("u-1", "acme", "Seats Limit Reached", nil), group("small", map[string]any{"seats": 5}),
				track("u-9", "small", "Seats Limit Reached", nil))
			require.Len(t, e.runs(t, "acme", "big_seats"), 1, "acme has 60 seats")
			require.Empty(t, e.runs(t, "small", "big_seats"))

			// sponsor_change: a key contact (sponsor or champion) changes
			// role or leaves. A contact becoming an account's first key
			// contact is the relationship's setup, not a change.
			e.batch(t, identify("u-2", "acme", map[string]any{"email": "sam@acme.example", "role": "user"}))
			require.Empty(t, e.runs(t, "acme", "sponsor_change"))
			e.batch(t, identify("u-2", "acme", map[string]any{"role": "sponsor"}))
			require.Empty(t, e.runs(t, "acme", "sponsor_change"), "a new sponsor is not a change")
			e.batch(t, identify("u-2", "acme", map[string]any{"role": "sponsor", "title": "VP"}))
			require.Empty(t, e.runs(t, "acme", "sponsor_change"), "the same sponsor again")
			e.batch(t, identify("u-2", "acme", map[string]any{"role": "champion"}))
			require.Len(t, e.runs(t, "acme", "sponsor_change"), 1, "the sponsor became a champion")
			e.batch(t, identify("u-2", "globex", map[string]any{"role": "sponsor"}))
			require.Len(t, e.runs(t, "acme", "sponsor_change"), 2, "the champion left acme")
			require.Empty(t, e.runs(t, "globex", "sponsor_change"), "arriving at globex is not globex's change")
			e.batch(t, identify("u-2", "globex", map[string]any{"role": "admin"}))
			require.Len(t, e.runs(t, "globex", "sponsor_change"), 1, "the sponsor is no longer one")

			// Events that no moment listens to start nothing.
			before := len(e.runs(t, "", ""))
			e.batch(t, track("u-1", "acme", "Report Created", nil), track("anon", "", "Ticket Escalated", nil))
			require.Len(t, e.runs(t, "", ""), before)
		})
	}
}

// TestSameEventConcurrently sends one event many times at once: it is
// stored once and starts one run.
func TestSameEventConcurrently(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			e := setup(t, d, testMap)
			msg := track("u-1", "acme", "Ticket Escalated", map[string]any{"id": 1})
			var wg sync.WaitGroup
			for i := 0; i < 24; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					e.batch(t, msg)
				}()
			}
			wg.Wait()
			require.Len(t, e.runs(t, "acme", "escalation"), 1)
		})
	}
}

// TestIndexEvaluatesOnlyListeners: with 200 moments in the map, an event
// evaluates only the moments listening to its name.
func TestIndexEvaluatesOnlyListeners(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString(mapHeader)
	for i := 0; i < 200; i++ {
		b.WriteString(moment(fmt.Sprintf("m%03d", i),
			fmt.Sprintf(`{category: customer_event, events: [Event %d], when: 'account.?plan.orValue("") != "free"'}`, i%100)))
	}
	e := setup(t, storetest.Dialects()[0], b.String())
	e.batch(t, group("acme", map[string]any{"plan": "pro"}))
	before := e.app.Triggers.Stats()
	e.batch(t, track("u-1", "acme", "Event 7", nil))
	after := e.app.Triggers.Stats()
	require.Equal(t, int64(2), after.Evaluations-before.Evaluations, "m007 and m107 listen to Event 7")
	require.Equal(t, int64(2), after.Fired-before.Fired)
	e.batch(t, track("u-1", "acme", "Something Else", nil), track("u-1", "acme", "Page Viewed", nil))
	require.Equal(t, after, e.app.Triggers.Stats(), "no moment listens")
	require.Len(t, e.runs(t, "acme", ""), 2)
}

// TestManualStart starts a moment by hand through the REST API.
func TestManualStart(t *testing.T) {
	t.Parallel()
	e := setup(t, storetest.Dialects()[0], testMap)
	e.batch(t, group("acme", map[string]any{"name": "Acme"}))
	path := "/api/v1/accounts/acme/moments/kickoff_call/start"
	key := map[string]string{"Idempotency-Key": "click-1"}
	status, body := e.do(t, "POST", path, []byte(`{"note":"asked for it on the call","started_by":"casey"}`), key)
	require.Equal(t, http.StatusCreated, status, body)
	require.Equal(t, true, body["started"])
	require.Equal(t, "csm:click-1", body["occurrence"])
	runID := body["run_id"]
	status, body = e.do(t, "POST", path, nil, key)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, false, body["started"])
	require.Equal(t, runID, body["run_id"], "a replay names the first run")
	runs := e.runs(t, "acme", "kickoff_call")
	require.Len(t, runs, 1)
	require.Equal(t, "casey", runs[0].StartedBy)
	require.Equal(t, "csm", runs[0].Category)

	status, _ = e.do(t, "POST", path, nil, nil)
	require.Equal(t, http.StatusCreated, status, "without a key every click starts a run")
	require.Len(t, e.runs(t, "acme", "kickoff_call"), 2)

	for _, tc := range []struct {
		path, body string
		status     int
		code       string
		field      string
	}{
		{"/api/v1/accounts/nope/moments/kickoff_call/start", "", 404, "not_found", ""},
		{"/api/v1/accounts/acme/moments/nope/start", "", 404, "not_found", ""},
		{path, `{"notes":"x"}`, 400, "unknown_field", "notes"},
		{path, `{"note": 5}`, 400, "invalid_field", "note"},
		{path, `[1]`, 400, "invalid_field", ""},
	} {
		status, body := e.do(t, "POST", tc.path, []byte(tc.body), nil)
		require.Equal(t, tc.status, status, "%s %s: %v", tc.path, tc.body, body)
		errObj := body["error"].(map[string]any)
		require.Equal(t, tc.code, errObj["code"], body)
		if tc.field != "" {
			require.Equal(t, tc.field, errObj["field"], body)
		}
	}
}

// TestPersonalRules attaches rules to one account and checks they act for
// that account only.
func TestPersonalRules(t *testing.T) {
	t.Parallel()
	e := setup(t, storetest.Dialects()[0], testMap)
	e.batch(t, group("acme", map[string]any{"arr": 500}), group("globex", map[string]any{"arr": 90000}))
	status, body := e.do(t, "POST", "/api/v1/accounts/acme/rules",
		[]byte(`{"moment":"kickoff_call","events":["Dashboard Shared"],"when":"event.properties.views > 10","note":"watch the rollout"}`), nil)
	require.Equal(t, http.StatusCreated, status, body)
	eventRule := body["rule"].(map[string]any)["id"].(string)
	status, body = e.do(t, "POST", "/api/v1/accounts/globex/rules", []byte(`{"moment":"escalation","when":"account.arr > 100000"}`), nil)
	require.Equal(t, http.StatusCreated, status, body)

	e.batch(t, track("u-1", "acme", "Dashboard Shared", map[string]any{"views": 3}),
		track("u-1", "acme", "Dashboard Shared", map[string]any{"views": 30}),
		track("u-9", "globex", "Dashboard Shared", map[string]any{"views": 30}))
	runs := e.runs(t, "acme", "kickoff_call")
	require.Len(t, runs, 1)
	require.True(t, strings.HasPrefix(runs[0].Occurrence, "rule:"+eventRule+":evt:"), runs[0].Occurrence)
	require.Empty(t, e.runs(t, "globex", "kickoff_call"), "the rule is acme's")
	require.Empty(t, e.runs(t, "globex", "escalation"), "arr is below 100,000")

	e.batch(t, group("globex", map[string]any{"arr": 150000}))
	require.Len(t, e.runs(t, "globex", "escalation"), 1, "a condition rule fires when it first holds")
	e.batch(t, track("u-9", "globex", "Report Created", nil), group("globex", map[string]any{"arr": 160000}))
	require.Len(t, e.runs(t, "globex", "escalation"), 1, "and only once")

	status, body = e.do(t, "GET", "/api/v1/accounts/acme/rules", nil, nil)
	require.Equal(t, http.StatusOK, status)
	require.Len(t, body["rules"], 1)
	status, _ = e.do(t, "DELETE", "/api/v1/accounts/acme/rules/"+eventRule, nil, nil)
	require.Equal(t, http.StatusNoContent, status)
	status, _ = e.do(t, "DELETE", "/api/v1/accounts/acme/rules/"+eventRule, nil, nil)
	require.Equal(t, http.StatusNotFound, status)

	for _, tc := range []struct{ body, field string }{
		{`{"moment":"nope","when":"true"}`, "moment"},
		{`{"when":"true"}`, "moment"},
		{`{"moment":"kickoff_call"}`, "when"},
		{`{"moment":"kickoff_call","when":"acount.arr > 1"}`, "when"},
		{`{"moment":"kickoff_call","schedule":{"every":"fortnightly"}}`, "schedule"},
		{`{"moment":"kickoff_call","events":["X"],"schedule":{"every":"monthly"}}`, "schedule"},
	} {
		status, body := e.do(t, "POST", "/api/v1/accounts/acme/rules", []byte(tc.body), nil)
		require.Equal(t, http.StatusBadRequest, status, "%s: %v", tc.body, body)
		require.Equal(t, tc.field, body["error"].(map[string]any)["field"], tc.body)
	}
	status, _ = e.do(t, "POST", "/api/v1/accounts/nope/rules", []byte(`{"moment":"kickoff_call","when":"true"}`), nil)
	require.Equal(t, http.StatusNotFound, status)
}

// TestBroadcast runs a vendor broadcast through the REST API.
func TestBroadcast(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			e := setup(t, d, testMap)
			var msgs []map[string]any
			for i := 0; i < 1234; i++ {
				plan := "pro"
				if i%3 == 0 {
					plan = "enterprise"
				}
				msgs = append(msgs, group(fmt.Sprintf("acct-%04d", i), map[string]any{"plan": plan}))
			}
			for i := 0; i < len(msgs); i += 400 {
				e.batch(t, msgs[i:min(i+400, len(msgs))]...)
			}
			key := map[string]string{"Idempotency-Key": "release-7"}
			status, body := e.do(t, "POST", "/api/v1/broadcasts", []byte(`{"moment":"release"}`), key)
			require.Equal(t, http.StatusCreated, status, body)
			require.Equal(t, 412.0, body["matched"], "the moment's own segment: enterprise accounts")
			require.Equal(t, 412.0, body["reached"])
			require.Equal(t, "done", body["status"])
			id := body["id"].(string)
			status, body = e.do(t, "POST", "/api/v1/broadcasts", []byte(`{"moment":"release"}`), key)
			require.Equal(t, http.StatusOK, status, body)
			require.Equal(t, id, body["id"])
			require.Len(t, e.runs(t, "", "release"), 412, "a replay starts nothing")
			runs := e.runs(t, "acct-0003", "release")
			require.Len(t, runs, 1)
			require.Equal(t, "broadcast:"+id, runs[0].Occurrence)
			require.Equal(t, "vendor", runs[0].Category)

			status, body = e.do(t, "GET", "/api/v1/broadcasts/"+id, nil, nil)
			require.Equal(t, http.StatusOK, status)
			require.Equal(t, 412.0, body["reached"])

			status, body = e.do(t, "POST", "/api/v1/broadcasts", []byte(`{"moment":"release","segment":"account.plan == \"pro\" && account.id.endsWith(\"7\")"}`), nil)
			require.Equal(t, http.StatusCreated, status, body)
			require.Equal(t, 82.0, body["matched"])

			for _, tc := range []struct {
				body   string
				status int
				field  string
			}{
				{`{"moment":"nope"}`, 400, "moment"},
				{`{}`, 400, "moment"},
				{`{"moment":"release","segment":"account.plan =="}`, 400, "segment"},
			} {
				status, body := e.do(t, "POST", "/api/v1/broadcasts", []byte(tc.body), nil)
				require.Equal(t, tc.status, status, "%s: %v", tc.body, body)
				require.Equal(t, tc.field, body["error"].(map[string]any)["field"], tc.body)
			}
			status, body = e.do(t, "POST", "/api/v1/broadcasts", []byte(`{"moment":"kickoff_call"}`), key)
			require.Equal(t, http.StatusConflict, status, "the key belongs to another broadcast: %v", body)
			status, _ = e.do(t, "GET", "/api/v1/broadcasts/nope", nil, nil)
			require.Equal(t, http.StatusNotFound, status)
		})
	}
}

// TestBroadcastTwoServers: two server processes on one PostgreSQL database
// run the same broadcast to 1,000 accounts at once; each account gets
// exactly one run.
func TestBroadcastTwoServers(t *testing.T) {
	t.Parallel()
	cfg := storetest.Config(t, store.Postgres) // skips without PostgreSQL
	ctx := context.Background()
	st1, err := store.Open(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { st1.Close() })
	st2, err := store.Open(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { st2.Close() })
	c := fakeclock.New(day0)
	e1 := setupOn(t, st1, testMap, c, true)
	e2 := setupOn(t, st2, testMap, c, false)
	e2.adminKey, e2.writeKey = e1.adminKey, e1.writeKey // one database, one set of keys
	var msgs []map[string]any
	for i := 0; i < 1000; i++ {
		msgs = append(msgs, group(fmt.Sprintf("acct-%04d", i), map[string]any{"plan": "enterprise"}))
	}
	for i := 0; i < len(msgs); i += 250 {
		e1.batch(t, msgs[i:i+250]...)
	}
	key := map[string]string{"Idempotency-Key": "webinar-2026"}
	results := make([]map[string]any, 4)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv := []*env{e1, e2}[i%2]
			status, body := srv.do(t, "POST", "/api/v1/broadcasts", []byte(`{"moment":"release"}`), key)
			require.Contains(t, []int{http.StatusCreated, http.StatusOK}, status, body)
			results[i] = body
		}()
	}
	wg.Wait()
	for _, r := range results {
		require.Equal(t, results[0]["id"], r["id"], "one broadcast")
		require.Equal(t, 1000.0, r["reached"])
		require.Equal(t, 1000.0, r["matched"])
	}
	var n, accounts int
	require.NoError(t, st1.DB().QueryRowContext(ctx, `SELECT COUNT(*), COUNT(DISTINCT account_id) FROM runs WHERE moment_id = 'release'`).Scan(&n, &accounts))
	require.Equal(t, 1000, n)
	require.Equal(t, 1000, accounts)
}

// TestNoMapNoTriggers: without a map, ingestion works and nothing starts;
// the manual start says what to do.
func TestNoMapNoTriggers(t *testing.T) {
	t.Parallel()
	e := setupOn(t, storetest.Open(t, storetest.Dialects()[0]), "", fakeclock.New(day0), false)
	e.batch(t, group("acme", map[string]any{"lifecycle_stage": "onboarding"}), track("u", "acme", "Ticket Escalated", nil))
	require.Empty(t, e.runs(t, "", ""))
	require.NoError(t, e.app.Triggers.Tick(context.Background()))
	status, body := e.do(t, "POST", "/api/v1/accounts/acme/moments/kickoff/start", nil, nil)
	require.Equal(t, http.StatusNotFound, status)
	require.Equal(t, "no_journey_map", body["error"].(map[string]any)["code"])
	raw, _ := json.Marshal(body)
	require.Contains(t, string(raw), "moments map apply")
	_ = time.Second
}
