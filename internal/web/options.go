package web

import (
	"log/slog"
	"time"

	"github.com/moments-cs/moments/internal/auth"
	"github.com/moments-cs/moments/internal/health/tracker"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/playbook"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/trigger"
)

// Options are the services behind Moments' HTTP surfaces. The server
// (internal/web/server) fills in the defaults and hands the same Options
// to the tracking API, the REST API and the UI, each of which uses what it
// needs.
type Options struct {
	Store *store.Store
	Keys  *auth.Keys
	// Journey is the live journey map; default the map of Store.
	Journey *journey.Live
	// People signs people in to the UI; default a service over Store.
	People *auth.People
	// Delivery is the playbooks' email and webhook configuration, shown
	// without secrets under Settings → Email and webhooks.
	Delivery *playbook.Config
	// Health is the health tracker behind the health and report
	// endpoints; without it they answer 503.
	Health *tracker.Tracker
	// Triggers is the trigger engine behind the manual start, personal
	// rule and broadcast endpoints; without it they answer 503.
	Triggers *trigger.Engine
	// Playbooks is the playbook engine behind step retries; without it a
	// retry answers 503.
	Playbooks *playbook.Engine
	Logger    *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}
