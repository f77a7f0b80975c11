package playbook

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/notify"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// TestAbandonedStepRunsAgainAfterItsLease: a step claimed by a server that
// then died (its lease ran out, nothing renews it) runs again as soon as a
// live engine sweeps, not when River's rescuer gets to its job minutes
// later, and its task is created once.
func TestAbandonedStepRunsAgainAfterItsLease(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		live := applyMap(t, st, "http://127.0.0.1:1/hook")
		seedAccount(t, st, "globex", nil)
		clk := newClock()
		cfg := fastConfig()
		cfg.StepLease = time.Second
		e, err := New(Options{Store: st, Journey: live, Config: cfg, Now: clk.Now})
		require.NoError(t, err)
		// The engine is not running: the run's first step stays due.
		id, _, err := e.Launch(ctx, RunRequest{AccountID: "globex", MomentID: "rescue", Occurrence: "o", MapVersion: 1, Trigger: TriggerCSM})
		require.NoError(t, err)
		// A worker of a server that died claimed it, and its lease is over.
		_, ok, err := st.ClaimStep(ctx, store.StepLease{RunID: id, Index: 0, Gen: 1}, clk.Now(), time.Now().Add(-time.Millisecond))
		require.NoError(t, err)
		require.True(t, ok)
		_, ok, err = st.ClaimStep(ctx, store.StepLease{RunID: id, Index: 0, Gen: 1}, clk.Now(), time.Now().Add(time.Minute))
		require.NoError(t, err)
		require.False(t, ok, "a running step cannot be claimed a second time")

		start := time.Now()
		require.NoError(t, e.Start(ctx))
		t.Cleanup(func() { _ = e.Stop(context.Background()) })
		run := waitRun(t, st, id, status(store.RunDone))
		took := time.Since(start)
		require.Less(t, took, 5*time.Second)
		require.Equal(t, 2, run.Steps[0].Attempts, "the abandoned attempt and the one that finished")
		require.Empty(t, run.Steps[0].Error, "the interruption is cleared once the step finishes")
		tasks, _, err := st.ListTasks(ctx, store.TaskFilter{RunID: id}, clk.Now(), store.Page{})
		require.NoError(t, err)
		require.Len(t, tasks, 1)
		t.Logf("abandoned step recovered and the run finished in %s", took.Round(time.Millisecond))
	})
}

// TestSlowLiveStepIsNotRunTwice: a webhook receiver that takes three
// leases to answer gets one request; the step's server renews its lease
// all along, so no other generation of the step starts.
func TestSlowLiveStepIsNotRunTwice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.Open(t, store.SQLite)
	mail := startMailServer(t)
	var calls atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		time.Sleep(3200 * time.Millisecond)
	}))
	t.Cleanup(hook.Close)
	live := applyMap(t, st, hook.URL+"/hook")
	seedAccount(t, st, "soylent", nil)
	clk := newClock()
	cfg := fastConfig()
	cfg.SMTP = mail.config()
	cfg.StepLease = time.Second
	cfg.Webhook = notify.SenderConfig{MaxAttempts: 1, Timeout: 10 * time.Second, Allow: loopback}
	e := newEngine(t, st, live, clk, cfg)
	id, _, err := e.Launch(ctx, RunRequest{AccountID: "soylent", MomentID: "kickoff", Occurrence: "o", MapVersion: 1,
		Trigger: TriggerCSM, ContactID: "sponsor-soylent"})
	require.NoError(t, err)
	// While the receiver holds the webhook, River lists its job as running.
	require.Eventually(t, func() bool { return calls.Load() == 1 }, 10*time.Second, 10*time.Millisecond)
	e.mu.Lock()
	q := e.q
	e.mu.Unlock()
	jobs, err := q.running(ctx)
	require.NoError(t, err)
	// The webhook is the run's third step, run by the job of its first
	// (the steps fall due at once: runStep's chain).
	require.Len(t, jobs, 1)
	require.Equal(t, stepArgs{RunID: id, Step: 0, Gen: 1}, jobs[0].args)
	require.WithinDuration(t, time.Now(), jobs[0].attemptedAt, 5*time.Second)
	deadline := time.Now().Add(15 * time.Second)
	var run store.Run
	for {
		run, err = st.Run(ctx, id)
		require.NoError(t, err)
		if run.Status == store.RunWaiting || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.Equal(t, store.RunWaiting, run.Status)
	require.EqualValues(t, 1, calls.Load(), "the slow webhook was sent once")
	require.Equal(t, 1, run.Steps[2].Attempts)
	require.Equal(t, 1, run.Steps[2].Gen, "no other generation of the step started")
}

