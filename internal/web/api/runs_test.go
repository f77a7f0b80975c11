package api_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/app"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/playbook"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
	"github.com/moments-cs/moments/internal/web/webtest"
)

const playbookMap = `version: 1
name: API test
stages: [{id: delivering, name: Delivering}]
teams: [{id: customer_success, name: Customer Success, lead: cs-lead@vendor.example}]
moments:
  - id: kickoff
    name: Kickoff
    stage: delivering
    owner: customer_success
    trigger: {category: csm}
    playbook:
      - {kind: task, title: Hold the kickoff call, assignee: csm, due: 2d}
      - {id: welcome, kind: email, template: welcome, to: contact}
emails:
  - {id: welcome, subject: Welcome, body: Hello}
`

type playbookFixture struct {
	url, admin string
	st         *store.Store
	app        *app.App
}

func setupPlaybooks(t *testing.T, d store.Dialect) *playbookFixture {
	t.Helper()
	ctx := context.Background()
	st := storetest.Open(t, d)
	a, err := app.New(ctx, st, app.Options{Playbook: playbook.Config{PollInterval: 20 * time.Millisecond, MaxAttempts: 1}})
	require.NoError(t, err)
	admin, _, err := a.Keys.Bootstrap(ctx)
	require.NoError(t, err)
	res, err := a.Journey.Apply(ctx, "map.yaml", []byte(playbookMap), "test")
	require.NoError(t, err)
	require.False(t, journey.HasErrors(res.Diagnostics), "%v", res.Diagnostics)
	require.NoError(t, a.Start(ctx))
	t.Cleanup(func() { _ = a.Stop(context.Background()) })
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	now := time.Now().UTC()
	_, err = st.Ingest(ctx, "wk", []store.Message{
		{Type: "group", MessageID: "g1", UserID: "u1", GroupID: "acme", Timestamp: now, ReceivedAt: now,
			Traits: map[string]any{"name": "Acme", "owner": "csm@vendor.example"}},
		{Type: "identify", MessageID: "i1", UserID: "u1", GroupID: "acme", Timestamp: now, ReceivedAt: now,
			Traits: map[string]any{"email": "zoe@acme.example", "role": "sponsor"}},
	})
	require.NoError(t, err)
	return &playbookFixture{url: srv.URL, admin: admin, st: st, app: a}
}

func (f *playbookFixture) call(t *testing.T, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, f.url+path, bytes.NewBufferString(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+f.admin)
	req.Header.Set("Content-Type", "application/json")
	return webtest.Do(t, req)
}

