// Package ingest decodes Segment's HTTP Tracking API: it validates and
// normalises identify, track, page, screen, group and batch calls into
// store.Messages, applying the batch envelope and Segment's clock-skew
// correction. It does no I/O; the web package authenticates and the store
// commits.
package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/moments-cs/moments/internal/store"
)

// Limits of the tracking API, as Segment's.
const (
	MaxMessageBytes  = 32 << 10
	MaxBatchBytes    = 500 << 10
	MaxBatchMessages = 2500
	MaxMessageIDLen  = 99
	maxIDLen         = 1024
	// MaxDepth is the deepest nesting of objects and arrays a message may
	// have, the message itself being level 1: deeper JSON crashes common
	// clients that read it back.
	MaxDepth = 64
)

// The window of event times: a computed timestamp outside it (a skewed or
// wrong device clock) is replaced by the time of receipt, and the device's
// time kept in context.moments.timestamp_clamped_from.
var (
	// EarliestTimestamp is the earliest event time accepted.
	EarliestTimestamp = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	// MaxFutureSkew is how far after receipt an event time may be.
	MaxFutureSkew = 24 * time.Hour
)

// Error is one problem with the input, naming the field at fault in the
// request's own terms ("batch[3].userId").
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

func errf(code, field, format string, a ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, a...)}
}

// Types lists the call types the tracking API accepts.
var Types = []string{"identify", "track", "page", "screen", "group", "alias"}

func knownType(t string) bool {
	for _, k := range Types {
		if k == t {
			return true
		}
	}
	return false
}

// wire is one message as Segment sends it.
type wire struct {
	Type              string          `json:"type"`
	MessageID         *string         `json:"messageId"`
	UserID            json.RawMessage `json:"userId"`
	AnonymousID       json.RawMessage `json:"anonymousId"`
	GroupID           json.RawMessage `json:"groupId"`
	PreviousID        json.RawMessage `json:"previousId"`
	Event             string          `json:"event"`
	Name              string          `json:"name"`
	Traits            json.RawMessage `json:"traits"`
	Properties        json.RawMessage `json:"properties"`
	Context           json.RawMessage `json:"context"`
	Integrations      json.RawMessage `json:"integrations"`
	Timestamp         string          `json:"timestamp"`
	OriginalTimestamp string          `json:"originalTimestamp"`
	SentAt            string          `json:"sentAt"`
	WriteKey          string          `json:"writeKey"`
}

type envelope struct {
	Batch        []json.RawMessage `json:"batch"`
	Context      json.RawMessage   `json:"context"`
	Integrations json.RawMessage   `json:"integrations"`
	SentAt       string            `json:"sentAt"`
	WriteKey     string            `json:"writeKey"`
}

// Decoded is the result of decoding one request.
type Decoded struct {
	// WriteKey is the writeKey given in the body, if any.
	WriteKey string
	// Messages are the valid messages, in request order.
	Messages []store.Message
	// Rejected lists the invalid messages of a batch (each Error's Field
	// starts with "batch[i]"). Valid messages are still returned.
	Rejected []*Error
}

// DecodeCall decodes a single call posted to /v1/{typ}; typ is the path's
// type, which a "type" in the body may not contradict.
func DecodeCall(body []byte, typ string, receivedAt time.Time) (Decoded, *Error) {
	if len(body) > MaxMessageBytes {
		return Decoded{}, errf("too_large", "", "a message may be at most %d bytes; this one is %d", MaxMessageBytes, len(body))
	}
	if err := checkJSON(body, ""); err != nil {
		return Decoded{}, err
	}
	var w wire
	if err := strictUnmarshal(body, &w); err != nil {
		return Decoded{}, err
	}
	if w.Type != "" && w.Type != typ {
		return Decoded{}, errf("invalid_message", "type", "type %q does not match the endpoint /v1/%s", w.Type, typ)
	}
	w.Type = typ
	m, err := normalise(&w, "", noEnvelope, receivedAt)
	if err != nil {
		return Decoded{}, err
	}
	return Decoded{WriteKey: w.WriteKey, Messages: []store.Message{m}}, nil
}

