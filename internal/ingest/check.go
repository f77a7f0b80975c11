package ingest

import (
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/moments-cs/moments/internal/store"
)

// checkJSON refuses JSON that would be stored broken or not at all: text
// that is not UTF-8 (stored raw, it breaks every reader), nesting deeper
// than MaxDepth, the escape \u0000 (PostgreSQL cannot store it in text or
// jsonb) and lone UTF-16 surrogates (jsonb refuses them too). field names
// the checked value in errors. Malformed JSON is left to the decoder.
func checkJSON(raw []byte, field string) *Error {
	if len(raw) == 0 {
		return nil
	}
	if !utf8.Valid(raw) {
		return errf("invalid_encoding", field, "the JSON is not valid UTF-8 text; send UTF-8")
	}
	depth, inString := 0, false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if inString {
			switch c {
			case '"':
				inString = false
			case '\\':
				if i+1 < len(raw) && raw[i+1] == 'u' {
					n, problem := checkEscape(raw, i)
					if problem != "" {
						return errf("invalid_message", field, "%s", problem)
					}
					i += n - 1
				} else {
					i++
				}
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > MaxDepth {
				return errf("too_deep", field, "objects and arrays may be nested at most %d levels deep", MaxDepth)
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

// checkEscape reads the \uXXXX escape at raw[i] (and the low surrogate
// after a high one) and returns its length in bytes, or a problem.
func checkEscape(raw []byte, i int) (int, string) {
	code, ok := hex4(raw, i)
	if !ok {
		return 2, "" // malformed: the decoder reports it
	}
	switch {
	case code == 0:
		return 6, `text may not contain \u0000 (NUL): it cannot be stored`
	case code >= 0xDC00 && code < 0xE000:
		return 6, fmt.Sprintf(`text may not contain a lone UTF-16 surrogate (\u%04x)`, code)
	case code >= 0xD800 && code < 0xDC00:
		low, ok := hex4(raw, i+6)
		if !ok || low < 0xDC00 || low >= 0xE000 {
			return 6, fmt.Sprintf(`text may not contain a lone UTF-16 surrogate (\u%04x)`, code)
		}
		return 12, ""
	}
	return 6, ""
}

// hex4 reads the escape \uXXXX at raw[i].
func hex4(raw []byte, i int) (uint64, bool) {
	if i+6 > len(raw) || raw[i] != '\\' || raw[i+1] != 'u' {
		return 0, false
	}
	v, err := strconv.ParseUint(string(raw[i+2:i+6]), 16, 32)
	return v, err == nil
}

// ProtectedTraits are the traits only a server write key may set through
// the tracking API, by call type: a contact's email and names, which the
// emails of playbooks use, and an account's owner, which decides which CSM
// may act on the account. A browser's write key is public, so anyone can
// send calls with it: the traits it sends are never trusted for either.
var ProtectedTraits = map[string][]string{
	"identify": {"email", "first_name", "firstName", "last_name", "lastName", "name"},
	"group":    {"owner"},
}

// StripProtectedTraits removes the ProtectedTraits from msgs (sent with a
// write key that is not a server key) and returns the names it removed,
// sorted and without repeats, so the response can say they were ignored.
func StripProtectedTraits(msgs []store.Message) []string {
	var dropped []string
	for i := range msgs {
		for _, k := range ProtectedTraits[msgs[i].Type] {
			if _, ok := msgs[i].Traits[k]; ok {
				delete(msgs[i].Traits, k)
				dropped = append(dropped, k)
			}
		}
	}
	slices.Sort(dropped)
	return slices.Compact(dropped)
}