func TestPlaybookAPI(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			f := setupPlaybooks(t, d)
			ctx := context.Background()
			// No SMTP is configured: the email step fails after its one
			// attempt, with a message that says why.
			id, started, err := f.app.Playbooks.Launch(ctx, playbook.RunRequest{AccountID: "acme", MomentID: "kickoff",
				Occurrence: "csm:api", MapVersion: 1, Trigger: playbook.TriggerCSM, ContactID: "u1"})
			require.NoError(t, err)
			require.True(t, started)
			deadline := time.Now().Add(15 * time.Second)
			for {
				r, err := f.st.Run(ctx, id)
				require.NoError(t, err)
				if r.Status == store.RunFailed {
					break
				}
				require.True(t, time.Now().Before(deadline), "run did not fail in time: %+v", r)
				time.Sleep(10 * time.Millisecond)
			}

			code, body := f.call(t, "GET", "/api/v1/runs/"+id, "")
			require.Equal(t, http.StatusOK, code)
			run := body["run"].(map[string]any)
			require.Equal(t, "failed", run["status"])
			steps := run["steps"].([]any)
			require.Len(t, steps, 2)
			require.Equal(t, "done", steps[0].(map[string]any)["status"])
			failed := steps[1].(map[string]any)
			require.Equal(t, "welcome", failed["step"])
			require.Contains(t, failed["error"], "email is not configured")
			require.Len(t, body["tasks"], 1)

			code, body = f.call(t, "GET", "/api/v1/runs?account=acme&moment=kickoff", "")
			require.Equal(t, http.StatusOK, code)
			require.Len(t, body["runs"], 1)
			code, body = f.call(t, "GET", "/api/v1/runs?moment=other", "")
			require.Equal(t, http.StatusOK, code)
			require.Empty(t, body["runs"])

			code, body = f.call(t, "GET", "/api/v1/tasks?assignee=csm@vendor.example&status=open&account=acme", "")
			require.Equal(t, http.StatusOK, code)
			tasks := body["tasks"].([]any)
			require.Len(t, tasks, 1)
			task := tasks[0].(map[string]any)
			require.Equal(t, "open", task["status"])
			taskID := task["id"].(string)
			for _, q := range []string{"status=done", "status=overdue", "assignee=someone@else", "account=other"} {
				code, body = f.call(t, "GET", "/api/v1/tasks?"+q, "")
				require.Equal(t, http.StatusOK, code)
				require.Empty(t, body["tasks"], q)
			}

			for _, tc := range []struct {
				name, body  string
				status      int
				code, field string
			}{
				{"unknown field", `{"asignee":"x"}`, 400, "unknown_field", "asignee"},
				{"empty assignee", `{"assignee":"  "}`, 400, "invalid_field", "assignee"},
				{"bad status", `{"status":"finished"}`, 400, "invalid_field", "status"},
				{"snooze by status", `{"status":"snoozed"}`, 400, "invalid_field", "status"},
				{"bad time", `{"snoozed_until":"tomorrow"}`, 400, "invalid_field", "snoozed_until"},
				{"past time", `{"snoozed_until":"2001-01-01T00:00:00Z"}`, 400, "invalid_field", "snoozed_until"},
				{"wrong type", `{"assignee":42}`, 400, "invalid_field", "assignee"},
				{"nothing", `{}`, 400, "empty_change", ""},
			} {
				code, body := f.call(t, "PATCH", "/api/v1/tasks/"+taskID, tc.body)
				require.Equal(t, tc.status, code, tc.name)
				c, field := webtest.ErrorOf(t, body)
				require.Equal(t, tc.code, c, tc.name)
				require.Equal(t, tc.field, field, tc.name)
			}
			code, _ = f.call(t, "PATCH", "/api/v1/tasks/nope", `{"status":"done"}`)
			require.Equal(t, http.StatusNotFound, code)

			// Claim, snooze, wake, complete.
			code, body = f.call(t, "PATCH", "/api/v1/tasks/"+taskID, `{"assignee":"pat@vendor.example"}`)
			require.Equal(t, http.StatusOK, code)
			require.Equal(t, "pat@vendor.example", body["assignee"])
			until := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
			code, body = f.call(t, "PATCH", "/api/v1/tasks/"+taskID, `{"snoozed_until":"`+until+`"}`)
			require.Equal(t, http.StatusOK, code)
			require.Equal(t, "snoozed", body["status"])
			code, body = f.call(t, "GET", "/api/v1/tasks?status=snoozed&assignee=pat@vendor.example", "")
			require.Equal(t, http.StatusOK, code)
			require.Len(t, body["tasks"], 1)
			code, body = f.call(t, "PATCH", "/api/v1/tasks/"+taskID, `{"snoozed_until":null}`)
			require.Equal(t, http.StatusOK, code)
			require.Equal(t, "open", body["status"])
			code, body = f.call(t, "PATCH", "/api/v1/tasks/"+taskID, `{"status":"done"}`)
			require.Equal(t, http.StatusOK, code)
			require.Equal(t, "done", body["status"])
			require.NotEmpty(t, body["completed_by"])
			code, body = f.call(t, "GET", "/api/v1/tasks?status=done", "")
			require.Equal(t, http.StatusOK, code)
			require.Len(t, body["tasks"], 1)

			code, body = f.call(t, "GET", "/api/v1/tasks?status=late", "")
			require.Equal(t, http.StatusBadRequest, code)
			_, field := webtest.ErrorOf(t, body)
			require.Equal(t, "status", field)

			// Retry: a step that did not fail, an unknown step, an unknown
			// run, then the failed one.
			code, body = f.call(t, "POST", "/api/v1/runs/"+id+"/steps/1/retry", "")
			require.Equal(t, http.StatusConflict, code)
			c, _ := webtest.ErrorOf(t, body)
			require.Equal(t, "not_failed", c)
			code, _ = f.call(t, "POST", "/api/v1/runs/"+id+"/steps/nope/retry", "")
			require.Equal(t, http.StatusNotFound, code)
			code, _ = f.call(t, "POST", "/api/v1/runs/nope/steps/1/retry", "")
			require.Equal(t, http.StatusNotFound, code)
			code, body = f.call(t, "POST", "/api/v1/runs/"+id+"/steps/welcome/retry", "")
			require.Equal(t, http.StatusAccepted, code)
			require.Equal(t, "running", body["run"].(map[string]any)["status"])
		})
	}
}
