package web

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the HTTP and ingest counters on /metrics.
type Metrics struct {
	Requests *prometheus.CounterVec
	Events   *prometheus.CounterVec
	Ingest   prometheus.Histogram
	// Dropped counts the raw events dropped beyond the event retention.
	Dropped prometheus.Counter
}

// NewMetrics registers the metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moments_http_requests_total",
			Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moments_events_ingested_total",
			Help: "Tracking API messages by outcome: stored, duplicate (acknowledged, already stored) or rejected (invalid).",
		}, []string{"result"}),
		Ingest: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "moments_ingest_duration_seconds",
			Help:    "Time from receiving a tracking API request to its durable commit.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		Dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "moments_events_dropped_total",
			Help: "Raw events dropped because they were older than the event retention (--event-retention).",
		}),
	}
	reg.MustRegister(m.Requests, m.Events, m.Ingest, m.Dropped)
	return m
}
