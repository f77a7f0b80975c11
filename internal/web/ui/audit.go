package ui

import (
	"net/http"

	"github.com/moments-cs/moments/internal/auth"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/web"
)

// scopeServer is the key form's choice of a server write key.
const scopeServer = "server"

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
func (s *Server) settingsAuditPage(w http.ResponseWriter, r *http.Request) error {
	f, err := web.AuditFilter(r)
	if err != nil {
		return err
	}
	entries, next, err := s.Audit.List(r.Context(), f, store.Page{Limit: 100, Cursor: r.URL.Query().Get("cursor")})
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "settings_audit", s.settingsView(r, "/settings/audit", "Settings",
		auditPageData{Entries: entries, Filter: f, Next: next, Actions: auditActions,
			Query: map[string]string{"action": f.Action, "actor": f.Actor, "target": f.Target}}))
	return nil
}