// DecodeBatch decodes a /v1/batch (or /v1/import) body. A body that is not a
// batch at all (too large, not JSON, no batch array, too many messages) is
// an error and nothing of it may be stored. Otherwise the valid messages are
// returned and the invalid ones listed in Rejected.
func DecodeBatch(body []byte, receivedAt time.Time) (Decoded, *Error) {
	if len(body) > MaxBatchBytes {
		return Decoded{}, errf("too_large", "", "a batch may be at most %d bytes; this one is %d", MaxBatchBytes, len(body))
	}
	var env envelope
	if trimmed := bytes.TrimSpace(body); !fastDecode || len(trimmed) == 0 || trimmed[0] != '{' || !validJSON(trimmed) || !decodeEnvelopeFast(trimmed, &env) {
		env = envelope{}
		if err := strictUnmarshal(body, &env); err != nil {
			return Decoded{}, err
		}
	}
	if env.Batch == nil {
		return Decoded{}, errf("missing_field", "batch", "the body must have a \"batch\" array of messages")
	}
	if len(env.Batch) > MaxBatchMessages {
		return Decoded{}, errf("too_large", "batch", "a batch may hold at most %d messages; this one has %d", MaxBatchMessages, len(env.Batch))
	}
	for field, raw := range map[string]json.RawMessage{"context": env.Context, "integrations": env.Integrations} {
		if err := checkJSON(raw, field); err != nil {
			return Decoded{}, err
		}
	}
	d := Decoded{WriteKey: env.WriteKey, Messages: make([]store.Message, 0, len(env.Batch))}
	sh, envErr := newShared(env.Context, env.Integrations, env.SentAt)
	for i, raw := range env.Batch {
		prefix := "batch[" + strconv.Itoa(i) + "]"
		if len(raw) > MaxMessageBytes {
			d.Rejected = append(d.Rejected, errf("too_large", prefix, "a message may be at most %d bytes; this one is %d", MaxMessageBytes, len(raw)))
			continue
		}
		if err := checkJSON(raw, prefix); err != nil {
			d.Rejected = append(d.Rejected, err)
			continue
		}
		var w wire
		if !fastDecode || !decodeWireFast(raw, &w) {
			w = wire{}
			if err := json.Unmarshal(raw, &w); err != nil {
				d.Rejected = append(d.Rejected, errf("invalid_message", prefix, "not a message object: %s", jsonReason(err)))
				continue
			}
		}
		if envErr != nil {
			// The envelope's context or integrations is not an object:
			// no message can take it.
			d.Rejected = append(d.Rejected, envErr)
			continue
		}
		m, err := normalise(&w, prefix+".", sh, receivedAt)
		if err != nil {
			d.Rejected = append(d.Rejected, err)
			continue
		}
		d.Messages = append(d.Messages, m)
	}
	return d, nil
}

func strictUnmarshal(body []byte, v any) *Error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return errf("invalid_json", "", "the request body is empty; send a JSON object")
	}
	if body[0] != '{' {
		return errf("invalid_json", "", "the request body must be a JSON object")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errf("invalid_json", "", "the request body is not valid JSON: %s", jsonReason(err))
	}
	return nil
}

