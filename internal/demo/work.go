package demo

import (
	"context"
	"hash/fnv"
	"math/rand/v2"
	"time"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/vocab"
)

// TaskStore is what WorkTasks needs of the store.
type TaskStore interface {
	ListTasks(ctx context.Context, f store.TaskFilter, now time.Time, p store.Page) ([]store.Task, string, error)
	Run(ctx context.Context, id string) (store.Run, error)
	UpdateTask(ctx context.Context, id string, c store.TaskChange, now time.Time) (store.Task, error)
	RecordTaskEffort(ctx context.Context, taskID string, minutes int, now time.Time) error
}

// TaskWork is what the demo's CSMs did with the tasks the history's
// playbooks gave them.
type TaskWork struct {
	// Tasks counts the open tasks found; Done those completed, OnTime those
	// completed within their ideal step's target.
	Tasks, Done, OnTime int
	// EffortMinutes is the effort recorded on the completed tasks.
	EffortMinutes int
}

// Shares of the demo's task work: a CSM completes about four tasks in
// five, two thirds of those within the target of the ideal step the task
// shows (the rest up to four times later); the others stay open, skipped.
const (
	doneShare   = 0.8
	onTimeShare = 0.65
)

// WorkTasks plays the CSMs' part in the history: it completes a realistic
// share of the open playbook tasks at a time after the occurrence that
// made them (on time or late against the target of the ideal step the task
// shows; one day when no ideal step names it), with 10 to 90 minutes of
// effort each, so that task-bound ideal steps and the moments' cost have
// real figures. A completion that would fall after now stays open. The
// choices are drawn from each task's id, so a demo is the same every time.
// It first waits, up to settle, for the engine to make the tasks.
func WorkTasks(ctx context.Context, st TaskStore, m *journey.Map, now time.Time, settle time.Duration) (TaskWork, error) {
	var w TaskWork
	within := map[string]journey.Duration{} // moment/step → target
	for _, mo := range m.Moments {
		for _, s := range mo.Ideal {
			if d, err := journey.ParseDuration(s.Within); s.Task != "" && err == nil && !d.IsZero() {
				within[mo.ID+"/"+s.Task] = d
			}
		}
	}
	// The playbook engine makes the history's tasks in the background,
	// right behind ingestion: wait until their number holds for a second.
	var tasks []store.Task
	for deadline := time.Now().Add(settle); ; {
		again, err := openTasks(ctx, st, now)
		if err != nil {
			return w, err
		}
		if (len(again) == len(tasks) && len(tasks) > 0) || time.Now().After(deadline) {
			tasks = again
			break
		}
		tasks = again
		select {
		case <-ctx.Done():
			return w, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	done := vocab.TaskDone
	for _, t := range tasks {
		if t.RunID == "" {
			continue
		}
		w.Tasks++
		rng := rand.New(rand.NewPCG(seedOf(t.ID), 12))
		if rng.Float64() >= doneShare {
			continue
		}
		run, err := st.Run(ctx, t.RunID)
		if err != nil {
			return w, err
		}
		key := ""
		for _, s := range run.Steps {
			if s.Index == t.StepIndex {
				key = s.Key
			}
		}
		occurred := run.OccurredAt
		if occurred.IsZero() {
			occurred = run.CreatedAt
		}
		// The target as the step's deadline falls (business days skip
		// weekends), so "on time" here is on time in the reports.
		target := 24 * time.Hour
		if d, ok := within[t.MomentID+"/"+key]; ok {
			target = d.AddTo(occurred).Sub(occurred)
		}
		onTime := rng.Float64() < onTimeShare
		factor := 0.1 + 0.85*rng.Float64()
		if !onTime {
			factor = 1.1 + 2.9*rng.Float64()
		}
		at := occurred.Add(time.Duration(factor * float64(target)))
		if at.After(now) {
			continue
		}
		if _, err := st.UpdateTask(ctx, t.ID, store.TaskChange{Status: &done, By: t.Assignee}, at); err != nil {
			return w, err
		}
		effort := 10 + rng.IntN(81)
		if err := st.RecordTaskEffort(ctx, t.ID, effort, at); err != nil {
			return w, err
		}
		w.Done++
		w.EffortMinutes += effort
		if onTime {
			w.OnTime++
		}
	}
	return w, nil
}

// openTasks lists every open task.
func openTasks(ctx context.Context, st TaskStore, now time.Time) ([]store.Task, error) {
	var tasks []store.Task
	p := store.Page{Limit: 500}
	for {
		page, next, err := st.ListTasks(ctx, store.TaskFilter{Status: vocab.TaskOpen}, now, p)
		if err != nil {
			return nil, err
		}
		tasks = append(tasks, page...)
		if next == "" {
			return tasks, nil
		}
		p.Cursor = next
	}
}

func seedOf(id string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(id))
	return h.Sum64()
}
