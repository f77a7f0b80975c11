package web

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/moments-cs/moments/internal/auth"
	"github.com/moments-cs/moments/internal/store"
)

// scopeServer is the key form's choice of a server write key.
const scopeServer = "server"

func (s *Server) auditRoutes() {
	s.handle("GET /api/v1/audit", s.admin(s.listAudit))
	s.handle("GET /settings/audit", s.uiPage(auth.PermAudit, s.settingsAuditPage))
}

// auditFilter reads the audit trail's filters from the query: action,
// actor, target, and since/until as RFC 3339 times.
func auditFilter(r *http.Request) (store.AuditFilter, *apiError) {
	q := r.URL.Query()
	f := store.AuditFilter{Action: q.Get("action"), Actor: q.Get("actor"), Target: q.Get("target")}
	for _, b := range []struct {
		name string
		into *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(b.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return f, badRequest("invalid_parameter", b.name, fmt.Sprintf("%s %q is not a time such as 2026-12-01T00:00:00Z", b.name, v))
			}
			*b.into = t
		}
	}
	return f, nil
}

// listAudit is GET /api/v1/audit: who did what and when, newest first.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) {
	p, aerr := page(r)
	if aerr != nil {
		s.writeError(w, r, aerr, nil)
		return
	}
	f, aerr := auditFilter(r)
	if aerr != nil {
		s.writeError(w, r, aerr, nil)
		return
	}
	entries, next, err := s.audit.List(r.Context(), f, p)
	if err != nil {
		s.writeError(w, r, storeError(err, "page"), nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": nonNil(entries), "next_cursor": next})
}

// auditPageData is the "settings_audit" template's data.
type auditPageData struct {
	Entries []store.AuditEntry
	Filter  store.AuditFilter
	Next    string
	Actions []string
	// Query is the filter as query parameters, for the next page's link.
	Query map[string]string
}

// auditActions are the actions the page's filter offers.
var auditActions = []string{auth.AuditKeyCreated, auth.AuditKeyRevoked, auth.AuditPersonAdded, auth.AuditRoleChanged,
	auth.AuditPersonDisabled, auth.AuditPersonEnabled, auth.AuditPasswordReset, auth.AuditSignIn, auth.AuditLockedOut,
	auth.AuditUnlocked, auth.AuditMapApplied, auth.AuditBroadcast, auth.AuditCSMStarted, auth.AuditTaskReassigned}

// settingsAuditPage shows the audit trail to admins, 100 entries a page.
func (s *Server) settingsAuditPage(w http.ResponseWriter, r *http.Request) {
	f, aerr := auditFilter(r)
	if aerr != nil {
		s.uiError(w, r, uiBadRequest(aerr.Field, aerr.Message))
		return
	}
	entries, next, err := s.audit.List(r.Context(), f, store.Page{Limit: 100, Cursor: r.URL.Query().Get("cursor")})
	if err != nil {
		s.uiError(w, r, storeError(err, "page"))
		return
	}
	s.render(w, r, http.StatusOK, "settings_audit", s.settingsView(r, "/settings/audit", "Settings",
		auditPageData{Entries: entries, Filter: f, Next: next, Actions: auditActions,
			Query: map[string]string{"action": f.Action, "actor": f.Actor, "target": f.Target}}))
}

// auditReassign records a task given to someone else.
func (s *Server) auditReassign(ctx context.Context, t store.Task, before string, c store.TaskChange) {
	if c.Assignee == nil || *c.Assignee == before {
		return
	}
	s.audit.Record(ctx, auth.AuditTaskReassigned, t.ID, fmt.Sprintf("task %q on account %s reassigned from %s to %s",
		t.Title, t.AccountID, cmpOr(before, "nobody"), *c.Assignee))
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
