package playbook

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
	"github.com/moments-cs/moments/internal/vocab"
)

func TestStartIsExactlyOncePerOccurrence(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		live := applyMap(t, st, "http://127.0.0.1:1/hook")
		e, err := New(Options{Store: st, Journey: live, Now: newClock().Now})
		require.NoError(t, err)
		req := RunRequest{AccountID: "acme", MomentID: "kickoff", Occurrence: "evt:42", MapVersion: 1, Trigger: TriggerCustomerEvent}
		const n = 40
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			ids     = map[string]bool{}
			started int
		)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id, ok, err := e.Launch(context.Background(), req)
				require.NoError(t, err)
				mu.Lock()
				ids[id] = true
				if ok {
					started++
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		require.Len(t, ids, 1, "every caller gets the same run")
		require.Equal(t, 1, started, "exactly one caller started it")
		count, err := st.CountRuns(context.Background(), "acme", "kickoff")
		require.NoError(t, err)
		require.Equal(t, 1, count)

		// Inside the ingestion transaction, a retried event starts nothing.
		st2 := req
		st2.Occurrence = "evt:43"
		tx, err := st.DB().BeginTx(context.Background(), nil)
		require.NoError(t, err)
		id1, ok1, err := e.LaunchTx(context.Background(), tx, st2)
		require.NoError(t, err)
		id2, ok2, err := e.LaunchTx(context.Background(), tx, st2)
		require.NoError(t, err)
		require.NoError(t, tx.Commit())
		require.True(t, ok1)
		require.False(t, ok2)
		require.Equal(t, id1, id2)
	})
}

func TestStartValidatesTheRequest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		req  RunRequest
		want string
	}{
		{"no account", RunRequest{MomentID: "m", Occurrence: "o", MapVersion: 1, Trigger: TriggerCSM}, "account id"},
		{"no moment", RunRequest{AccountID: "a", Occurrence: "o", MapVersion: 1, Trigger: TriggerCSM}, "moment id"},
		{"no occurrence", RunRequest{AccountID: "a", MomentID: "m", MapVersion: 1, Trigger: TriggerCSM}, "occurrence"},
		{"no version", RunRequest{AccountID: "a", MomentID: "m", Occurrence: "o", Trigger: TriggerCSM}, "map version"},
		{"bad trigger", RunRequest{AccountID: "a", MomentID: "m", Occurrence: "o", MapVersion: 1, Trigger: "cron"}, "trigger"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.req.Validate()
			require.ErrorIs(t, err, ErrInvalidRequest)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestPlaybookRunsEveryStepKind(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		mail, hook := startMailServer(t), startHookServer(t)
		live := applyMap(t, st, hook.URL+"/hook")
		clk := newClock()
		cfg := fastConfig()
		cfg.SMTP = mail.config()
		e := newEngine(t, st, live, clk, cfg)
		seedAccount(t, st, "acme", nil)

		id, ok, err := e.Launch(ctx, RunRequest{AccountID: "acme", MomentID: "kickoff", Occurrence: "csm:1", MapVersion: 1,
			Trigger: TriggerCSM, ContactID: "sponsor-acme", StartedBy: "csm@vendor.example"})
		require.NoError(t, err)
		require.True(t, ok)
		run := waitRun(t, st, id, status(store.RunWaiting))
		require.Equal(t, "wait_connect", run.CurrentStep)
		require.Equal(t, map[string]string{"1": "done", "2": "done", "3": "done", "wait_connect": "waiting"}, stepStatuses(run))

		// task: for the account's CSM, due in two business days.
		tasks, _, err := st.ListTasks(ctx, store.TaskFilter{RunID: id}, clk.Now(), store.Page{})
		require.NoError(t, err)
		require.Len(t, tasks, 1)
		require.Equal(t, "Hold the kickoff call", tasks[0].Title)
		require.Equal(t, "csm-acme@vendor.example", tasks[0].Assignee)
		require.Equal(t, clk.Now().AddDate(0, 0, 2), *tasks[0].DueAt)

		// email: to the sponsor, rendered, with the stable Message-ID.
		msgs := mail.received()
		require.Len(t, msgs, 1)
		require.Equal(t, "Welcome, Zoë", decodeSubject(t, msgs[0].Header.Get("Subject")))
		require.Equal(t, "<"+messageID(id, 1, "sponsor-acme@customer.example")+"@vendor.example>", msgs[0].Header.Get("Message-Id"))
		sends, err := st.AccountSends(ctx, "acme", id, 10)
		require.NoError(t, err)
		require.Len(t, sends, 2, "the email and the webhook are on the account's timeline")

		// webhook: signed (the receiver verified it), idempotency key from run and step.
		keys, bodies := hook.received()
		require.Equal(t, []string{"run-" + id + "-step-3"}, keys)
		require.Equal(t, "kickoff", bodies[0]["moment"].(map[string]any)["id"])
		require.Equal(t, "acme", bodies[0]["account"].(map[string]any)["id"])

		// wait until: the event arrives through ingestion and wakes the run.
		track(t, st, "other", "Integration Connected")
		time.Sleep(50 * time.Millisecond)
		run, err = st.Run(ctx, id)
		require.NoError(t, err)
		require.Equal(t, store.RunWaiting, run.Status, "another account's event does not wake it")
		track(t, st, "acme", "Integration Connected")
		run = waitRun(t, st, id, status(store.RunDone))
		require.Equal(t, map[string]string{"1": "done", "2": "done", "3": "done", "wait_connect": "done", "5": "done"},
			stepStatuses(run))
		require.Equal(t, "event", run.Steps[3].Wake)
		tasks, _, err = st.ListTasks(ctx, store.TaskFilter{RunID: id}, clk.Now(), store.Page{})
		require.NoError(t, err)
		require.Len(t, tasks, 2)
		require.Len(t, mail.received(), 1, "nothing was sent twice")
	})
}

