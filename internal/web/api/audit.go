package api

import (
	"net/http"

	"github.com/moments-cs/moments/internal/web"
)

func (s *Server) auditRoutes(rt *web.Router) {
	rt.Handle("GET /api/v1/audit", s.admin(s.listAudit))
}

// listAudit is GET /api/v1/audit: who did what and when, newest first.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	f, err := web.AuditFilter(r)
	if err != nil {
		return err
	}
	entries, next, err := s.Audit.List(r.Context(), f, p)
	if err != nil {
		return storeError(err, "page")
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"entries": web.NonNil(entries), "next_cursor": next})
	return nil
}
