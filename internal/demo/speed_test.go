package demo_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/demo"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// TestDefaultDemoSpeed sends the default company (300 accounts, 12 months)
// to an in-process installation with the example map applied and reports
// how long it took. It is opt-in (MOMENTS_DEMO_SPEED=1, or =postgres to run
// it on MOMENTS_TEST_POSTGRES_URL): it takes several seconds of both cores.
// MOMENTS_DEMO_ACCOUNTS sends fewer (or more) accounts.
//
//	MOMENTS_DEMO_SPEED=1 go test -run TestDefaultDemoSpeed -v ./internal/demo
func TestDefaultDemoSpeed(t *testing.T) {
	mode := os.Getenv("MOMENTS_DEMO_SPEED")
	if mode == "" {
		t.Skip("set MOMENTS_DEMO_SPEED=1 to measure the default demo")
	}
	d := store.SQLite
	if mode == "postgres" {
		d = storetest.Dialects()[len(storetest.Dialects())-1]
		require.Equal(t, store.Postgres, d, "MOMENTS_DEMO_SPEED=postgres needs MOMENTS_TEST_POSTGRES_URL")
	}
	var cfg demo.Config
	if n, err := strconv.Atoi(os.Getenv("MOMENTS_DEMO_ACCOUNTS")); err == nil {
		cfg.Accounts = n
	}
	s := startServer(t, d)
	start := time.Now()
	res, err := demo.Generate(context.Background(), cfg, demo.Target{URL: s.url, WriteKey: s.writeKey}, nil)
	require.NoError(t, err)
	t.Logf("%d events for %d accounts sent in %s (%.0f events/s); %s with inventing the history",
		res.Messages, len(res.Histories), res.Elapsed.Round(10*time.Millisecond),
		float64(res.Messages)/res.Elapsed.Seconds(), time.Since(start).Round(10*time.Millisecond))
}
