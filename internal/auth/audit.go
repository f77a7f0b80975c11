package auth

import (
	"context"
	"log/slog"
	"time"

	"github.com/moments-cs/moments/internal/store"
)

// Audit actions. Each names one thing done that changes who may do what,
// or what the installation does for customers.
const (
	AuditKeyCreated      = "key.created"
	AuditKeyRevoked      = "key.revoked"
	AuditPersonAdded     = "person.added"
	AuditRoleChanged     = "person.role_changed"
	AuditPersonDisabled  = "person.disabled"
	AuditPersonEnabled   = "person.enabled"
	AuditPasswordReset   = "person.password_reset"
	AuditSignIn          = "sign_in.succeeded"
	AuditLockedOut       = "sign_in.locked_out"
	AuditUnlocked        = "sign_in.unlocked"
	AuditMapApplied      = "journey.map_applied"
	AuditBroadcast       = "moment.broadcast"
	AuditCSMStarted      = "moment.started_by_csm"
	AuditTaskReassigned  = "task.reassigned"
	AuditSettingsChanged = "settings.changed"
)

// AuditRetention is how long the audit trail is kept before the daily
// prune deletes it.
const AuditRetention = 400 * 24 * time.Hour

// Actor is who acts in a request: a signed-in person, an API key, the
// command line or the system itself, and the address the request came
// from.
type Actor struct {
	// Name is "user:<email>", "key:<id>", "cli" or "system".
	Name string
	IP   string
}

type actorKey struct{}

// WithActor returns ctx carrying a, so the services below record it in
// the audit trail without every call passing it along.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor of ctx; "system" when none was set.
func ActorFrom(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok && a.Name != "" {
		return a
	}
	return Actor{Name: "system"}
}

// UserActor names a signed-in person as an actor.
func UserActor(email, ip string) Actor { return Actor{Name: "user:" + email, IP: ip} }

// KeyActor names an API key as an actor.
func KeyActor(id, ip string) Actor { return Actor{Name: "key:" + id, IP: ip} }

// Audit records the audit trail. Recording never fails the action it
// records: a failed write is logged instead, because refusing to revoke a
// key when the trail is briefly unwritable would be worse.
type Audit struct {
	store *store.Store
	log   *slog.Logger
	now   func() time.Time
}

// NewAudit returns the audit trail over s; log may be nil.
func NewAudit(s *store.Store, log *slog.Logger) *Audit {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Audit{store: s, log: log, now: func() time.Time { return time.Now().UTC() }}
}

// Record appends one entry, by the actor of ctx.
func (a *Audit) Record(ctx context.Context, action, target, detail string) {
	if a == nil {
		return
	}
	who := ActorFrom(ctx)
	e := store.AuditEntry{At: a.now(), Actor: who.Name, Action: action, Target: target, Detail: detail, IP: who.IP}
	// The action is done: record it even when the request that did it
	// has just been cancelled.
	if err := a.store.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		a.log.Error("audit trail not written", "action", action, "target", target, "actor", who.Name, "err", err)
	}
}

// List returns the audit trail, newest first.
func (a *Audit) List(ctx context.Context, f store.AuditFilter, p store.Page) ([]store.AuditEntry, string, error) {
	return a.store.ListAudit(ctx, f, p)
}

// Prune deletes entries older than AuditRetention.
func (a *Audit) Prune(ctx context.Context) (int64, error) {
	return a.store.PruneAudit(ctx, a.now().Add(-AuditRetention))
}
