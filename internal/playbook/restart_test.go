package playbook

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/notify"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// TestRestartMidPlaybook stops the engine while a webhook step is in
// flight (the receiver hangs), reopens the same SQLite directory, and
// checks that the run finishes with no task lost or duplicated, the email
// sent once, and the webhook repeated with the same idempotency key.
func TestRestartMidPlaybook(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfgStore := storetest.Config(t, store.SQLite)
	mail := startMailServer(t)

	var (
		mu      sync.Mutex
		keys    []string
		release = make(chan struct{})
		arrived = make(chan struct{}, 1)
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get(notify.IdempotencyKeyHeader))
		first := len(keys) == 1
		mu.Unlock()
		if first {
			arrived <- struct{}{}
			select { // hang until the test lets go: the step is in flight
			case <-release:
			case <-r.Context().Done():
			}
			http.Error(w, "gone", http.StatusBadGateway)
		}
	}))
	t.Cleanup(hook.Close)
	defer close(release)

	clk := newClock()
	cfg := fastConfig()
	cfg.SMTP = mail.config()
	cfg.WebhookSecret = ""

	open := func() (*store.Store, *Engine) {
		st, err := store.Open(ctx, cfgStore)
		require.NoError(t, err)
		e, err := New(Options{Store: st, Journey: journey.NewLive(st), Config: cfg, Now: clk.Now})
		require.NoError(t, err)
		st.OnIngest(e.OnIngest)
		require.NoError(t, e.Start(ctx))
		return st, e
	}

	st, e := open()
	applyMap(t, st, hook.URL+"/hook")
	seedAccount(t, st, "initech", nil)
	id, _, err := e.Launch(ctx, RunRequest{AccountID: "initech", MomentID: "kickoff", Occurrence: "csm:restart",
		MapVersion: 1, Trigger: TriggerCSM, ContactID: "sponsor-initech"})
	require.NoError(t, err)
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the webhook step never ran")
	}
	// Shut down with the webhook in flight: a graceful stop that runs out
	// of time cancels the step, which runs again after the restart.
	sctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	require.NoError(t, e.Stop(sctx))
	cancel()
	require.NoError(t, st.Close())

	st, e = open()
	defer func() {
		_ = e.Stop(ctx)
		_ = st.Close()
	}()
	waitRun(t, st, id, status(store.RunWaiting))
	track(t, st, "initech", "Integration Connected")
	run := waitRun(t, st, id, status(store.RunDone))
	require.Equal(t, map[string]string{"1": "done", "2": "done", "3": "done", "wait_connect": "done", "5": "done"}, stepStatuses(run))

	tasks, _, err := st.ListTasks(ctx, store.TaskFilter{RunID: id}, clk.Now(), store.Page{})
	require.NoError(t, err)
	require.Len(t, tasks, 2, "no task lost or duplicated")
	require.Len(t, mail.received(), 1, "the email, sent before the restart, is not sent again")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, keys, 2, "the webhook cut short is sent again")
	require.Equal(t, keys[0], keys[1], "with the same idempotency key")
	require.Equal(t, "run-"+id+"-step-3", keys[0])
}

