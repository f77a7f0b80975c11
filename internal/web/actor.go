package web

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/moments-cs/moments/internal/auth"
	"github.com/moments-cs/moments/internal/store"
)

// ClientIP is the address a request came from: the TCP peer.
// X-Forwarded-For is not trusted, since any client can send it; sign-in
// lock-outs count it and the audit trail records it.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// AuditReassign records in a a task given to someone else by change c,
// when c does give it to someone else; before is its former assignee. The
// REST API and the UI both call it.
func AuditReassign(ctx context.Context, a *auth.Audit, t store.Task, before string, c store.TaskChange) {
	if c.Assignee == nil || *c.Assignee == before {
		return
	}
	if before == "" {
		before = "nobody"
	}
	a.Record(ctx, auth.AuditTaskReassigned, t.ID, fmt.Sprintf("task %q on account %s reassigned from %s to %s",
		t.Title, t.AccountID, before, *c.Assignee))
}

// AuditFilter reads the audit trail's filters from a query: action, actor,
// target, and since/until as RFC 3339 times. The REST API and the UI's audit page read
// the same parameters.
func AuditFilter(r *http.Request) (store.AuditFilter, error) {
	q := r.URL.Query()
	f := store.AuditFilter{Action: q.Get("action"), Actor: q.Get("actor"), Target: q.Get("target")}
	for _, b := range []struct {
		name string
		into *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(b.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return f, BadRequest("invalid_parameter", b.name, fmt.Sprintf("%s %q is not a time such as 2026-12-01T00:00:00Z", b.name, v))
			}
			*b.into = t
		}
	}
	return f, nil
}