// stubQueue records what the engine hands over and reports running jobs
// as told, so a job a dead worker took can be simulated.
type stubQueue struct {
	mu       sync.Mutex
	inserted []stepArgs
	jobs     []runningJob
}

func (q *stubQueue) insert(_ context.Context, args []stepArgs) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.inserted = append(q.inserted, args...)
	return nil
}

func (q *stubQueue) running(context.Context) ([]runningJob, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]runningJob(nil), q.jobs...), nil
}

func (q *stubQueue) stop(context.Context) error { return nil }

// TestUnclaimedJobOfADeadWorkerRunsAgain: the job queue handed a step's
// job to a worker that died before claiming the step. Once the job has been
// running for a whole lease with its step still unclaimed, the step is
// handed over again under a new generation; a job running for less than a
// lease is left alone.
func TestUnclaimedJobOfADeadWorkerRunsAgain(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		live := applyMap(t, st, "http://127.0.0.1:1/hook")
		seedAccount(t, st, "acme", nil)
		clk := newClock()
		cfg := fastConfig()
		cfg.StepLease = time.Second
		e, err := New(Options{Store: st, Journey: live, Config: cfg, Now: clk.Now})
		require.NoError(t, err)
		q := &stubQueue{}
		e.q = q
		id, _, err := e.Launch(ctx, RunRequest{AccountID: "acme", MomentID: "rescue", Occurrence: "o", MapVersion: 1, Trigger: TriggerCSM})
		require.NoError(t, err)
		require.Equal(t, []stepArgs{{RunID: id, Step: 0, Gen: 1}}, q.inserted, "handed over at start")

		wall := time.Now()
		e.wall = func() time.Time { return wall }
		q.jobs = []runningJob{{args: stepArgs{RunID: id, Step: 0, Gen: 1}, attemptedAt: wall.Add(-500 * time.Millisecond)}}
		require.NoError(t, e.Sweep(ctx))
		require.Len(t, q.inserted, 1, "a worker that took the job half a lease ago may still claim it")

		wall = wall.Add(time.Second)
		require.NoError(t, e.Sweep(ctx))
		require.Equal(t, []stepArgs{{RunID: id, Step: 0, Gen: 1}, {RunID: id, Step: 0, Gen: 2}}, q.inserted)
		row, err := st.StepTx(ctx, st.DB(), id, 0)
		require.NoError(t, err)
		require.Equal(t, store.StepDue, row.Status)
		require.Equal(t, store.AbandonedStepError, row.Error)

		wall = wall.Add(time.Second)
		require.NoError(t, e.Sweep(ctx))
		require.Len(t, q.inserted, 2, "the old generation's job does not revive the step again")

		// The dead worker's job, rescued by River at last, does nothing.
		require.NoError(t, e.runStep(ctx, stepArgs{RunID: id, Step: 0, Gen: 1}, 2, 3))
		row, err = st.StepTx(ctx, st.DB(), id, 0)
		require.NoError(t, err)
		require.Equal(t, store.StepDue, row.Status)
		require.Zero(t, row.Attempts)
	})
}

// TestStepsDueAtOnceRunInOneJob: the steps of a run that fall due one
// after the other are run by the job of the first (runStep's chain), each
// recorded in its own transaction as before, instead of one job each.
func TestStepsDueAtOnceRunInOneJob(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		mail, hook := startMailServer(t), startHookServer(t)
		live := applyMap(t, st, hook.URL+"/hook")
		clk := newClock()
		cfg := fastConfig()
		cfg.SMTP = mail.config()
		e := newEngine(t, st, live, clk, cfg)
		seedAccount(t, st, "initech", nil)
		id, _, err := e.Launch(ctx, RunRequest{AccountID: "initech", MomentID: "kickoff", Occurrence: "o", MapVersion: 1,
			Trigger: TriggerCSM, ContactID: "sponsor-initech"})
		require.NoError(t, err)
		run := waitRun(t, st, id, status(store.RunWaiting))
		require.GreaterOrEqual(t, len(run.Steps), 4, "three steps done, the fourth waiting")
		for _, s := range run.Steps[:3] {
			require.Equal(t, store.StepDone, s.Status, s.Key)
			require.Equal(t, 1, s.Attempts, s.Key)
		}
		var jobs int
		require.NoError(t, st.DB().QueryRowContext(ctx, "SELECT count(*) FROM river_job").Scan(&jobs))
		require.Equal(t, 1, jobs, "one job ran the three steps")
	})
}
