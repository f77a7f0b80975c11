package store

import (
	"encoding/json"
	"time"
)

// Message is one normalised Segment call, ready to store. The ingest package
// builds it from the wire format; the store trusts that it is valid.
type Message struct {
	Type        string // identify, track, page, screen, group
	MessageID   string
	UserID      string
	AnonymousID string
	// GroupID is the account: the groupId of a group call, or context.groupId.
	GroupID string
	// Name is the event name of a track call or the page name of a page call.
	Name string
	// Traits are the traits of identify and group calls.
	Traits map[string]any
	// Properties are the properties of track and page calls (raw JSON).
	Properties json.RawMessage
	// Context is the message's context (raw JSON).
	Context json.RawMessage
	// Integrations is the message's integrations object (raw JSON).
	Integrations      json.RawMessage
	Timestamp         time.Time
	OriginalTimestamp time.Time
	SentAt            time.Time
	ReceivedAt        time.Time
}

// Account is a customer company (a Segment group).
type Account struct {
	ID             string         `json:"id"`
	Name           string         `json:"name"`
	Plan           string         `json:"plan"`
	Segment        string         `json:"segment"`
	Owner          string         `json:"owner"`
	LifecycleStage string         `json:"lifecycle_stage"`
	ARR            float64        `json:"arr"`
	RenewalDate    string         `json:"renewal_date"`
	Traits         map[string]any `json:"traits"`
	CreatedAt      time.Time      `json:"created_at"`
	UpdatedAt      time.Time      `json:"updated_at"`
	LastSeenAt     *time.Time     `json:"last_seen_at"`
}

// Contact is a person at an account (a Segment identify).
type Contact struct {
	ID         string         `json:"id"`
	AccountID  string         `json:"account_id"`
	Email      string         `json:"email"`
	Role       string         `json:"role"`
	Traits     map[string]any `json:"traits"`
	CreatedAt  time.Time      `json:"created_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
	LastSeenAt *time.Time     `json:"last_seen_at"`
}

// Event is one stored, immutable call.
type Event struct {
	ID                int64           `json:"id"`
	MessageID         string          `json:"message_id"`
	Type              string          `json:"type"`
	Name              string          `json:"name"`
	UserID            string          `json:"user_id"`
	AnonymousID       string          `json:"anonymous_id"`
	AccountID         string          `json:"account_id"`
	Timestamp         time.Time       `json:"timestamp"`
	OriginalTimestamp *time.Time      `json:"original_timestamp"`
	SentAt            *time.Time      `json:"sent_at"`
	ReceivedAt        time.Time       `json:"received_at"`
	Properties        json.RawMessage `json:"properties"`
	Context           json.RawMessage `json:"context"`
	Integrations      json.RawMessage `json:"integrations"`
}

// APIKey is a stored key: only its hash is kept.
type APIKey struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Scope string `json:"scope"`
	// Server marks a write key kept on a server, never in a browser: only
	// such a key may set the traits that steer email and rights.
	Server     bool       `json:"server"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

// Page asks for one page of a list. Cursor is the opaque value returned as
// Next by the previous page.
type Page struct {
	Limit  int
	Cursor string
}

func (p Page) limit() int {
	switch {
	case p.Limit <= 0:
		return 50
	case p.Limit > 500:
		return 500
	}
	return p.Limit
}
