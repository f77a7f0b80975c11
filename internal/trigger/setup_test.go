package trigger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/app"
	"github.com/moments-cs/moments/internal/fakeclock"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/playbook"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// env is one installation built like `moments serve` builds it
// (internal/app), with the app's playbook engine launching the triggers' runs,
// served over HTTP.
type env struct {
	st       *store.Store
	app      *app.App
	pb       *playbook.Engine
	url      string
	writeKey string
	adminKey string
	clock    *fakeclock.Clock
}

var day0 = time.Date(2026, 1, 1, 6, 0, 0, 0, time.UTC)

func setup(t testing.TB, d store.Dialect, mapYAML string) *env {
	t.Helper()
	return setupOn(t, storetest.Open(t, d), mapYAML, fakeclock.New(day0), true)
}

// setupOn builds an installation on an open store; apply applies mapYAML.
func setupOn(t testing.TB, st *store.Store, mapYAML string, c *fakeclock.Clock, apply bool) *env {
	t.Helper()
	return setupWith(t, st, mapYAML, c, apply, app.Options{})
}

// setupWith is setupOn with app options (the clock is set from c).
func setupWith(t testing.TB, st *store.Store, mapYAML string, c *fakeclock.Clock, apply bool, o app.Options) *env {
	t.Helper()
	ctx := context.Background()
	o.Now = c.Now
	a, err := app.New(ctx, st, o)
	require.NoError(t, err)
	// The app's own playbook engine launches the runs; its wake-up stage
	// is the one app.New registered, after health's and the triggers'.
	pb := a.Playbooks
	admin, _, err := a.Keys.Bootstrap(ctx)
	require.NoError(t, err)
	// The tests play the vendor's backend, which sets owners and emails.
	_, write, err := a.Keys.CreateServer(ctx, "backend")
	require.NoError(t, err)
	if apply {
		res, err := a.Journey.Apply(ctx, "test.yaml", []byte(mapYAML), "test")
		require.NoError(t, err)
		require.False(t, journey.HasErrors(res.Diagnostics), "%v", res.Diagnostics)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return &env{st: st, app: a, pb: pb, url: srv.URL, writeKey: write, adminKey: admin, clock: c}
}

// batch posts messages to /v1/batch, requires a 200 and waits until the
// ingest stages (health, triggers, wake-ups) have consumed them.
func (e *env) batch(t testing.TB, msgs ...map[string]any) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"batch": msgs})
	require.NoError(t, err)
	status, res := e.do(t, "POST", "/v1/batch", body, nil)
	require.Equal(t, http.StatusOK, status, res)
	require.NoError(t, e.app.WaitIdle(context.Background()))
}

var msgSeq struct {
	sync.Mutex
	n int
}

func nextID() string {
	msgSeq.Lock()
	defer msgSeq.Unlock()
	msgSeq.n++
	return fmt.Sprintf("m-%d-%d", time.Now().UnixNano(), msgSeq.n)
}

func group(account string, traits map[string]any) map[string]any {
	return map[string]any{"type": "group", "messageId": nextID(), "groupId": account, "userId": "owner-of-" + account, "traits": traits}
}

func identify(user, account string, traits map[string]any) map[string]any {
	return map[string]any{"type": "identify", "messageId": nextID(), "userId": user, "traits": traits,
		"context": map[string]any{"groupId": account}}
}

func track(user, account, name string, props map[string]any) map[string]any {
	return map[string]any{"type": "track", "messageId": nextID(), "userId": user, "event": name, "properties": props,
		"context": map[string]any{"groupId": account}}
}

// do calls the server: the tracking API with the write key, the REST API
// with the admin key.
func (e *env) do(t testing.TB, method, path string, body []byte, header map[string]string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, bytes.NewReader(body))
	require.NoError(t, err)
	if strings.HasPrefix(path, "/v1/") {
		req.SetBasicAuth(e.writeKey, "")
	} else {
		req.Header.Set("Authorization", "Bearer "+e.adminKey)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	var out map[string]any
	if len(raw) > 0 && raw[0] == '{' {
		require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	}
	return res.StatusCode, out
}

// runs lists the runs of an account (and moment), oldest first.
func (e *env) runs(t testing.TB, account, moment string) []store.Run {
	t.Helper()
	var out []store.Run
	cursor := ""
	for {
		page, next, err := e.st.ListRuns(context.Background(), store.RunFilter{AccountID: account, MomentID: moment},
			store.Page{Limit: 500, Cursor: cursor})
		require.NoError(t, err)
		out = append(out, page...)
		if next == "" {
			break
		}
		cursor = next
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

const mapHeader = `version: 1
name: Trigger test
stages: [{id: delivering, name: Delivering}, {id: growing, name: Growing}]
teams: [{id: customer_success, name: Customer Success, lead: lead@vendor.example}]
moments:
`

// moment renders one moment of a test map with a one-task playbook.
func moment(id, trigger string) string {
	return fmt.Sprintf(`  - id: %s
    name: %s
    stage: delivering
    owner: customer_success
    importance: {revenue: 1, relationship: 1, rescue: 1, retention: 1}
    trigger: %s
    playbook:
      - kind: task
        title: Handle %s
        due: 2d
`, id, id, trigger, id)
}

// testMap is a map with a moment for every trigger category and signal.
var testMap = mapHeader +
	moment("kickoff", `{category: lifecycle, enter: onboarding}`) +
	moment("onboarding_done", `{category: lifecycle, leave: onboarding}`) +
	moment("plan_upgrade", `{category: lifecycle, trait: plan, enter: enterprise}`) +
	moment("contract_signed", `{category: lifecycle, events: [Contract Signed]}`) +
	moment("escalation", `{category: customer_event, events: [Ticket Escalated]}`) +
	moment("detractor", `{category: customer_event, events: [Survey Responded], when: 'event.properties.kind == "nps" && event.properties.score <= 6'}`) +
	moment("low_nps", `{category: customer_event, signal: low_nps}`) +
	moment("sponsor_change", `{category: customer_event, signal: sponsor_change}`) +
	moment("big_seats", `{category: customer_event, events: [Seats Limit Reached], when: 'account.?seats.orValue(0) >= 50'}`) +
	moment("renewal_120", `{category: scheduled, schedule: {relative_to: renewal_date, offset: -120d}, when: 'account.segment == "enterprise"'}`) +
	moment("renewal_90", `{category: scheduled, schedule: {relative_to: renewal_date, offset: -90d}}`) +
	moment("renewal_30", `{category: scheduled, schedule: {relative_to: renewal_date, offset: -30d}}`) +
	moment("monthly_checkin", `{category: scheduled, schedule: {every: monthly}, when: 'account.segment == "mid_market"'}`) +
	moment("kickoff_call", `{category: csm}`) +
	moment("release", `{category: vendor, segment: 'account.plan == "enterprise"'}`)
