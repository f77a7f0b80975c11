// Package server assembles Moments' HTTP server from its surfaces: the
// tracking API (internal/web/tracking), the REST API (internal/web/api) and
// the UI (internal/web/ui), with /healthz and /metrics.
//
// It is a package of its own rather than part of internal/web because the
// surfaces import internal/web (the error type, the adapter, the router):
// assembling them there would be an import cycle.
package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/moments-cs/moments/internal/auth"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/web"
	"github.com/moments-cs/moments/internal/web/api"
	"github.com/moments-cs/moments/internal/web/tracking"
	"github.com/moments-cs/moments/internal/web/ui"
)

// Server serves every HTTP endpoint of one Moments installation.
type Server struct {
	store  *store.Store
	router *web.Router
	// metrics serves the Prometheus registry; metricsToken guards it on
	// the main port (hardening.go).
	metrics      http.Handler
	metricsToken string
	counters     *web.Metrics
}

// Options configure a Server; see web.Options.
type Options = web.Options

// New builds the server and its routes.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = func() time.Time { return time.Now().UTC() }
	}
	if o.Store != nil {
		// Tests and tools that build a Server without the app still get
		// the map of their store and people who can sign in.
		if o.Journey == nil {
			o.Journey = journey.NewLive(o.Store)
		}
		if o.People == nil {
			o.People = auth.NewPeople(o.Store, auth.PeopleConfig{})
		}
		if o.Audit == nil {
			o.Audit = auth.NewAudit(o.Store, o.Logger)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	metrics := web.NewMetrics(reg)
	if o.Store != nil {
		reg.MustRegister(lagCollector{o.Store}, commitCollector{o.Store})
	}
	s := &Server{store: o.Store, router: web.NewRouter(metrics, o.Logger),
		metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}), metricsToken: o.MetricsToken,
		counters: metrics}

	tracking.New(o, metrics).Routes(s.router)
	api.New(o).Routes(s.router)
	ui.New(o).Routes(s.router)

	s.router.Handle("GET /healthz", s.healthz)
	s.router.HandleUncounted("GET /metrics", http.HandlerFunc(s.metricsOnMain))
	return s
}

// CountDroppedEvents adds n to moments_events_dropped_total: raw events
// dropped beyond the event retention.
func (s *Server) CountDroppedEvents(n int64) { s.counters.Dropped.Add(float64(n)) }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	strictTransport(w, r)
	s.router.ServeHTTP(w, r)
}

// Routes lists every registered route pattern ("GET /api/v1/accounts"),
// for the test that holds the OpenAPI document against them.
func (s *Server) Routes() []string { return s.router.Patterns() }

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.DB().PingContext(ctx); err != nil {
		web.WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "database": err.Error()})
		return
	}
	body := map[string]any{"status": "ok", "database": string(s.store.Dialect())}
	if lag, err := s.store.IngestLag(ctx); err == nil {
		stages := map[string]any{"events_behind": lag.Events, "seconds_behind": lag.Seconds}
		if lag.Estimated {
			// Past the first 100,000 ids behind the stages, events are
			// estimated from their ids, not counted (store.IngestLag).
			stages["events_behind_estimated"] = true
		}
		if lag.LastError != "" {
			stages["last_error"] = lag.LastError
		}
		// This server's part of the work: the shards its stage runner
		// holds (PostgreSQL; one on SQLite) and the events it consumed.
		stages["shards_held"] = len(lag.Shards)
		stages["consumed_here"] = lag.Consumed
		body["ingest_stages"] = stages
	}
	web.WriteJSON(w, http.StatusOK, body)
}

// lagCollector reports how far the ingest stages (health, triggers,
// playbook wake-ups) are behind ingestion, measured at each scrape.
type lagCollector struct{ st *store.Store }

var (
	lagEventsDesc = prometheus.NewDesc("moments_ingest_stages_lag_events",
		"Committed events whose health, trigger and playbook wake-up effects are not stored yet.", nil, nil)
	lagSecondsDesc = prometheus.NewDesc("moments_ingest_stages_lag_seconds",
		"How long the oldest event waiting for the ingest stages has waited since it was received; 0 when none waits.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- lagEventsDesc
	ch <- lagSecondsDesc
}

// Collect implements prometheus.Collector; when the database cannot be
// read the metrics are left out of the scrape (and /healthz says why).
func (c lagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	lag, err := c.st.IngestLag(ctx)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(lagEventsDesc, prometheus.GaugeValue, float64(lag.Events))
	ch <- prometheus.MustNewConstMetric(lagSecondsDesc, prometheus.GaugeValue, lag.Seconds)
}

// commitCollector reports the committer's histograms (store.CommitTimes):
// what slow acknowledgements waited for.
type commitCollector struct{ st *store.Store }

var (
	commitWaitDesc = prometheus.NewDesc("moments_ingest_commit_wait_seconds",
		"Per ingestion transaction, how long its oldest request waited for the committer before the transaction began: "+
			"behind earlier transactions, merges and, on SQLite, the WAL checkpointer's turns.", nil, nil)
	commitDesc = prometheus.NewDesc("moments_ingest_commit_seconds",
		"Per ingestion transaction, its commit: on SQLite writing the WAL and waiting for its fsync, on PostgreSQL the COMMIT.", nil, nil)
	writerHeldDesc = prometheus.NewDesc("moments_sqlite_writer_held_seconds",
		"SQLite: each stretch of other work during which waiting acknowledgements could not commit, by holder: "+
			"a step of the account index's or the dedupe set's merge, a turn of the WAL checkpointer.", []string{"by"}, nil)
)

// Describe implements prometheus.Collector.
func (c commitCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- commitWaitDesc
	ch <- commitDesc
	ch <- writerHeldDesc
}

// Collect implements prometheus.Collector.
func (c commitCollector) Collect(ch chan<- prometheus.Metric) {
	t := c.st.CommitTimes()
	ch <- constHistogram(commitWaitDesc, t.Wait)
	ch <- constHistogram(commitDesc, t.Commit)
	for by, h := range t.Held {
		ch <- constHistogram(writerHeldDesc, h, by)
	}
}

func constHistogram(d *prometheus.Desc, h store.Histogram, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Bounds))
	for i, b := range h.Bounds {
		buckets[b] = h.Buckets[i]
	}
	return prometheus.MustNewConstHistogram(d, h.Count, h.Sum, buckets, labels...)
}
