package ingest

import (
	"bytes"
	"encoding/json"
)

// A message's context is kept as raw JSON: merging it with the batch
// envelope's context and reading its groupId walk its top-level members
// instead of decoding it into maps and encoding it again (which cost more
// than decoding the rest of the message).

// member is one top-level member of a JSON object: its key as written
// between the quotes (escapes not decoded) and its value's bytes.
type member struct {
	key, val []byte
}

// is reports whether the member's key is k.
func (m member) is(k string) bool {
	if bytes.IndexByte(m.key, '\\') < 0 {
		return string(m.key) == k
	}
	return m.name() == k
}

// name is the member's key, unescaped.
func (m member) name() string {
	if bytes.IndexByte(m.key, '\\') < 0 {
		return string(m.key)
	}
	var s string
	quoted := make([]byte, 0, len(m.key)+2)
	quoted = append(append(append(quoted, '"'), m.key...), '"')
	if json.Unmarshal(quoted, &s) != nil {
		return string(m.key)
	}
	return s
}

// members appends the top-level members of obj to dst. obj must be valid
// JSON (a json.RawMessage filled by json.Unmarshal is); ok is false when
// it is not an object.
func members(dst []member, obj []byte) (_ []member, ok bool) {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return dst, false
	}
	i++
	for {
		i = skipSpace(obj, i)
		if i >= len(obj) {
			return dst, false
		}
		switch obj[i] {
		case '}':
			return dst, true
		case ',':
			i++
			continue
		case '"':
		default:
			return dst, false
		}
		kEnd := skipString(obj, i)
		key := obj[i+1 : kEnd-1]
		i = skipSpace(obj, kEnd)
		if i >= len(obj) || obj[i] != ':' {
			return dst, false
		}
		i = skipSpace(obj, i+1)
		vEnd := skipValue(obj, i)
		if vEnd <= i {
			return dst, false
		}
		dst = append(dst, member{key: key, val: obj[i:vEnd]})
		i = vEnd
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	}
	// A number or a literal.
	for ; i < len(b); i++ {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
	}
	return i
}

// lookup returns the value of the last member named k (json.Unmarshal's
// rule for repeated keys).
func lookup(ms []member, k string) ([]byte, bool) {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].is(k) {
			return ms[i].val, true
		}
	}
	return nil, false
}

// mergeRaw writes the object with env's members that own does not
// override, followed by own's members: the message's own keys win.
func mergeRaw(env, own []member) json.RawMessage {
	n := 2
	for _, m := range env {
		n += len(m.key) + len(m.val) + 4
	}
	for _, m := range own {
		n += len(m.key) + len(m.val) + 4
	}
	out := make([]byte, 0, n)
	out = append(out, '{')
	write := func(m member) {
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, m.key...)
		out = append(out, '"', ':')
		out = append(out, m.val...)
	}
	for _, m := range env {
		if !overridden(own, m) {
			write(m)
		}
	}
	for i, m := range own {
		if !overridden(own[i+1:], m) {
			write(m)
		}
	}
	return append(out, '}')
}

// overridden reports whether ms has a member with m's key.
func overridden(ms []member, m member) bool {
	plain := bytes.IndexByte(m.key, '\\') < 0
	for _, o := range ms {
		if plain && bytes.IndexByte(o.key, '\\') < 0 {
			if bytes.Equal(o.key, m.key) {
				return true
			}
		} else if o.name() == m.name() {
			return true
		}
	}
	return false
}
