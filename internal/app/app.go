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
	"github.com/moments-cs/moments/internal/report"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/survey"
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
	// Survey is where survey links point (the public URL) and how long a
	// one-click score waits for its comment; surveys are emailed through
	// Playbook.SMTP.
	Survey survey.Config
	// MetricsToken is web.Options.MetricsToken: the bearer token /metrics
	// needs on the main port (empty: not served there).
	MetricsToken string
	// EventRetention, when positive, is how long raw events are kept: the
	// daily prune drops older ones (store.DropEventsBefore). Zero keeps
	// them forever.
	EventRetention time.Duration
}

// App is a running installation.
type App struct {
	Store *store.Store
	Keys  *auth.Keys
	// People are those who sign in to the UI, and their sessions.
	People *auth.People
	// Audit is the trail of who did what and when.
	Audit   *auth.Audit
	Journey *journey.Live
	Web     *server.Server
	log     *slog.Logger
	now     func() time.Time
	// retention is Options.EventRetention.
	retention time.Duration
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
	// Surveys sends the map's surveys (survey steps, by hand), takes the
	// answers and sends reminders.
	Surveys *survey.Service
	// Analytics keeps the aggregates of moment analytics as events arrive.
	Analytics *report.Recorder
}

// IngestStage is one stage of the ingest pipeline: a hook that runs after
// the batch's events are committed and acknowledged, in the store's stage
// runner transaction, which records how far the stages got with their
// effects (store.IngestHook).
type IngestStage struct {
	// Name says what the stage does, for tests and logs.
	Name string
	Hook store.IngestHook
	// Listens, if set, are the event names the stage acts on at once; the
	// stages take such events ahead of other traffic (the fast lane).
	Listens store.ListenedNames
}

// New builds the App on an open store and registers the ingest pipeline
// (IngestStages) before the first event is ingested.
func New(ctx context.Context, st *store.Store, o Options) (*App, error) {
	a := &App{Store: st, log: defaults.Logger(o.Logger), now: defaults.Clock(o.Now), retention: o.EventRetention}
	a.Audit = auth.NewAudit(st, a.log)
	a.Keys = auth.NewKeys(st)
	a.Keys.SetAudit(a.Audit)
	a.People = auth.NewPeople(st, auth.PeopleConfig{Logger: a.log, Audit: a.Audit})
	a.Journey = journey.NewLive(st)
	a.Health = tracker.New(st, a.Journey, tracker.Options{Logger: a.log, Now: a.now})
	a.Triggers = trigger.New(trigger.Options{Store: st, Journey: a.Journey, Logger: a.log, Now: a.now, MaxEventAge: o.TriggerMaxEventAge,
		Audit: a.Audit})
	a.Health.OnQuadrantDrop(a.Triggers.QuadrantDropped)
	sc := o.Survey
	sc.SMTP = o.Playbook.SMTP
	sv, err := survey.New(survey.Options{Store: st, Journey: a.Journey, Config: sc, Logger: a.log, Now: a.now})
	if err != nil {
		return nil, err
	}
	a.Surveys = sv
	pb, err := playbook.New(playbook.Options{Store: st, Journey: a.Journey, Config: o.Playbook, Logger: a.log, Now: a.now,
		Steps: map[string]playbook.StepRunner{journey.StepSurvey: sv.StepRunner()}})
	if err != nil {
		return nil, err
	}
	a.Playbooks = pb
	a.Triggers.SetLauncher(pb)
	a.Analytics = report.NewRecorder(st, a.Journey, a.log)
	a.stages = IngestStages(a.Health, a.Triggers, a.Playbooks, a.Analytics)
	for _, s := range a.stages {
		st.OnIngest(s.Hook)
		if s.Listens != nil {
			st.OnIngestListen(s.Listens)
		}
	}
	a.Web = server.New(server.Options{Store: st, Keys: a.Keys, People: a.People, Logger: a.log, Now: a.now, Journey: a.Journey, Health: a.Health,
		Triggers: a.Triggers, Playbooks: a.Playbooks, Surveys: a.Surveys, MetricsToken: o.MetricsToken, Audit: a.Audit})
	return a, nil
}

