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
	"github.com/moments-cs/moments/internal/health/tracker"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/playbook"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/trigger"
	"github.com/moments-cs/moments/internal/web/server"
)

// Options configure an App.
type Options struct {
	Logger *slog.Logger
	// Now is the clock of every component; default time.Now (UTC).
	Now func() time.Time
	// Playbook is how playbooks send email and webhooks (SMTP, signing
	// secret) and how many steps run at once; the zero value is valid.
	Playbook playbook.Config
	// TriggerMaxEventAge, when positive, is the age beyond which an
	// arriving event starts no moment (trigger.Options.MaxEventAge).
	TriggerMaxEventAge time.Duration
}

// App is a running installation.
type App struct {
	Store *store.Store
	Keys  *auth.Keys
	// People are those who sign in to the UI, and their sessions.
	People  *auth.People
	Journey *journey.Live
	Web     *server.Server
	log     *slog.Logger
	now     func() time.Time
	// stops are called in reverse order by Stop.
	stops []func(context.Context) error

	// Health keeps every account's health and success path state.
	Health *tracker.Tracker
	// Triggers detects moments (on ingestion, on schedules, by hand) and
	// starts their runs; its starter is the playbook engine.
	Triggers *trigger.Engine
	// Playbooks runs the playbooks that triggers start: durable steps,
	// tasks, email, webhooks, waits and escalation.
	Playbooks *playbook.Engine
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
	a.People = auth.NewPeople(st, auth.PeopleConfig{})
	a.Journey = journey.NewLive(st)
	// Health's hook runs first: hooks registered after it (triggers) read
	// the state it wrote in the same transaction (store.AccountHealthTx).
	a.Health = tracker.New(st, a.Journey, tracker.Options{Logger: a.log, Now: a.now})
	st.OnIngest(a.Health.OnIngest)
	// Triggers' hook runs after health's, so conditions see fresh health
	// and a quadrant moved by the batch. The playbook engine is connected
	// with a.Triggers.SetStarter once built.
	a.Triggers = trigger.New(trigger.Options{Store: st, Journey: a.Journey, Logger: a.log, Now: a.now, MaxEventAge: o.TriggerMaxEventAge})
	st.OnIngest(a.Triggers.OnIngest)
	a.Health.OnQuadrantDrop(a.Triggers.QuadrantDropped)
	pb, err := playbook.New(playbook.Options{Store: st, Journey: a.Journey, Config: o.Playbook, Logger: a.log, Now: a.now})
	if err != nil {
		return nil, err
	}
	a.Playbooks = pb
	a.Triggers.SetStarter(pb)
	a.Web = server.New(server.Options{Store: st, Keys: a.Keys, People: a.People, Logger: a.log, Now: a.now, Journey: a.Journey, Health: a.Health,
		Triggers: a.Triggers, Playbooks: a.Playbooks})
	return a, nil
}

// Start starts the background work (job workers, schedules).
func (a *App) Start(ctx context.Context) error {
	a.Health.Start(ctx)
	a.stops = append(a.stops, a.Health.Stop)
	// Playbooks start before triggers and stop after them, so no run is
	// started while the engine is stopping.
	if err := a.Playbooks.Run(ctx); err != nil {
		return err
	}
	a.stops = append(a.stops, a.Playbooks.Stop)
	tctx, stopTriggers := context.WithCancel(context.WithoutCancel(ctx))
	triggersDone := make(chan struct{})
	go func() {
		defer close(triggersDone)
		a.Triggers.Run(tctx)
	}()
	a.stops = append(a.stops, func(ctx context.Context) error {
		stopTriggers()
		select {
		case <-triggersDone:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
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
