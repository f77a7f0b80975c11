package web

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// Router is the one mux every surface registers its routes on. It counts
// requests by route pattern and keeps the list of patterns, so that a test
// can hold the OpenAPI document against the routes that really exist.
type Router struct {
	mux      *http.ServeMux
	metrics  *Metrics
	log      *slog.Logger
	patterns []string
}

// NewRouter returns an empty router that counts requests in m.
func NewRouter(m *Metrics, log *slog.Logger) *Router {
	return &Router{mux: http.NewServeMux(), metrics: m, log: log}
}

// Handle registers a route with request metrics; the route pattern (not the
// raw path) labels the metrics so their cardinality stays bounded.
func (rt *Router) Handle(pattern string, h http.HandlerFunc) {
	rt.patterns = append(rt.patterns, pattern)
	rt.mux.Handle(pattern, rt.instrument(pattern, h))
}

// HandleUncounted registers a route without request metrics (/metrics
// itself).
func (rt *Router) HandleUncounted(pattern string, h http.Handler) {
	rt.patterns = append(rt.patterns, pattern)
	rt.mux.Handle(pattern, h)
}

// Patterns lists every registered route, in the order of registration.
func (rt *Router) Patterns() []string { return append([]string(nil), rt.patterns...) }

// ServeHTTP implements http.Handler.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) { rt.mux.ServeHTTP(w, r) }

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (rt *Router) instrument(route string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h(sw, r)
		rt.metrics.Requests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
		rt.log.DebugContext(r.Context(), "request", "method", r.Method, "path", r.URL.Path, "status", sw.status,
			"duration", time.Since(start))
	})
}