func jsonReason(err error) string {
	if te, ok := err.(*json.UnmarshalTypeError); ok {
		return fmt.Sprintf("%s must be %s, not %s", te.Field, te.Type, te.Value)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// shared is what a batch envelope gives each of its messages.
type shared struct {
	// ctx and integ are the envelope's context and integrations objects
	// and their members (parsed once per batch).
	ctx, integ   json.RawMessage
	ctxM, integM []member
	sentAt       string
}

// newShared validates the envelope's context and integrations.
func newShared(ctx, integ json.RawMessage, sentAt string) (*shared, *Error) {
	sh := &shared{sentAt: sentAt}
	var err *Error
	if sh.ctx, err = object(ctx, "", "context"); err != nil {
		return nil, err
	}
	if sh.integ, err = object(integ, "", "integrations"); err != nil {
		return nil, err
	}
	sh.ctxM, _ = members(nil, sh.ctx)
	sh.integM, _ = members(nil, sh.integ)
	return sh, nil
}

// noEnvelope is what a single call (no batch envelope) shares.
var noEnvelope = &shared{}

// normalise validates one message and converts it; prefix names the message
// within a batch ("batch[3].") in errors. Field names are only built for
// errors: a valid message allocates none.
func normalise(w *wire, prefix string, env *shared, receivedAt time.Time) (store.Message, *Error) {
	m := store.Message{Type: w.Type, ReceivedAt: receivedAt}
	if w.Type == "" {
		return m, errf("missing_field", prefix+"type", "every message needs a type: one of %s", strings.Join(Types, ", "))
	}
	if !knownType(w.Type) {
		return m, errf("unknown_type", prefix+"type", "unknown type %q: use one of %s", w.Type, strings.Join(Types, ", "))
	}
	var err *Error
	if m.UserID, err = idField(w.UserID, prefix, "userId"); err != nil {
		return m, err
	}
	if m.AnonymousID, err = idField(w.AnonymousID, prefix, "anonymousId"); err != nil {
		return m, err
	}
	if m.UserID == "" && m.AnonymousID == "" {
		return m, errf("missing_field", prefix+"userId", "a %s call needs a userId or an anonymousId", w.Type)
	}
	if w.MessageID == nil || *w.MessageID == "" {
		m.MessageID = uuid.NewString()
	} else {
		m.MessageID = *w.MessageID
		if len(m.MessageID) > MaxMessageIDLen {
			return m, errf("invalid_message", prefix+"messageId", "messageId must be under 100 characters; this one has %d", len(m.MessageID))
		}
	}

	ctx, ctxM, err := mergeObjects(env.ctx, env.ctxM, w.Context, prefix, "context")
	if err != nil {
		return m, err
	}
	m.Context = ctx
	if m.Integrations, _, err = mergeObjects(env.integ, env.integM, w.Integrations, prefix, "integrations"); err != nil {
		return m, err
	}
	ctxGroup := ""
	if g, ok := lookup(ctxM, "groupId"); ok {
		if ctxGroup, err = idField(g, prefix, "context.groupId"); err != nil {
			return m, err
		}
	}

	switch w.Type {
	case "track":
		if strings.TrimSpace(w.Event) == "" {
			return m, errf("missing_field", prefix+"event", "a track call needs an event name")
		}
		m.Name = w.Event
	case "page", "screen":
		m.Name = w.Name
	case "group":
		g, err := idField(w.GroupID, prefix, "groupId")
		if err != nil {
			return m, err
		}
		if g == "" {
			return m, errf("missing_field", prefix+"groupId", "a group call needs a groupId: the account's id")
		}
		ctxGroup = g
	case "alias":
		if _, err := idField(w.PreviousID, prefix, "previousId"); err != nil {
			return m, err
		}
	}
	m.GroupID = ctxGroup
	if len(m.Name) > maxIDLen {
		return m, errf("invalid_message", prefix+"event", "names may be at most %d characters", maxIDLen)
	}

	if w.Type == "identify" || w.Type == "group" {
		traits, err := objectMap(w.Traits, prefix, "traits")
		if err != nil {
			return m, err
		}
		m.Traits = traits
	} else {
		props, err := object(w.Properties, prefix, "properties")
		if err != nil {
			return m, err
		}
		m.Properties = props
	}

	if err := timestamps(&m, w, prefix, env.sentAt); err != nil {
		return m, err
	}
	return m, nil
}

// idField reads an id that Segment allows as a string or a number; prefix
// and name name it in errors.
func idField(raw json.RawMessage, prefix, name string) (string, *Error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	switch raw[0] {
	case '"':
		if bytes.IndexByte(raw, '\\') < 0 && len(raw) >= 2 && raw[len(raw)-1] == '"' {
			// No escapes: the text between the quotes is the string.
			s = string(raw[1 : len(raw)-1])
		} else if err := json.Unmarshal(raw, &s); err != nil {
			return "", errf("invalid_message", prefix+name, "not a valid string")
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		s = string(raw)
	default:
		return "", errf("invalid_message", prefix+name, "must be a string or a number")
	}
	if len(s) > maxIDLen {
		return "", errf("invalid_message", prefix+name, "may be at most %d characters", maxIDLen)
	}
	if i := strings.IndexAny(s, idForbidden); i >= 0 {
		return "", errf("invalid_id", prefix+name, "may not contain %q: ids appear in the addresses of pages and links, where / ? and # "+
			"change the address; send %q without it", s[i:i+1], s)
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return "", errf("invalid_id", prefix+name, "may not contain control characters such as tabs or line breaks")
	}
	return s, nil
}

// idForbidden are the characters an id may not contain: in a URL path
// they end the segment or the path.
const idForbidden = "/?#"

func object(raw json.RawMessage, prefix, name string) (json.RawMessage, *Error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, errf("invalid_message", prefix+name, "must be a JSON object")
	}
	return raw, nil
}

func objectMap(raw json.RawMessage, prefix, name string) (map[string]any, *Error) {
	if _, err := object(raw, prefix, name); err != nil {
		return nil, err
	}
	if len(raw) == 0 || string(raw) == "null" {
		return map[string]any{}, nil
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, errf("invalid_message", prefix+name, "must be a JSON object")
	}
	return out, nil
}

// mergeObjects applies a batch envelope's object (context, integrations),
// given with its members, to a message's own: the message's own keys win.
// It returns the merged object and its members.
func mergeObjects(env json.RawMessage, envM []member, own json.RawMessage, prefix, name string) (json.RawMessage, []member, *Error) {
	own, err := object(own, prefix, name)
	if err != nil {
		return nil, nil, err
	}
	ownM, ok := members(nil, own)
	if len(own) > 0 && !ok {
		return nil, nil, errf("invalid_message", prefix+name, "must be a JSON object")
	}
	switch {
	case len(envM) == 0:
		return own, ownM, nil
	case len(ownM) == 0:
		return env, envM, nil
	}
	merged := mergeRaw(envM, ownM)
	all, _ := members(make([]member, 0, len(envM)+len(ownM)), merged)
	return merged, all, nil
}

// timestamps applies Segment's rules. originalTimestamp is the device's time
// of the call (or the timestamp a server library passed); sentAt is the
// device's time of sending; receivedAt is ours. When both device times are
// known, the device's clock skew cancels out:
//
//	timestamp = receivedAt − (sentAt − originalTimestamp)
//
// Otherwise timestamp is originalTimestamp, or receivedAt when the device
// gave no time at all.
func timestamps(m *store.Message, w *wire, prefix, envSentAt string) *Error {
	orig, err := parseTime(w.OriginalTimestamp, prefix, "originalTimestamp")
	if err != nil {
		return err
	}
	if orig.IsZero() {
		if orig, err = parseTime(w.Timestamp, prefix, "timestamp"); err != nil {
			return err
		}
	}
	sent, sentPrefix := w.SentAt, prefix
	if sent == "" {
		sent, sentPrefix = envSentAt, ""
	}
	sentAt, err := parseTime(sent, sentPrefix, "sentAt")
	if err != nil {
		return err
	}
	m.OriginalTimestamp, m.SentAt = orig, sentAt
	switch {
	case !orig.IsZero() && !sentAt.IsZero():
		m.Timestamp = m.ReceivedAt.Add(-sentAt.Sub(orig))
	case !orig.IsZero():
		m.Timestamp = orig
	default:
		m.Timestamp = m.ReceivedAt
	}
	if m.Timestamp.Before(EarliestTimestamp) || m.Timestamp.After(m.ReceivedAt.Add(MaxFutureSkew)) {
		ctx, err := noteInContext(m.Context, "timestamp_clamped_from", m.Timestamp.Format(time.RFC3339Nano))
		if err != nil {
			return errf("invalid_message", prefix+"context", "must be a JSON object")
		}
		m.Context, m.Timestamp = ctx, m.ReceivedAt
	}
	return nil
}

// noteInContext sets context.moments[key] = value, keeping the rest of
// the context.
func noteInContext(ctx json.RawMessage, key, value string) (json.RawMessage, error) {
	c := map[string]json.RawMessage{}
	if len(ctx) > 0 {
		if err := json.Unmarshal(ctx, &c); err != nil {
			return nil, err
		}
	}
	ours := map[string]json.RawMessage{}
	if old, ok := c["moments"]; ok {
		_ = json.Unmarshal(old, &ours) // a moments key that is not an object is replaced
	}
	ours[key], _ = json.Marshal(value)
	c["moments"], _ = json.Marshal(ours)
	return json.Marshal(c)
}

var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04:05.999999999", time.DateOnly}

func parseTime(s, prefix, name string) (time.Time, *Error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			if t.Year() < 1970 || t.Year() > 9999 {
				break
			}
			return t.UTC(), nil
		}
	}
	return time.Time{}, errf("invalid_message", prefix+name, "%q is not an ISO 8601 time such as 2026-11-25T14:30:00Z", s)
}
