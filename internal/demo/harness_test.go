package demo_test

import (
	"context"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/app"
	"github.com/moments-cs/moments/internal/demo"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/playbook"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// server is a real installation: internal/app on a fresh store, behind a
// real HTTP server, with the example map applied.
type server struct {
	url      string
	app      *app.App
	store    *store.Store
	adminKey string
	writeKey string
	clock    *clock
	sinks    *demo.Sinks
}

// clock is the installation's clock: real time, moved ahead by a test to
// let scheduled moments fall due.
type clock struct{ ahead atomic.Int64 }

func (c *clock) now() time.Time { return time.Now().UTC().Add(time.Duration(c.ahead.Load())) }

// advance moves the clock d ahead of real time.
func (c *clock) advance(d time.Duration) { c.ahead.Store(int64(d)) }

func startServer(t testing.TB, d store.Dialect) *server {
	t.Helper()
	ctx := context.Background()
	st := storetest.Open(t, d)
	clk := &clock{}
	sinks, err := demo.StartSinks()
	require.NoError(t, err)
	t.Cleanup(func() { _ = sinks.Close() })
	a, err := app.New(ctx, st, app.Options{Now: clk.now, Playbook: playbook.Config{SMTP: sinks.SMTP(), Webhook: sinks.Webhook()}})
	require.NoError(t, err)
	admin, _, err := a.Keys.Bootstrap(ctx)
	require.NoError(t, err)
	// The demo plays the vendor's backend: a server key sets contacts'
	// emails and accounts' owners.
	_, write, err := a.Keys.CreateServer(ctx, "demo backend")
	require.NoError(t, err)
	require.NoError(t, a.Start(ctx))
	t.Cleanup(func() { _ = a.Stop(context.Background()) })
	res, err := a.Journey.Apply(ctx, "examples/b2b-saas.yaml", sinks.Map(), "demo test")
	require.NoError(t, err)
	require.False(t, journey.HasErrors(res.Diagnostics), "%v", res.Diagnostics)
	hs := httptest.NewServer(a.Handler())
	t.Cleanup(hs.Close)
	return &server{url: hs.URL, app: a, store: st, adminKey: admin, writeKey: write, clock: clk, sinks: sinks}
}