// TestEmailWithoutSMTPFailsVisiblyAndRetries runs an email step with no
// mail server configured: the step fails with a message that says what to
// do, and once retried with email configured, sends.
func TestEmailWithoutSMTPFailsVisiblyAndRetries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfgStore := storetest.Config(t, store.SQLite)
	st, err := store.Open(ctx, cfgStore)
	require.NoError(t, err)
	live := applyMap(t, st, "http://127.0.0.1:1/hook")
	clk := newClock()
	e, err := New(Options{Store: st, Journey: live, Config: fastConfig(), Now: clk.Now})
	require.NoError(t, err)
	st.OnIngest(e.OnIngest)
	require.NoError(t, e.Start(ctx))
	seedAccount(t, st, "umbrella", nil)
	id, _, err := e.Launch(ctx, RunRequest{AccountID: "umbrella", MomentID: "mailer", Occurrence: "o", MapVersion: 1,
		Trigger: TriggerCSM, ContactID: "sponsor-umbrella"})
	require.NoError(t, err)
	run := waitRun(t, st, id, status(store.RunFailed))
	require.Equal(t, store.StepFailed, run.Steps[0].Status)
	require.Contains(t, run.Steps[0].Error, "email is not configured")
	require.Contains(t, run.Steps[0].Error, "MOMENTS_SMTP_HOST")
	require.Equal(t, 3, run.Steps[0].Attempts, "retried up to MaxAttempts")
	require.Contains(t, run.Error, "step 1 failed")
	require.ErrorIs(t, e.RetryStep(ctx, id, "1"), nil)
	waitRun(t, st, id, status(store.RunFailed))
	require.NoError(t, e.Stop(ctx))
	require.NoError(t, st.Close())

	// Configure email, restart, retry the step from the API's entry point.
	mail := startMailServer(t)
	st, err = store.Open(ctx, cfgStore)
	require.NoError(t, err)
	defer st.Close()
	cfg := fastConfig()
	cfg.SMTP = mail.config()
	e, err = New(Options{Store: st, Journey: journey.NewLive(st), Config: cfg, Now: clk.Now})
	require.NoError(t, err)
	st.OnIngest(e.OnIngest)
	require.NoError(t, e.Start(ctx))
	defer e.Stop(ctx) //nolint:errcheck
	require.ErrorIs(t, e.RetryStep(ctx, id, "2"), store.ErrNotFound)
	require.NoError(t, e.RetryStep(ctx, id, "1"))
	require.ErrorIs(t, e.RetryStep(ctx, id, "1"), store.ErrStepNotFailed, "a step that is not failed is not retried")
	run = waitRun(t, st, id, status(store.RunDone))
	require.Empty(t, run.Steps[0].Error)
	require.Equal(t, "retry", run.Steps[0].Wake)
	require.Len(t, mail.received(), 1)
	require.Equal(t, "<"+messageID(id, 0, "sponsor-umbrella@customer.example")+"@vendor.example>", mail.received()[0].Header.Get("Message-Id"))
}

// TestWebhookRetriedWithTheSameKey: a receiver that answers 503 twice gets
// three deliveries with one idempotency key, all signed.
func TestWebhookRetriedWithTheSameKey(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		mail, hook := startMailServer(t), startHookServer(t)
		hook.failures = 2
		live := applyMap(t, st, hook.URL+"/hook")
		clk := newClock()
		cfg := fastConfig()
		cfg.SMTP = mail.config()
		e := newEngine(t, st, live, clk, cfg)
		seedAccount(t, st, "hooli", nil)
		id, _, err := e.Launch(ctx, RunRequest{AccountID: "hooli", MomentID: "kickoff", Occurrence: "o", MapVersion: 1, Trigger: TriggerCSM})
		require.NoError(t, err)
		waitRun(t, st, id, status(store.RunWaiting))
		keys, bodies := hook.received()
		require.Equal(t, []string{"run-" + id + "-step-3", "run-" + id + "-step-3", "run-" + id + "-step-3"}, keys)
		require.Len(t, bodies, 1)
		require.Zero(t, hook.badSigs)
		sends, err := st.AccountSends(ctx, "hooli", id, 10)
		require.NoError(t, err)
		var hooks []store.Send
		for _, s := range sends {
			if s.Kind == "webhook" {
				hooks = append(hooks, s)
			}
		}
		require.Len(t, hooks, 1)
		require.Equal(t, store.SendSent, hooks[0].Status)
		require.Equal(t, 3, hooks[0].Attempts)
	})
}

// TestChainedStepKeepsItsAttempts: the webhook step runs in the chain of
// the steps before it (no job of its own); a receiver that fails every
// delivery gets MaxAttempts of them in all, the chain's try counted as the
// first, and the run fails.
func TestChainedStepKeepsItsAttempts(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		mail, hook := startMailServer(t), startHookServer(t)
		hook.failures = 100
		live := applyMap(t, st, hook.URL+"/hook")
		cfg := fastConfig()
		cfg.SMTP = mail.config()
		e := newEngine(t, st, live, newClock(), cfg)
		seedAccount(t, st, "pied-piper", nil)
		id, _, err := e.Launch(ctx, RunRequest{AccountID: "pied-piper", MomentID: "kickoff", Occurrence: "o", MapVersion: 1, Trigger: TriggerCSM})
		require.NoError(t, err)
		run := waitRun(t, st, id, status(store.RunFailed))
		require.Len(t, run.Steps, 3)
		require.Equal(t, cfg.MaxAttempts, run.Steps[2].Attempts)
		require.Contains(t, run.Steps[2].Error, "gave up after 3 attempts")
		keys, _ := hook.received()
		require.Len(t, keys, cfg.MaxAttempts, "one delivery per attempt")
	})
}