// IngestStages is the ingest pipeline, in the order its stages run on each
// batch of committed events:
//
//  1. health updates every account's health and success path state;
//  2. triggers read that fresh state (a quadrant moved by this very batch)
//     and launch the moments the events start;
//  3. playbook wake-ups wake the runs waiting for these events;
//  4. moment analytics copy the events of the names the live map measures
//     into small indexed tables (report.Recorder), so reports never scan
//     the events.
//
// A new ingest stage goes here, at the place its reads and writes demand.
func IngestStages(h *tracker.Tracker, t *trigger.Engine, p *playbook.Engine, r *report.Recorder) []IngestStage {
	return []IngestStage{
		{Name: "health", Hook: h.OnIngest},
		{Name: "triggers", Hook: t.OnIngest, Listens: t.Listens},
		{Name: "playbook wake-ups", Hook: p.OnIngest, Listens: p.Listens},
		{Name: "moment analytics", Hook: r.OnIngest},
	}
}

// IngestStages returns the stages New registered, in order.
func (a *App) IngestStages() []IngestStage { return a.stages }

// pruneEvery is how often expired sessions, old sign-in failures, the
// audit trail beyond its retention and raw events beyond theirs are
// deleted.
const pruneEvery = 24 * time.Hour

// prune deletes what has outlived its use, once at start and then daily,
// until ctx ends.
func (a *App) prune(ctx context.Context) {
	for {
		if n, err := a.People.Prune(ctx); err != nil {
			a.log.Error("pruning sessions and sign-in failures failed", "err", err)
		} else if n > 0 {
			a.log.Info("pruned expired sessions and old sign-in failures", "rows", n)
		}
		if n, err := a.Audit.Prune(ctx); err != nil {
			a.log.Error("pruning the audit trail failed", "err", err)
		} else if n > 0 {
			a.log.Info("pruned the audit trail", "entries", n)
		}
		a.DropOldEvents(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(pruneEvery):
		}
	}
}

// DropOldEvents drops the raw events older than the event retention (none
// when it is zero) and logs what it dropped. What the ingest stages derived
// from them (health, its daily history, moment analytics) is kept.
func (a *App) DropOldEvents(ctx context.Context) store.DropStats {
	if a.retention <= 0 {
		return store.DropStats{}
	}
	cutoff := a.now().Add(-a.retention)
	start := time.Now()
	st, err := a.Store.DropEventsBefore(ctx, cutoff)
	if err != nil {
		a.log.Error("dropping events beyond their retention failed; the next daily run tries again", "err", err, "dropped", st.Events)
		a.Web.CountDroppedEvents(st.Events)
		return st
	}
	a.Web.CountDroppedEvents(st.Events)
	if st.Events > 0 {
		a.log.Info("dropped events beyond their retention", "events", st.Events, "through_event", st.Through, "ranges", st.Ranges, "partitions", st.Partitions,
			"received_before", cutoff.UTC().Format(time.RFC3339), "duration", time.Since(start).Round(time.Millisecond))
	}
	return st
}

// Start starts the background services (health recomputes, playbook
// workers, survey reminders, scheduled triggers), the daily prune and the
// ingest stages, which first work off the events a previous process
// committed but did not get to.
func (a *App) Start(ctx context.Context) error {
	a.Store.StartIngestStages()
	pctx, stopPrune := context.WithCancel(context.WithoutCancel(ctx))
	pruned := make(chan struct{})
	go func() {
		defer close(pruned)
		a.prune(pctx)
	}()
	a.stops = append(a.stops, func(context.Context) error {
		stopPrune()
		<-pruned
		return nil
	})
	// Playbooks start before triggers and stop after them, so no run is
	// launched while the engine is stopping.
	for _, s := range []interface {
		Start(context.Context) error
		Stop(context.Context) error
	}{a.Health, a.Playbooks, a.Surveys, a.Triggers} {
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

// WaitIdle returns once the ingest stages have caught up with every event
// committed before the call: the health, trigger runs and wake-ups of what
// was ingested are stored. Tests and tools call it between ingesting and
// reading derived state.
func (a *App) WaitIdle(ctx context.Context) error { return a.Store.WaitIdle(ctx) }

// Handler is the HTTP handler of the installation.
func (a *App) Handler() http.Handler { return a.Web }
