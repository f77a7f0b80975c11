package trigger_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/health"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// TestHealthSignals checks usage_drop (once per episode, from the health
// tracker's flag) and quadrant_drop from a recompute (QuadrantDropped). The
// health state is written directly: producing a usage drop through events
// would take weeks of fake history, which the health package tests.
func TestHealthSignals(t *testing.T) {
	t.Parallel()
	m := mapHeader +
		moment("usage", `{category: customer_event, signal: usage_drop}`) +
		moment("drop", `{category: customer_event, signal: quadrant_drop, when: 'account.plan == "pro"'}`)
	e := setup(t, storetest.Dialects()[0], m)
	ctx := context.Background()
	e.batch(t, group("acme", map[string]any{"plan": "pro"}), group("globex", map[string]any{"plan": "free"}))
	setDrop := func(account string, dropped bool) {
		v := 0
		if dropped {
			v = 1
		}
		_, err := e.st.DB().ExecContext(ctx, `INSERT INTO account_health (account_id, usage_drop, version, updated_at) VALUES ($1, $2, 1, 0)
			ON CONFLICT (account_id) DO UPDATE SET usage_drop = excluded.usage_drop, version = account_health.version + 1`, account, v)
		require.NoError(t, err)
	}
	tick := func(at time.Time) {
		e.clock.Set(at)
		require.NoError(t, e.app.Triggers.Tick(ctx))
	}
	setDrop("acme", true)
	tick(day0)
	require.Len(t, e.runs(t, "acme", "usage"), 1)
	tick(day0.Add(2 * time.Hour))
	tick(day0.Add(30 * time.Hour))
	require.Len(t, e.runs(t, "acme", "usage"), 1, "one run per episode")
	setDrop("acme", false)
	tick(day0.Add(50 * time.Hour))
	setDrop("acme", true)
	tick(day0.Add(75 * time.Hour))
	require.Len(t, e.runs(t, "acme", "usage"), 2, "a new episode after recovery")

	tx, err := e.st.DB().BeginTx(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, e.app.Triggers.QuadrantDropped(ctx, tx, "acme", health.QuadrantChampion, health.QuadrantAtRisk))
	require.NoError(t, e.app.Triggers.QuadrantDropped(ctx, tx, "acme", health.QuadrantAtRisk, health.QuadrantChampion))
	require.NoError(t, e.app.Triggers.QuadrantDropped(ctx, tx, "globex", health.QuadrantChampion, health.QuadrantAtRisk))
	require.NoError(t, tx.Commit())
	runs := e.runs(t, "acme", "drop")
	require.Len(t, runs, 1, "only the move to a worse quadrant")
	require.Contains(t, runs[0].Occurrence, "quadrant_drop:champion-at_risk:")
	require.Empty(t, e.runs(t, "globex", "drop"), "the condition does not hold")
}
