package trigger_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/auth"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/trigger"
)

// TestStartsAndBroadcastsAreAudited: a moment started by hand and a
// broadcast are in the audit trail, with who did them.
func TestStartsAndBroadcastsAreAudited(t *testing.T) {
	t.Parallel()
	e := setup(t, store.SQLite, mapHeader+moment("kickoff_call", `{category: csm}`)+moment("release", `{category: vendor}`))
	e.batch(t, map[string]any{"type": "group", "userId": "u1", "groupId": "acme", "traits": map[string]any{"name": "Acme"}})
	ctx := auth.WithActor(context.Background(), auth.UserActor("casey@vendor.example", "192.0.2.7"))
	started, err := e.app.Triggers.StartMoment(ctx, "acme", "kickoff_call", trigger.ManualStart{StartedBy: "casey@vendor.example"})
	require.NoError(t, err)
	require.True(t, started.Started)
	_, created, err := e.app.Triggers.Broadcast(ctx, trigger.BroadcastRequest{Moment: "release", StartedBy: "casey@vendor.example"})
	require.NoError(t, err)
	require.True(t, created)

	entries, _, err := e.app.Audit.List(ctx, store.AuditFilter{Actor: "user:casey@vendor.example"}, store.Page{})
	require.NoError(t, err)
	require.Len(t, entries, 2)
	require.Equal(t, auth.AuditBroadcast, entries[0].Action)
	require.Equal(t, "release", entries[0].Target)
	require.Equal(t, auth.AuditCSMStarted, entries[1].Action)
	require.Equal(t, "acme", entries[1].Target)
	require.Contains(t, entries[1].Detail, started.RunID)
	require.Equal(t, "192.0.2.7", entries[1].IP)
}
