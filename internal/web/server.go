// Package web is Moments' HTTP server: the Segment-compatible tracking API
// (/v1), the REST API (/api/v1) with its OpenAPI document, the UI pages,
// /healthz and /metrics.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/moments-cs/moments/internal/auth"
	"github.com/moments-cs/moments/internal/health/tracker"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/playbook"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/trigger"
)

// Server serves every HTTP endpoint of one Moments installation.
type Server struct {
	store   *store.Store
	keys    *auth.Keys
	journey *journey.Live
	health  *tracker.Tracker
	// triggers starts moments by hand and broadcasts (trigger_api.go).
	triggers *trigger.Engine
	// people signs people in to the UI (ui_server.go).
	people *auth.People
	// delivery is the email and webhook configuration, shown read-only
	// under Settings (ui_settings.go); nil when playbooks are not running.
	delivery *playbook.Config
	// playbooks retries failed steps (playbook_api.go); nil when the
	// playbook engine is not running.
	playbooks *playbook.Engine
	log       *slog.Logger
	now       func() time.Time
	mux       *http.ServeMux
	metrics   *metrics
	reg       *prometheus.Registry
	// patterns lists every registered route, for the OpenAPI test.
	patterns []string
}

// Options configure a Server.
type Options struct {
	Store *store.Store
	Keys  *auth.Keys
	// Journey is the live journey map.
	Journey *journey.Live
	// People signs people in to the UI; default a service over Store.
	People *auth.People
	// Delivery is the playbooks' email and webhook configuration, shown
	// without secrets under Settings → Email and webhooks.
	Delivery *playbook.Config
	// Health is the health tracker behind the health and report
	// endpoints (health_api.go); without it they answer 503.
	Health *tracker.Tracker
	// Triggers is the trigger engine behind the manual start, personal
	// rule and broadcast endpoints (trigger_api.go); without it they
	// answer 503.
	Triggers *trigger.Engine
	// Playbooks is the playbook engine behind step retries
	// (playbook_api.go); without it a retry answers 503.
	Playbooks *playbook.Engine
	Logger    *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// New builds the server and its routes.
func New(o Options) *Server {
	s := &Server{store: o.Store, keys: o.Keys, journey: o.Journey, people: o.People, log: o.Logger, now: o.Now, mux: http.NewServeMux()}
	s.health = o.Health
	s.delivery = o.Delivery
	s.triggers = o.Triggers
	s.playbooks = o.Playbooks
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = func() time.Time { return time.Now().UTC() }
	}
	s.reg = prometheus.NewRegistry()
	s.reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	s.metrics = newMetrics(s.reg)
	s.routes()
	return s
}

func (s *Server) routes() {
	for _, typ := range []string{"identify", "track", "page", "screen", "group", "alias"} {
		s.handle("POST /v1/"+typ, s.trackingCall(typ))
	}
	s.handle("POST /v1/batch", s.trackingBatch)
	s.handle("POST /v1/import", s.trackingBatch)

	s.handle("GET /api/v1/openapi.json", s.openAPI)
	s.handle("GET /api/v1/accounts", s.admin(s.listAccounts))
	s.handle("GET /api/v1/accounts/{id}", s.admin(s.getAccount))
	s.handle("GET /api/v1/contacts/{id}", s.admin(s.getContact))
	s.handle("GET /api/v1/events", s.admin(s.listEvents))
	s.journeyRoutes()
	s.healthRoutes()
	s.triggerRoutes()
	s.playbookRoutes()
	s.analyticsRoutes()
	s.uiRoutes()

	s.handle("GET /healthz", s.healthz)
	s.patterns = append(s.patterns, "GET /metrics")
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
}

// handle registers a route with request metrics; the route pattern (not the
// raw path) labels the metrics so their cardinality stays bounded.
func (s *Server) handle(pattern string, h http.HandlerFunc) {
	s.patterns = append(s.patterns, pattern)
	s.mux.Handle(pattern, s.instrument(pattern, h))
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (s *Server) instrument(route string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h(sw, r)
		s.metrics.requests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
		s.log.DebugContext(r.Context(), "request", "method", r.Method, "path", r.URL.Path, "status", sw.status,
			"duration", time.Since(start))
	})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// admin requires an admin API key as a bearer token.
func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		secret, ok := bearer(r)
		if !ok {
			s.writeError(w, r, unauthorized("send an admin API key as 'Authorization: Bearer <key>'; create one with `moments keys create --scope admin`"), nil)
			return
		}
		key, err := s.keys.Check(r.Context(), secret, auth.ScopeAdmin)
		if err != nil {
			s.writeError(w, r, unauthorized("this API key is not valid for the REST API: "+err.Error()), nil)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), apiKeyContext{}, key)))
	}
}

// apiKeyContext is the request context key of the API key that admin()
// accepted.
type apiKeyContext struct{}

// requestKey returns the API key the request was authenticated with, for
// recording who did something; ok is false outside admin().
func requestKey(r *http.Request) (key store.APIKey, ok bool) {
	key, ok = r.Context().Value(apiKeyContext{}).(store.APIKey)
	return key, ok
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const p = "Bearer "
	if len(h) > len(p) && (h[:len(p)] == p || h[:len(p)] == "bearer ") {
		return h[len(p):], true
	}
	return "", false
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.DB().PingContext(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "database": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "database": string(s.store.Dialect())})
}
