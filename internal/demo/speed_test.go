package demo_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/demo"
	"github.com/moments-cs/moments/internal/store"
)

// TestDefaultDemoSpeed sends the default company (300 accounts, 12 months)
// to an in-process installation and reports how long it took. It is
// opt-in (MOMENTS_DEMO_SPEED=1): it takes several seconds of both cores.
//
//	MOMENTS_DEMO_SPEED=1 go test -run TestDefaultDemoSpeed -v ./internal/demo
func TestDefaultDemoSpeed(t *testing.T) {
	if os.Getenv("MOMENTS_DEMO_SPEED") == "" {
		t.Skip("set MOMENTS_DEMO_SPEED=1 to measure the default demo")
	}
	s := startServer(t, store.SQLite)
	start := time.Now()
	res, err := demo.Generate(context.Background(), demo.Config{}, demo.Target{URL: s.url, WriteKey: s.writeKey}, nil)
	require.NoError(t, err)
	t.Logf("%d events for %d accounts sent in %s (%.0f events/s); %s with inventing the history",
		res.Messages, len(res.Histories), res.Elapsed.Round(10*time.Millisecond),
		float64(res.Messages)/res.Elapsed.Seconds(), time.Since(start).Round(10*time.Millisecond))
}
