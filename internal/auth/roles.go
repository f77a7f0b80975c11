package auth

import (
	"fmt"
	"slices"
	"strings"
)

// Role is what a person may do in the UI.
type Role string

// The roles, from most to least powerful.
const (
	// RoleAdmin may do everything: API keys, users, settings, and all that
	// ops may do.
	RoleAdmin Role = "admin"
	// RoleOps runs the customer success operation: the journey map,
	// playbooks and reports, and may act on any account's tasks.
	RoleOps Role = "ops"
	// RoleCSM works their own accounts and tasks and reads everything else.
	RoleCSM Role = "csm"
	// RoleViewer reads and changes nothing.
	RoleViewer Role = "viewer"
)

// Roles lists the roles in order, for forms and help text.
var Roles = []Role{RoleAdmin, RoleOps, RoleCSM, RoleViewer}

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if slices.Contains(Roles, r) {
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q: use admin, ops, csm or viewer", s)
}

// Describe says in one line what the role may do.
func (r Role) Describe() string {
	switch r {
	case RoleAdmin:
		return "everything, including API keys, people and settings"
	case RoleOps:
		return "the journey map, playbooks and reports; acts on any account's tasks"
	case RoleCSM:
		return "works their own accounts and tasks; reads all other accounts"
	case RoleViewer:
		return "reads everything, changes nothing"
	}
	return ""
}

// Permission is one thing the UI lets a person do.
type Permission string

// Permissions. Every signed-in person may read (PermRead); the others are
// granted by role, see Can.
const (
	PermRead Permission = "read"
	// PermWorkOwn: complete, snooze and reassign one's own tasks (and the
	// tasks of one's own accounts), start CSM moments on one's own accounts.
	PermWorkOwn Permission = "work_own"
	// PermWorkAll: the same on every account.
	PermWorkAll Permission = "work_all"
	// PermJourney: the journey map's versions and changes, playbooks.
	PermJourney Permission = "journey"
	// PermKeys: create and revoke API keys.
	PermKeys Permission = "keys"
	// PermUsers: add people, change roles, disable people.
	PermUsers Permission = "users"
	// PermSystem: SMTP, webhook and other installation settings.
	PermSystem Permission = "system"
	// PermAudit: read the audit trail.
	PermAudit Permission = "audit"
)

var grants = map[Role][]Permission{
	RoleAdmin:  {PermRead, PermWorkOwn, PermWorkAll, PermJourney, PermKeys, PermUsers, PermSystem, PermAudit},
	RoleOps:    {PermRead, PermWorkOwn, PermWorkAll, PermJourney},
	RoleCSM:    {PermRead, PermWorkOwn},
	RoleViewer: {PermRead},
}

// Can reports whether the role grants p.
func (r Role) Can(p Permission) bool { return slices.Contains(grants[r], p) }
