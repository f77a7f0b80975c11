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
	"github.com/moments-cs/moments/internal/defaults"
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
	// stages is the ingest pipeline, in order.
	stages []IngestStage

	// Health keeps every account's health and success path state.
	Health *tracker.Tracker
	// Triggers detects moments (on ingestion, on schedules, by hand) and
	// launches their runs on the playbook engine.
	Triggers *trigger.Engine
	// Playbooks runs the playbooks that triggers start: durable steps,
	// tasks, email, webhooks, waits and escalation.
	Playbooks *playbook.Engine
}

// IngestStage is one stage of the ingest pipeline: a hook that runs inside
// the ingestion transaction, after the batch's events are stored.
type IngestStage struct {
	// Name says what the stage does, for tests and logs.
	Name string
	Hook store.IngestHook
}

// New builds the App on an open store and registers the ingest pipeline
// (IngestStages) before the first event is ingested.
func New(ctx context.Context, st *store.Store, o Options) (*App, error) {
	a := &App{Store: st, log: defaults.Logger(o.Logger), now: defaults.Clock(o.Now)}
	a.Keys = auth.NewKeys(st)
	a.People = auth.NewPeople(st, auth.PeopleConfig{})
	a.Journey = journey.NewLive(st)
	a.Health = tracker.New(st, a.Journey, tracker.Options{Logger: a.log, Now: a.now})
	a.Triggers = trigger.New(trigger.Options{Store: st, Journey: a.Journey, Logger: a.log, Now: a.now, MaxEventAge: o.TriggerMaxEventAge})
	a.Health.OnQuadrantDrop(a.Triggers.QuadrantDropped)
	pb, err := playbook.New(playbook.Options{Store: st, Journey: a.Journey, Config: o.Playbook, Logger: a.log, Now: a.now})
	if err != nil {
		return nil, err
	}
	a.Playbooks = pb
	a.Triggers.SetLauncher(pb)
	a.stages = IngestStages(a.Health, a.Triggers, a.Playbooks)
	for _, s := range a.stages {
		st.OnIngest(s.Hook)
	}
	a.Web = server.New(server.Options{Store: st, Keys: a.Keys, People: a.People, Logger: a.log, Now: a.now, Journey: a.Journey, Health: a.Health,
		Triggers: a.Triggers, Playbooks: a.Playbooks})
	return a, nil
}

// IngestStages is the ingest pipeline, in the order its stages run inside
// each batch's transaction:
//
//  1. health updates every account's health and success path state;
//  2. triggers read that fresh state (a quadrant moved by this very batch)
//     and launch the moments the events start;
//  3. playbook wake-ups wake the runs waiting for these events.
//
// A new ingest stage goes here, at the place its reads and writes demand.
func IngestStages(h *tracker.Tracker, t *trigger.Engine, p *playbook.Engine) []IngestStage {
	return []IngestStage{
		{Name: "health", Hook: h.OnIngest},
		{Name: "triggers", Hook: t.OnIngest},
		{Name: "playbook wake-ups", Hook: p.OnIngest},
	}
}

// IngestStages returns the stages New registered, in order.
func (a *App) IngestStages() []IngestStage { return a.stages }

// Start starts the background services (health recomputes, playbook
// workers, scheduled triggers).
func (a *App) Start(ctx context.Context) error {
	// Playbooks start before triggers and stop after them, so no run is
	// launched while the engine is stopping.
	for _, s := range []interface {
		Start(context.Context) error
		Stop(context.Context) error
	}{a.Health, a.Playbooks, a.Triggers} {
		if err := s.Start(ctx); err != nil {
			return err
		}
		a.stops = append(a.stops, s.Stop)
	}
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
