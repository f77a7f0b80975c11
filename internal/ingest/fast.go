package ingest

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// A fast path for the bodies SDKs send. encoding/json validated a batch
// body, copied every message out of it, and validated and decoded each
// message again: a fifth of the process's CPU in BenchmarkIngestBatch. The
// fast path validates the body once (validJSON) and walks its members in
// place. It decides nothing itself: whenever a body or a message is not
// plainly what it expects (a key that only matches a field without regard
// to case, a repeated field, a string with escapes, a value of the wrong
// kind, nesting deeper than fastMaxDepth), it gives up and the message or
// body goes through encoding/json exactly as before, so the two paths
// accept the same input and decode it alike (TestFastDecodeMatches).

// fastDecode switches the fast path on; the tests compare it with
// encoding/json alone.
var fastDecode = true

// fastMaxDepth is the deepest nesting validJSON follows; deeper bodies go
// through encoding/json (and are refused by checkJSON anyway).
const fastMaxDepth = 2 * MaxDepth

// validJSON reports whether b is a single JSON value as encoding/json's
// scanner accepts it (surrounding whitespace allowed), nested at most
// fastMaxDepth deep. false means "not shown valid", not "invalid".
func validJSON(b []byte) bool {
	i, ok := validValue(b, skipSpace(b, 0), 0)
	return ok && skipSpace(b, i) == len(b)
}

// afterMember reads what follows a member of an object or array (end is
// its closing bracket): a comma, and then more is true and j is the next
// member's start; or end, and then ok is true and j is past it.
func afterMember(b []byte, i int, end byte) (j int, more, ok bool) {
	i = skipSpace(b, i)
	switch {
	case i >= len(b):
		return i, false, false
	case b[i] == ',':
		return skipSpace(b, i+1), true, true
	case b[i] == end:
		return i + 1, false, true
	}
	return i, false, false
}

// validValue checks the value starting at b[i] and returns the index after
// it.
func validValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch c := b[i]; {
	case c == '"':
		return validString(b, i)
	case c == '{':
		if depth >= fastMaxDepth {
			return i, false
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == '}' {
			return i + 1, true
		}
		for {
			if i >= len(b) || b[i] != '"' {
				return i, false
			}
			var ok bool
			if i, ok = validString(b, i); !ok {
				return i, false
			}
			i = skipSpace(b, i)
			if i >= len(b) || b[i] != ':' {
				return i, false
			}
			if i, ok = validValue(b, skipSpace(b, i+1), depth+1); !ok {
				return i, false
			}
			var more bool
			if i, more, ok = afterMember(b, i, '}'); !more {
				return i, ok
			}
		}
	case c == '[':
		if depth >= fastMaxDepth {
			return i, false
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1, true
		}
		for {
			var ok bool
			if i, ok = validValue(b, i, depth+1); !ok {
				return i, false
			}
			var more bool
			if i, more, ok = afterMember(b, i, ']'); !more {
				return i, ok
			}
		}
	case c == '-' || (c >= '0' && c <= '9'):
		return validNumber(b, i)
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	}
	return i, false
}

func literal(b []byte, i int, lit string) (int, bool) {
	if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
		return i + len(lit), true
	}
	return i, false
}

// validString checks the string starting at b[i] == '"': no control
// characters, only JSON's escapes. Bytes that are not UTF-8 pass, as in
// encoding/json's scanner (checkJSON refuses them in messages).
func validString(b []byte, i int) (int, bool) {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return i, false
		case c == '\\':
			if i+1 >= len(b) {
				return i, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+6 > len(b) {
					return i, false
				}
				for _, h := range b[i+2 : i+6] {
					if !isHex(h) {
						return i, false
					}
				}
				i += 5
			default:
				return i, false
			}
		}
	}
	return i, false
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// validNumber checks -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func validNumber(b []byte, i int) (int, bool) {
	if b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return i, false
	}
	switch {
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		i = digits(b, i)
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return i, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return i, false
		}
		i = j
	}
	return i, true
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// elements returns the values of the JSON array arr (valid JSON), never
// nil; ok is false when arr is not an array.
func elements(arr []byte) (_ []json.RawMessage, ok bool) {
	i := skipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return nil, false
	}
	out := make([]json.RawMessage, 0, 128)
	for i++; ; {
		i = skipSpace(arr, i)
		if i >= len(arr) {
			return nil, false
		}
		switch arr[i] {
		case ']':
			return out, true
		case ',':
			i++
			continue
		}
		end := skipValue(arr, i)
		if end <= i {
			return nil, false
		}
		out = append(out, arr[i:end:end])
		i = end
	}
}