func TestWaitTimesOutAndOverdueTaskEscalates(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		mail, hook := startMailServer(t), startHookServer(t)
		live := applyMap(t, st, hook.URL+"/hook")
		clk := newClock()
		cfg := fastConfig()
		cfg.SMTP = mail.config()
		e := newEngine(t, st, live, clk, cfg)
		seedAccount(t, st, "globex", nil)
		id, _, err := e.Launch(ctx, RunRequest{AccountID: "globex", MomentID: "kickoff", Occurrence: "csm:2", MapVersion: 1,
			Trigger: TriggerCSM, ContactID: "sponsor-globex"})
		require.NoError(t, err)
		run := waitRun(t, st, id, status(store.RunWaiting))
		require.Equal(t, clk.Now().AddDate(0, 0, 7), *run.Steps[3].DueAt)

		// Six days: still waiting. Eight: the wait times out and jumps to nudge.
		clk.Advance(6 * 24 * time.Hour)
		require.NoError(t, e.Sweep(ctx))
		run, err = st.Run(ctx, id)
		require.NoError(t, err)
		require.Equal(t, store.RunWaiting, run.Status)
		clk.Advance(2 * 24 * time.Hour)
		require.NoError(t, e.Sweep(ctx))
		run = waitRun(t, st, id, func(r store.Run) bool { return r.CurrentStep == "7" && r.Status == store.RunWaiting })
		require.Equal(t, "timeout", run.Steps[3].Wake)
		require.Equal(t, "nudge", run.Steps[3].Next)
		_, skipped := stepStatuses(run)["5"]
		require.False(t, skipped, "the celebrate step was jumped over")

		// The escalate step watches the nudge task until it is due (1 day).
		tasks, _, err := st.ListTasks(ctx, store.TaskFilter{RunID: id, Status: vocab.TaskOpen}, clk.Now(), store.Page{})
		require.NoError(t, err)
		titles := map[string]store.Task{}
		for _, tk := range tasks {
			titles[tk.Title] = tk
		}
		nudge := titles["Help them connect the integration"]
		require.Equal(t, 0, nudge.EscalationLevel)

		clk.Advance(25 * time.Hour)
		require.NoError(t, e.Sweep(ctx))
		run = waitRun(t, st, id, status(store.RunDone))
		require.Equal(t, "done", stepStatuses(run)["7"])
		got, err := st.Task(ctx, nudge.ID)
		require.NoError(t, err)
		require.GreaterOrEqual(t, got.EscalationLevel, 1)
		require.Equal(t, "critical", got.Severity)
		require.Equal(t, vocab.TaskEscalated, got.Display(clk.Now()))

		// The kickoff task (due in 2bd) is long overdue: the periodic check
		// escalated it once per level, and the owner team's lead was told.
		require.NoError(t, e.Sweep(ctx))
		escs, err := st.Escalations(ctx, "", id)
		require.NoError(t, err)
		require.NotEmpty(t, escs)
		for _, esc := range escs {
			require.Equal(t, store.EscalationNotified, esc.Status, "%+v", esc)
		}
		var toLead int
		for _, m := range mail.received() {
			if m.Header.Get("To") == "\"Customer Success lead\" <head-of-cs@vendor.example>" {
				toLead++
			}
		}
		require.Equal(t, len(escs), toLead, "one notice per escalation")
		before := len(escs)
		require.NoError(t, e.Sweep(ctx))
		escs, err = st.Escalations(ctx, "", id)
		require.NoError(t, err)
		require.Len(t, escs, before, "a sweep does not escalate the same level twice")
	})
}

func TestBranchAndConditionalEscalation(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		live := applyMap(t, st, "http://127.0.0.1:1/hook")
		clk := newClock()
		e := newEngine(t, st, live, clk, fastConfig())
		seedAccount(t, st, "big", map[string]any{"arr": 250000, "plan": "enterprise"})
		seedAccount(t, st, "small", map[string]any{"arr": 5000, "plan": "starter"})
		big, _, err := e.Launch(ctx, RunRequest{AccountID: "big", MomentID: "rescue", Occurrence: "o", MapVersion: 1, Trigger: TriggerCSM})
		require.NoError(t, err)
		small, _, err := e.Launch(ctx, RunRequest{AccountID: "small", MomentID: "rescue", Occurrence: "o", MapVersion: 1, Trigger: TriggerCSM})
		require.NoError(t, err)

		run := waitRun(t, st, big, status(store.RunDone))
		require.Equal(t, map[string]string{"1": "done", "big": "done", "4": "done"}, stepStatuses(run))
		tasks, _, err := st.ListTasks(ctx, store.TaskFilter{AccountID: "big"}, clk.Now(), store.Page{})
		require.NoError(t, err)
		require.Len(t, tasks, 1)
		require.Equal(t, "Call the sponsor", tasks[0].Title)
		require.Equal(t, "support", tasks[0].Assignee)
		require.Equal(t, 1, tasks[0].EscalationLevel, "the enterprise condition escalated it at once")
		require.Equal(t, "high", tasks[0].Severity)

		run = waitRun(t, st, small, status(store.RunDone))
		require.Equal(t, map[string]string{"1": "done", "small": "done"}, stepStatuses(run))
	})
}
