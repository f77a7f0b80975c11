// Package app assembles one Moments installation from its parts: the store,
// the live journey map, the engines that act on events, and the HTTP
// server. `moments serve`, `moments demo` and end-to-end tests all build it
// here, so they run the same system.
package app

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/moments-cs/moments/internal/auth"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/web"
)

// Options configure an App.
type Options struct {
	Logger *slog.Logger
	// Now is the clock of every component; default time.Now (UTC).
	Now func() time.Time
}

// App is a running installation.
type App struct {
	Store   *store.Store
	Keys    *auth.Keys
	Journey *journey.Live
	Web     *web.Server
	log     *slog.Logger
	now     func() time.Time
	// stops are called in reverse order by Stop.
	stops []func(context.Context) error
}

// New builds the App on an open store. Components that register ingest
// hooks do it here, before the first event is ingested.
func New(ctx context.Context, st *store.Store, o Options) (*App, error) {
	a := &App{Store: st, log: o.Logger, now: o.Now}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = func() time.Time { return time.Now().UTC() }
	}
	a.Keys = auth.NewKeys(st)
	a.Journey = journey.NewLive(st)
	a.Web = web.New(web.Options{Store: st, Keys: a.Keys, Logger: a.log, Now: a.now, Journey: a.Journey})
	return a, nil
}

// Start starts the background work (job workers, schedules).
func (a *App) Start(ctx context.Context) error {
	return nil
}

// Stop stops the background work started by Start, newest first.
func (a *App) Stop(ctx context.Context) error {
	var first error
	for i := len(a.stops) - 1; i >= 0; i-- {
		if err := a.stops[i](ctx); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Handler is the HTTP handler of the installation.
func (a *App) Handler() http.Handler { return a.Web }