// plainString is the text of a JSON string without escapes (val valid
// JSON); ok is false for any other value. A string's bytes must be UTF-8
// (encoding/json would replace invalid bytes).
func plainString(val []byte) (string, bool) {
	if len(val) < 2 || val[0] != '"' || bytes.IndexByte(val, '\\') >= 0 || !utf8.Valid(val) {
		return "", false
	}
	return string(val[1 : len(val)-1]), true
}

// field finds key among names, the fields of a struct as encoding/json
// matches them: i >= 0 for an exact match; i < 0 and ok for a key that is
// no field; ok false for a key that encoding/json might still match to a
// field (its case differs, or it is escaped or not ASCII).
func field(key []byte, names []string) (i int, ok bool) {
	for i, n := range names {
		if string(key) == n {
			return i, true
		}
	}
	for _, c := range key {
		if c == '\\' || c >= utf8.RuneSelf {
			return -1, false
		}
	}
	for _, n := range names {
		if strings.EqualFold(string(key), n) {
			return -1, false
		}
	}
	return -1, true
}

var envelopeFields = []string{"batch", "context", "integrations", "sentAt", "writeKey"}

// eachField calls set with the index in names and the value of each
// member of obj, a JSON object, whose key is one of names; false (from
// set, or for a key that matches a name only without regard to case, or a
// repeated one, where encoding/json would let the last win) means "use
// encoding/json". buf holds the members.
func eachField(buf []member, obj []byte, names []string, set func(f int, val []byte) bool) bool {
	ms, ok := members(buf, obj)
	if !ok {
		return false
	}
	var seen uint
	for _, m := range ms {
		f, ok := field(m.key, names)
		if !ok {
			return false
		}
		if f < 0 {
			continue
		}
		if seen&(1<<f) != 0 {
			return false
		}
		seen |= 1 << f
		if !set(f, m.val) {
			return false
		}
	}
	return true
}

// decodeEnvelopeFast fills env from body, a valid JSON object as
// strictUnmarshal would read it; false means "use encoding/json".
func decodeEnvelopeFast(body []byte, env *envelope) bool {
	var buf [8]member
	return eachField(buf[:0], body, envelopeFields, func(f int, val []byte) bool {
		var ok bool
		switch f {
		case 0:
			env.Batch, ok = elements(val)
			return ok
		case 1:
			env.Context = json.RawMessage(val)
		case 2:
			env.Integrations = json.RawMessage(val)
		case 3, 4:
			s, ok := plainString(val)
			if !ok {
				return false
			}
			if f == 3 {
				env.SentAt = s
			} else {
				env.WriteKey = s
			}
		}
		return true
	})
}

var wireFields = []string{"type", "messageId", "userId", "anonymousId", "groupId", "previousId", "event", "name",
	"traits", "properties", "context", "integrations", "timestamp", "originalTimestamp", "sentAt", "writeKey"}

// decodeWireFast fills w from raw, a message of a body validJSON or
// encoding/json accepted and whose text checkJSON found UTF-8; false means
// "use encoding/json".
func decodeWireFast(raw []byte, w *wire) bool {
	var buf [24]member
	return eachField(buf[:0], raw, wireFields, func(f int, b []byte) bool {
		val := json.RawMessage(b)
		switch f {
		case 2:
			w.UserID = val
		case 3:
			w.AnonymousID = val
		case 4:
			w.GroupID = val
		case 5:
			w.PreviousID = val
		case 8:
			w.Traits = val
		case 9:
			w.Properties = val
		case 10:
			w.Context = val
		case 11:
			w.Integrations = val
		default:
			if string(val) == "null" {
				return true // encoding/json leaves a string (or nil pointer) as it is
			}
			s, ok := plainString(val)
			if !ok {
				return false
			}
			switch f {
			case 0:
				w.Type = s
			case 1:
				w.MessageID = &s
			case 6:
				w.Event = s
			case 7:
				w.Name = s
			case 12:
				w.Timestamp = s
			case 13:
				w.OriginalTimestamp = s
			case 14:
				w.SentAt = s
			case 15:
				w.WriteKey = s
			}
		}
		return true
	})
}
