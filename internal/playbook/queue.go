package playbook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/moments-cs/moments/internal/store"
)

// stepArgs is one River job: run one generation of one step. The job holds
// nothing else; everything a step needs is read from the run's rows.
type stepArgs struct {
	RunID string `json:"run"`
	Step  int    `json:"step"`
	Gen   int    `json:"gen"`
	// Tried counts the attempts the step generation had before its job:
	// a step run in a chain (runStep) that failed is handed to the queue
	// with Tried 1, so that its job's attempts are the rest of
	// Config.MaxAttempts, the first of them after Config.RetryDelay(1).
	Tried int `json:"tried,omitempty"`
}

// lease names the step generation the job runs, as the store keys it.
func (a stepArgs) lease() store.StepLease {
	return store.StepLease{RunID: a.RunID, Index: a.Step, Gen: a.Gen}
}

// Kind is the River job kind.
func (stepArgs) Kind() string { return "playbook_step" }

// queue is the job queue as the engine uses it; River on SQLite and on
// PostgreSQL differ only in their transaction type, which the engine never
// touches (see dispatch: jobs are handed over after the step rows commit).
type queue interface {
	insert(ctx context.Context, args []stepArgs) error
	// running lists the step jobs handed to a worker, in any process, and
	// when each was handed over.
	running(ctx context.Context) ([]runningJob, error)
	stop(ctx context.Context) error
}

// runningJob is a step job the queue handed to a worker.
type runningJob struct {
	args        stepArgs
	attemptedAt time.Time
}

type riverQueue[TTx any] struct {
	client  *river.Client[TTx]
	closeFn func()
	opts    *river.InsertOpts
	// delay is Config.RetryDelay, for a job of a step tried before.
	delay func(attempt int) time.Duration
}

func (q *riverQueue[TTx]) insert(ctx context.Context, args []stepArgs) error {
	params := make([]river.InsertManyParams, len(args))
	for i, a := range args {
		opts := q.opts
		if a.Tried > 0 {
			o := *q.opts
			o.MaxAttempts = max(q.opts.MaxAttempts-a.Tried, 1)
			o.ScheduledAt = time.Now().Add(q.delay(a.Tried))
			opts = &o
		}
		params[i] = river.InsertManyParams{Args: a, InsertOpts: opts}
	}
	_, err := q.client.InsertMany(ctx, params)
	return err
}

func (q *riverQueue[TTx]) running(ctx context.Context) ([]runningJob, error) {
	var out []runningJob
	params := river.NewJobListParams().Kinds(stepArgs{}.Kind()).States(rivertype.JobStateRunning).First(1000)
	for {
		res, err := q.client.JobList(ctx, params)
		if err != nil {
			return nil, fmt.Errorf("list running steps in the job queue: %w", err)
		}
		for _, j := range res.Jobs {
			var a stepArgs
			if json.Unmarshal(j.EncodedArgs, &a) != nil || j.AttemptedAt == nil {
				continue
			}
			out = append(out, runningJob{args: a, attemptedAt: *j.AttemptedAt})
		}
		if len(res.Jobs) < 1000 || res.LastCursor == nil {
			return out, nil
		}
		params = params.After(res.LastCursor)
	}
}

// stop lets running steps finish until ctx ends, then cancels them and
// waits for them to record their state; a step cut short runs again after
// the restart (its job is retried by River).
func (q *riverQueue[TTx]) stop(ctx context.Context) error {
	err := q.client.Stop(ctx)
	if err != nil && ctx.Err() != nil {
		hctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = q.client.StopAndCancel(hctx)
	}
	if q.closeFn != nil {
		q.closeFn()
	}
	return err
}

// newQueue applies River's migrations and starts a River client on the
// store's database: on SQLite the store's single write connection (River
// advises one connection, and sharing the store's avoids "database is
// locked" between two writers); on PostgreSQL a pgx pool opened from the
// store's URL, whose search_path (if any) puts River's tables in the
// store's schema.
func newQueue(ctx context.Context, e *Engine) (queue, error) {
	switch e.st.Dialect() {
	case store.SQLite:
		return startRiver(ctx, e, riversqlite.New(e.db), nil)
	case store.Postgres:
		pool, err := pgxpool.New(ctx, e.st.URL())
		if err != nil {
			return nil, fmt.Errorf("connect the job queue to PostgreSQL: %w", err)
		}
		q, err := startRiver(ctx, e, riverpgxv5.New(pool), pool.Close)
		if err != nil {
			pool.Close()
		}
		return q, err
	}
	return nil, fmt.Errorf("playbooks do not support the %s database", e.st.Dialect())
}

func startRiver[TTx any](ctx context.Context, e *Engine, drv riverdriver.Driver[TTx], closeFn func()) (queue, error) {
	m, err := rivermigrate.New(drv, &rivermigrate.Config{Logger: e.log})
	if err != nil {
		return nil, fmt.Errorf("load the job queue's migrations: %w", err)
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return nil, fmt.Errorf("apply the job queue's migrations: %w", err)
	}
	for _, v := range res.Versions {
		e.log.Info("job queue migration applied", "version", v.Version, "name", v.Name)
	}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &stepWorker{e: e}); err != nil {
		return nil, err
	}
	poll := max(e.cfg.PollInterval/20, 50*time.Millisecond)
	c, err := river.NewClient(drv, &river.Config{
		Logger:            e.log,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: e.cfg.Workers}},
		Workers:           workers,
		FetchPollInterval: poll,
		FetchCooldown:     min(poll, 20*time.Millisecond),
		// A step bounds its own I/O (SMTP 30s, webhooks 10s per attempt
		// with backoff); this is the backstop.
		JobTimeout: 3 * time.Minute,
		// After a crash, a step's job stays "running" in River until the
		// rescuer retries it. The engine does not wait for that: it runs
		// an abandoned step again under a new generation once its lease
		// ends (lease.go), and the rescued job then finds its generation
		// superseded and does nothing. Rescuing sooner would not help and
		// is unsafe: River cannot tell a dead worker from a slow one.
		RescueStuckJobsAfter: 5 * time.Minute,
		MaxAttempts:          e.cfg.MaxAttempts,
	})
	if err != nil {
		return nil, fmt.Errorf("set up the job queue: %w", err)
	}
	if err := c.Start(ctx); err != nil {
		return nil, fmt.Errorf("start the job queue: %w", err)
	}
	return &riverQueue[TTx]{client: c, closeFn: closeFn, delay: e.cfg.RetryDelay, opts: &river.InsertOpts{
		MaxAttempts: e.cfg.MaxAttempts,
		// The unique key is the whole args: (run, step, generation). A
		// step handed over twice becomes one job.
		UniqueOpts: river.UniqueOpts{ByArgs: true},
	}}, nil
}

// stepWorker runs one step generation as a River job.
type stepWorker struct {
	river.WorkerDefaults[stepArgs]
	e *Engine
}

func (w *stepWorker) Work(ctx context.Context, job *river.Job[stepArgs]) error {
	// A job of a step tried before (Tried) carries the rest of its
	// attempts: they are counted on from the ones it had.
	err := w.e.runStep(ctx, job.Args, job.Attempt+job.Args.Tried, job.MaxAttempts+job.Args.Tried)
	var cancel *permanentError
	if errors.As(err, &cancel) {
		// Recorded as failed on the run; the job queue need not retry.
		return river.JobCancel(err)
	}
	return err
}

// NextRetry spaces a step's attempts by Config.RetryDelay.
func (w *stepWorker) NextRetry(job *river.Job[stepArgs]) time.Time {
	return time.Now().Add(w.e.cfg.RetryDelay(job.Attempt))
}
