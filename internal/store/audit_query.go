package store

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// AuditEntry is one line of the audit trail: who did what, to what, when
// and from where.
type AuditEntry struct {
	ID int64     `json:"id"`
	At time.Time `json:"at"`
	// Actor is "user:<email>", "key:<id>", "cli" or "system".
	Actor string `json:"actor"`
	// Action names what was done, such as "key.created" or "sign_in.locked_out".
	Action string `json:"action"`
	// Target names what it was done to: a key, a person, an account.
	Target string `json:"target"`
	// Detail says it in a sentence.
	Detail string `json:"detail"`
	// IP is the address the request came from, when there was one.
	IP string `json:"ip"`
}

// AuditFilter narrows the audit trail; empty fields match everything.
type AuditFilter struct {
	Action string
	Actor  string
	Target string
	// Since and Until bound At (Since inclusive, Until exclusive).
	Since, Until time.Time
}

// AppendAudit records one entry.
func (s *Store) AppendAudit(ctx context.Context, e AuditEntry) error {
	_, err := s.write.ExecContext(ctx, "INSERT INTO audit_log (at, actor, action, target, detail, ip) VALUES ($1, $2, $3, $4, $5, $6)",
		micros(e.At), e.Actor, e.Action, e.Target, e.Detail, e.IP)
	if err != nil {
		return fmt.Errorf("record audit entry: %w", err)
	}
	return nil
}

func scanAudit(r scanner) (AuditEntry, error) {
	var (
		e  AuditEntry
		at int64
	)
	err := r.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &e.Detail, &e.IP)
	e.At = fromMicros(at)
	return e, err
}

// ListAudit returns the audit trail, newest first, one page at a time.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter, p Page) ([]AuditEntry, string, error) {
	var w where
	w.eq("action", f.Action)
	w.eq("actor", f.Actor)
	w.eq("target", f.Target)
	if !f.Since.IsZero() {
		w.add("at >= ?", micros(f.Since))
	}
	if !f.Until.IsZero() {
		w.add("at < ?", micros(f.Until))
	}
	if p.Cursor != "" {
		id, err := strconv.ParseInt(p.Cursor, 10, 64)
		if err != nil || id <= 0 {
			return nil, "", ErrBadCursor
		}
		w.add("id < ?", id)
	}
	return queryPage(ctx, s.read, "audit entries", "SELECT id, at, actor, action, target, detail, ip FROM audit_log", w, "id DESC", p,
		scanAudit, func(e AuditEntry) string { return strconv.FormatInt(e.ID, 10) })
}

// PruneAudit deletes entries older than before; the trail is kept for a
// year by default (auth.AuditRetention).
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.write.ExecContext(ctx, "DELETE FROM audit_log WHERE at < $1", micros(before))
	if err != nil {
		return 0, fmt.Errorf("prune audit trail: %w", err)
	}
	return res.RowsAffected()
}
