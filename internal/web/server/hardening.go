package server

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/moments-cs/moments/internal/web"
)

// hstsMaxAge is a year: browsers that once reached Moments over HTTPS use
// nothing else for that long. Subdomains are not included, since they may
// be other services.
const hstsMaxAge = "max-age=31536000"

// MetricsHandler serves the Prometheus metrics with no authentication, for
// a listener of its own (moments serve --metrics-addr) that only the
// monitoring network reaches.
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metrics)
	return mux
}

// metricsOnMain serves /metrics on the main port to holders of the metrics
// token only; without a token configured it is not served there at all,
// since request counts and timings are not for anyone who can reach the
// tracking API.
func (s *Server) metricsOnMain(w http.ResponseWriter, r *http.Request) {
	if s.metricsToken == "" {
		web.WriteJSON(w, http.StatusNotFound, map[string]any{"error": map[string]any{"code": "not_found",
			"message": "metrics are served on their own port (moments serve --metrics-addr) or here with a token (--metrics-token)"}})
		return
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(token), []byte(s.metricsToken)) != 1 {
		web.WriteJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{"code": "unauthorized",
			"message": "send the metrics token as 'Authorization: Bearer <token>' (moments serve --metrics-token)"}})
		return
	}
	s.metrics.ServeHTTP(w, r)
}

// strictTransport adds HSTS to every answer given over TLS.
func strictTransport(w http.ResponseWriter, r *http.Request) {
	if r.TLS != nil {
		w.Header().Set("Strict-Transport-Security", hstsMaxAge)
	}
}
