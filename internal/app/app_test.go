package app

import (
	"context"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// TestIngestStagesRunInOrder checks the ingest pipeline New registers:
// health first (triggers read the health it writes in the same
// transaction), then triggers, then playbook wake-ups, each stage once.
func TestIngestStagesRunInOrder(t *testing.T) {
	t.Parallel()
	a, err := New(context.Background(), storetest.Open(t, store.SQLite), Options{})
	require.NoError(t, err)
	type stage struct{ name, hook string }
	var got []stage
	for _, s := range a.IngestStages() {
		fn := runtime.FuncForPC(reflect.ValueOf(s.Hook).Pointer()).Name()
		fn = fn[strings.LastIndex(fn, "/")+1:]
		got = append(got, stage{s.Name, strings.TrimSuffix(fn, "-fm")})
	}
	require.Equal(t, []stage{
		{"health", "tracker.(*Tracker).OnIngest"},
		{"triggers", "trigger.(*Engine).OnIngest"},
		{"playbook wake-ups", "playbook.(*Engine).OnIngest"},
	}, got)
}

// TestStartAndStop starts every background service and stops them again.
func TestStartAndStop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, err := New(ctx, storetest.Open(t, store.SQLite), Options{})
	require.NoError(t, err)
	require.NoError(t, a.Start(ctx))
	require.NoError(t, a.Stop(ctx))
}
