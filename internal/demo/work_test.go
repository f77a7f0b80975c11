package demo_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/examples"
	"github.com/moments-cs/moments/internal/demo"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
	"github.com/moments-cs/moments/internal/vocab"
)

// TestWorkTasks checks the demo's CSMs: about four tasks in five done,
// each after its occurrence, two thirds of those within the target of the
// ideal step the task shows (contract_signed's hand-over: one business
// day), each with 10–90 minutes of effort; none completed in the future.
func TestWorkTasks(t *testing.T) {
	t.Parallel()
	m, diags := journey.Parse("b2b-saas.yaml", examples.B2BSaaS)
	require.False(t, journey.HasErrors(diags))
	st := storetest.Open(t, store.SQLite)
	ctx := context.Background()
	now := time.Date(2026, 6, 30, 12, 0, 0, 0, time.UTC)
	const n = 200
	occurred := map[string]time.Time{}
	for i := range n {
		id := fmt.Sprintf("r%d", i)
		// Monday 1 June at 09:00, or (the last ten) ten minutes ago.
		at := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
		if i >= n-10 {
			at = now.Add(-10 * time.Minute)
		}
		occurred[id+"-t"] = at
		_, _, err := st.InsertRunTx(ctx, st.DB(), store.Run{ID: id, AccountID: "a", MomentID: "contract_signed", Occurrence: id,
			MapVersion: 1, Category: "lifecycle", Status: store.RunRunning, CreatedAt: now, OccurredAt: at})
		require.NoError(t, err)
		_, err = st.InsertStepTx(ctx, st.DB(), store.RunStep{RunID: id, Index: 0, Key: "handoff", Kind: "task", AccountID: "a",
			Status: store.StepDone, CreatedAt: now})
		require.NoError(t, err)
		_, err = st.InsertTaskTx(ctx, st.DB(), store.Task{ID: id + "-t", RunID: id, AccountID: "a", MomentID: "contract_signed",
			Title: "Hand over", CreatedAt: now})
		require.NoError(t, err)
	}
	w, err := demo.WorkTasks(ctx, st, m, now, 0)
	require.NoError(t, err)
	require.Equal(t, n, w.Tasks)
	require.InDelta(t, 0.8*(n-10), w.Done, 20)
	require.InDelta(t, 0.65*float64(w.Done), w.OnTime, 15)
	tasks, _, err := st.ListTasks(ctx, store.TaskFilter{Status: vocab.TaskDone}, now, store.Page{Limit: 500})
	require.NoError(t, err)
	require.Len(t, tasks, w.Done)
	onTime := 0
	for _, task := range tasks {
		at := occurred[task.ID]
		require.True(t, task.CompletedAt.After(at), task.ID)
		require.False(t, task.CompletedAt.After(now), task.ID)
		// The hand-over's target is one business day: Tuesday 09:00.
		if !task.CompletedAt.After(time.Date(2026, 6, 2, 9, 0, 0, 0, time.UTC)) {
			onTime++
		}
	}
	require.Equal(t, w.OnTime, onTime)
	require.GreaterOrEqual(t, w.EffortMinutes, 10*w.Done)
	require.LessOrEqual(t, w.EffortMinutes, 90*w.Done)
}
