// Package api is Moments' REST API under /api/v1: one file per group of
// resources (accounts.go, journey.go, health.go, triggers.go, runs.go),
// each documented by its part of the OpenAPI document in openapi/, which
// openapi.go merges and serves at /api/v1/openapi.json.
//
// Every handler returns an error; the kernel's JSON adapter
// (internal/web) renders it as {"error":{"code","message","field","id"}}
// and logs the same id.
package api

import (
	"context"
	"net/http"

	"github.com/moments-cs/moments/internal/auth"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/web"
)

// Server answers the REST API. Without Options.Health the health and
// report endpoints (health.go) answer 503, without Options.Triggers the
// manual start, personal rule and broadcast endpoints (triggers.go), and
// without Options.Playbooks a step retry (runs.go).
type Server struct {
	web.Options
	errors web.Adapter
}

// New returns the REST API. Logger and Now must be set.
func New(o web.Options) *Server {
	return &Server{Options: o, errors: web.JSONAdapter(o.Logger)}
}

// Routes registers the REST API's routes.
func (s *Server) Routes(rt *web.Router) {
	rt.Handle("GET /api/v1/openapi.json", serveOpenAPI)
	rt.Handle("GET /api/v1/accounts", s.admin(s.listAccounts))
	rt.Handle("GET /api/v1/accounts/{id}", s.admin(s.getAccount))
	rt.Handle("GET /api/v1/contacts/{id}", s.admin(s.getContact))
	rt.Handle("GET /api/v1/events", s.admin(s.listEvents))
	s.journeyRoutes(rt)
	s.healthRoutes(rt)
	s.outcomeRoutes(rt)
	s.triggerRoutes(rt)
	s.runRoutes(rt)
	s.surveyRoutes(rt)
	s.auditRoutes(rt)
	s.analyticsRoutes(rt)
}

// admin requires an admin API key as a bearer token, and renders the
// handler's error.
func (s *Server) admin(h web.HandlerFunc) http.HandlerFunc {
	return s.errors.Handle(func(w http.ResponseWriter, r *http.Request) error {
		secret, ok := bearer(r)
		if !ok {
			return web.Unauthorized("send an admin API key as 'Authorization: Bearer <key>'; create one with `moments keys create --scope admin`")
		}
		key, err := s.Keys.Check(r.Context(), secret, auth.ScopeAdmin)
		if err != nil {
			return web.Unauthorized("this API key is not valid for the REST API: " + err.Error())
		}
		ctx := auth.WithActor(context.WithValue(r.Context(), apiKeyContext{}, key), auth.KeyActor(key.ID, web.ClientIP(r)))
		return h(w, r.WithContext(ctx))
	})
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
