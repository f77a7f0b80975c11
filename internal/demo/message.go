package demo

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// Message is one Segment call of the demo's history, in a compact form that
// Append turns into the wire format.
type Message struct {
	// Type is identify, group or track.
	Type string
	// ID is the messageId: stable for a seed, so a resent history is
	// deduplicated by the server.
	ID string
	// At is when it happened (originalTimestamp).
	At      time.Time
	UserID  string
	GroupID string
	// Event is the track call's event name.
	Event string
	// Fields are the traits of identify and group, or the properties of
	// track, in the order they are written.
	Fields []Field
	// StartsBatch sends the message at the start of a new batch. Triggers
	// compare an account's traits and a contact's role before and after
	// each batch and evaluate conditions on the account as the batch left
	// it, so a change of lifecycle stage or of a key role is sent apart
	// from what came before, as a CRM or HR sync would send it.
	StartsBatch bool
}

// Field is one trait or property.
type Field struct {
	Key string
	// Value is a string, int, float64, bool, Date or nil.
	Value any
}

// Date is a calendar date, written as YYYY-MM-DD.
type Date time.Time

// timeLayout is ISO 8601 with milliseconds, as Segment's libraries send.
const timeLayout = "2006-01-02T15:04:05.000Z"

// Append appends the message as Segment wire JSON.
func (m *Message) Append(b []byte) []byte {
	b = append(b, `{"type":`...)
	b = appendString(b, m.Type)
	b = append(b, `,"messageId":`...)
	b = appendString(b, m.ID)
	if m.UserID != "" {
		b = append(b, `,"userId":`...)
		b = appendString(b, m.UserID)
	}
	switch m.Type {
	case "group":
		b = append(b, `,"groupId":`...)
		b = appendString(b, m.GroupID)
		b = appendFields(b, "traits", m.Fields)
	case "identify":
		b = appendFields(b, "traits", m.Fields)
	default:
		b = append(b, `,"event":`...)
		b = appendString(b, m.Event)
		b = appendFields(b, "properties", m.Fields)
	}
	if m.GroupID != "" && m.Type != "group" {
		b = append(b, `,"context":{"groupId":`...)
		b = appendString(b, m.GroupID)
		b = append(b, '}')
	}
	b = append(b, `,"originalTimestamp":"`...)
	b = m.At.UTC().AppendFormat(b, timeLayout)
	return append(b, `"}`...)
}

func appendFields(b []byte, name string, fs []Field) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, `":{`...)
	for i, f := range fs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, f.Key)
		b = append(b, ':')
		b = appendValue(b, f.Value)
	}
	return append(b, '}')
}

func appendValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return appendString(b, v)
	case int:
		return strconv.AppendInt(b, int64(v), 10)
	case float64:
		return strconv.AppendFloat(b, v, 'f', -1, 64)
	case bool:
		return strconv.AppendBool(b, v)
	case Date:
		b = append(b, '"')
		b = time.Time(v).UTC().AppendFormat(b, "2006-01-02")
		return append(b, '"')
	case time.Time:
		b = append(b, '"')
		b = v.UTC().AppendFormat(b, timeLayout)
		return append(b, '"')
	}
	panic("demo: unsupported field value type") // a programming error in this package
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			b = append(b, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
