package health

import (
	"encoding/json"

	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/moments-cs/moments/internal/vocab"
)

// An aggregate is read and written for every batch of events an account
// receives, so its JSON is written and read by hand: encoding/json's
// reflection made a round trip of a typical aggregate cost over 100 µs,
// most of an ingestion batch's budget. The format is compact but still
// plain JSON, readable in a database console:
//
//	{"format":1,"seen":1773576000,"last_activity":1773576000,
//	 "days":[[day,count],…],"users":[[hash,day],…],
//	 "features":{"Report Created":time,…},
//	 "responses":[[contact,label,role,kind,score,time],…],
//	 "recent_csat":[…],"recent_ces":[…],
//	 "tickets":[[time,kind],…],"milestones":{"kickoff":time,…},
//	 "executives":[[hash,role,first,last],…],
//	 "key_contacts":[[hash,role,named,dropped],…],
//	 "recent":[[name,time],…]}
//
// Empty parts are left out. UnmarshalJSON skips keys it does not know, so
// a newer writer's extra parts do not stop an older reader.

// MarshalJSON writes the aggregate. Call it directly rather than through
// json.Marshal, which would scan the output once more to validate it.
func (a *Aggregate) MarshalJSON() ([]byte, error) {
	return a.AppendJSON(make([]byte, 0, 128+len(a.Days)*16+len(a.Users)*20+len(a.Responses)*60)), nil
}

// AppendJSON appends the aggregate's JSON to b.
func (a *Aggregate) AppendJSON(b []byte) []byte {
	b = append(b, `{"format":`...)
	b = strconv.AppendInt(b, int64(a.Format), 10)
	if a.Seen != 0 {
		b = append(b, `,"seen":`...)
		b = strconv.AppendInt(b, a.Seen, 10)
	}
	if a.LastActivity != 0 {
		b = append(b, `,"last_activity":`...)
		b = strconv.AppendInt(b, a.LastActivity, 10)
	}
	if len(a.Days) > 0 {
		b = append(b, `,"days":[`...)
		for i, d := range a.Days {
			b = appendComma(b, i)
			b = append(b, '[')
			b = strconv.AppendInt(b, d.Day, 10)
			b = append(b, ',')
			b = strconv.AppendInt(b, int64(d.Count), 10)
			b = append(b, ']')
		}
		b = append(b, ']')
	}
	if len(a.Users) > 0 {
		b = append(b, `,"users":[`...)
		for i, u := range a.Users {
			b = appendComma(b, i)
			b = append(b, '[')
			b = strconv.AppendUint(b, uint64(u.Hash), 10)
			b = append(b, ',')
			b = strconv.AppendInt(b, u.Day, 10)
			b = append(b, ']')
		}
		b = append(b, ']')
	}
	b = appendTimes(b, "features", a.Features)
	b = appendResponses(b, "responses", a.Responses)
	b = appendResponses(b, "recent_csat", a.RecentCSAT)
	b = appendResponses(b, "recent_ces", a.RecentCES)
	if len(a.Tickets) > 0 {
		b = append(b, `,"tickets":[`...)
		for i, t := range a.Tickets {
			b = appendComma(b, i)
			b = append(b, '[')
			b = strconv.AppendInt(b, t.At, 10)
			b = append(b, ',')
			b = appendString(b, t.Kind)
			b = append(b, ']')
		}
		b = append(b, ']')
	}
	b = appendTimes(b, "milestones", a.Milestones)
	b = appendContactSpans(b, "executives", len(a.Executives), func(i int) (uint32, string, int64, int64) {
		e := a.Executives[i]
		return e.Hash, e.Role, e.First, e.Last
	})
	b = appendContactSpans(b, "key_contacts", len(a.KeyContacts), func(i int) (uint32, string, int64, int64) {
		k := a.KeyContacts[i]
		return k.Hash, k.Role, k.Named, k.Dropped
	})
	if len(a.Recent) > 0 {
		b = append(b, `,"recent":[`...)
		for i, r := range a.Recent {
			b = appendComma(b, i)
			b = append(b, '[')
			b = appendString(b, r.Name)
			b = append(b, ',')
			b = strconv.AppendInt(b, r.At, 10)
			b = append(b, ']')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func appendComma(b []byte, i int) []byte {
	if i > 0 {
		return append(b, ',')
	}
	return b
}

// appendTimes writes a map of times with its keys sorted, so that equal
// aggregates give equal bytes.
func appendTimes(b []byte, key string, m map[string]int64) []byte {
	if len(m) == 0 {
		return b
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, `":{`...)
	for i, k := range keys {
		b = appendComma(b, i)
		b = appendString(b, k)
		b = append(b, ':')
		b = strconv.AppendInt(b, m[k], 10)
	}
	return append(b, '}')
}

func appendResponses(b []byte, key string, rs []Response) []byte {
	if len(rs) == 0 {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, `":[`...)
	for i, r := range rs {
		b = appendComma(b, i)
		b = append(b, '[')
		b = appendString(b, r.Contact)
		b = append(b, ',')
		b = appendString(b, r.Label)
		b = append(b, ',')
		b = appendString(b, r.Role)
		b = append(b, ',')
		b = appendString(b, r.Kind)
		b = append(b, ',')
		b = strconv.AppendFloat(b, r.Score, 'g', -1, 64)
		b = append(b, ',')
		b = strconv.AppendInt(b, r.At, 10)
		b = append(b, ']')
	}
	return append(b, ']')
}

// appendString writes a JSON string. Strings that need no escaping (the
// common case: ids, event names) are copied as they are; anything else goes
// through encoding/json for its escaping rules.
func appendString(b []byte, s string) []byte {
	ascii := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
		ascii = ascii && c < utf8.RuneSelf
	}
	if !ascii && !utf8.ValidString(s) {
		q, _ := json.Marshal(s) // replaces invalid bytes with U+FFFD
		return append(b, q...)
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// UnmarshalJSON reads an aggregate written by MarshalJSON, replacing the
// receiver's contents. It checks the input itself, so it may be called
// directly, without json.Unmarshal's extra validating pass.
func (a *Aggregate) UnmarshalJSON(data []byte) error {
	r := reader{b: data}
	r.ws()
	if r.literal("null") {
		return nil
	}
	var out Aggregate
	r.object(func(key string) {
		switch key {
		case "format":
			out.Format = int(r.int(32))
		case "seen":
			out.Seen = r.int(63)
		case "last_activity":
			out.LastActivity = r.int(63)
		case "days":
			r.array(func() {
				r.next('[')
				day := r.int(63)
				r.next(',')
				count := r.int(31)
				r.next(']')
				out.Days = append(out.Days, DayCount{Day: day, Count: int(count)})
			})
		case "users":
			r.array(func() {
				r.next('[')
				hash := r.uint(32)
				r.next(',')
				day := r.int(63)
				r.next(']')
				out.Users = append(out.Users, UserDay{Hash: uint32(hash), Day: day})
			})
		case "features":
			out.Features = r.times()
		case "responses":
			out.Responses = r.responses()
		case "recent_csat":
			out.RecentCSAT = r.responses()
		case "recent_ces":
			out.RecentCES = r.responses()
		case "tickets":
			r.array(func() {
				r.next('[')
				at := r.int(63)
				r.next(',')
				kind := r.string()
				r.next(']')
				out.Tickets = append(out.Tickets, Ticket{Kind: kind, At: at})
			})
		case "milestones":
			out.Milestones = r.times()
		case "executives":
			r.contactSpans(func(hash uint32, role string, first, last int64) {
				out.Executives = append(out.Executives, Executive{Hash: hash, Role: role, First: first, Last: last})
			})
		case "key_contacts":
			r.contactSpans(func(hash uint32, role string, named, dropped int64) {
				out.KeyContacts = append(out.KeyContacts, KeyContact{Hash: hash, Role: role, Named: named, Dropped: dropped})
			})
		case "recent":
			r.array(func() {
				r.next('[')
				name := r.string()
				r.next(',')
				at := r.int(63)
				r.next(']')
				out.Recent = append(out.Recent, Activity{Name: name, At: at})
			})
		default:
			r.skip(0)
		}
	})
	r.ws()
	if r.err == nil && r.i != len(r.b) {
		r.fail("unexpected data after the aggregate")
	}
	if r.err != nil {
		return r.err
	}
	*a = out
	return nil
}

// ParseTimes reads a JSON object of names to whole numbers, as
// json.Marshal writes a map[string]int64 (the recompute's kept first times
// of milestone events), without encoding/json's reflection: a daily
// recompute reads one per account. It returns an error for anything else,
// which the caller may then hand to encoding/json; an empty object gives a
// nil map.
func ParseTimes(data []byte) (map[string]int64, error) {
	r := reader{b: data}
	r.ws()
	m := r.times()
	r.ws()
	if r.err == nil && r.i != len(r.b) {
		r.fail("unexpected data after the object")
	}
	return m, r.err
}

// reader is a small JSON reader for the aggregate's own format. After the
// first error every method returns zero values, so parsing code need not
// check errors at each step; every loop stops on an error.
type reader struct {
	b   []byte
	i   int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("health aggregate: at byte %d: %s", r.i, fmt.Sprintf(format, args...))
	}
}

func (r *reader) ws() {
	for r.i < len(r.b) && isSpace(r.b[r.i]) {
		r.i++
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// next consumes c, after any white space, or fails.
func (r *reader) next(c byte) bool {
	r.ws()
	if r.err != nil {
		return false
	}
	if r.i < len(r.b) && r.b[r.i] == c {
		r.i++
		return true
	}
	r.fail("want %q", c)
	return false
}

// maybe consumes c if it comes next.
func (r *reader) maybe(c byte) bool {
	r.ws()
	if r.err == nil && r.i < len(r.b) && r.b[r.i] == c {
		r.i++
		return true
	}
	return false
}

func (r *reader) literal(s string) bool {
	if r.err == nil && len(r.b)-r.i >= len(s) && string(r.b[r.i:r.i+len(s)]) == s {
		r.i += len(s)
		return true
	}
	return false
}

// object reads {"key": value, …}, calling each to read every value.
func (r *reader) object(each func(key string)) {
	if !r.next('{') || r.maybe('}') {
		return
	}
	for r.err == nil {
		key := r.string()
		r.next(':')
		each(key)
		if !r.maybe(',') {
			r.next('}')
			return
		}
	}
}

// array reads [value, …], calling each to read every value.
func (r *reader) array(each func()) {
	if !r.next('[') || r.maybe(']') {
		return
	}
	for r.err == nil {
		each()
		if !r.maybe(',') {
			r.next(']')
			return
		}
	}
}

func (r *reader) times() map[string]int64 {
	var m map[string]int64
	r.object(func(key string) {
		if m == nil {
			m = make(map[string]int64)
		}
		m[key] = r.int(63)
	})
	return m
}

func (r *reader) responses() []Response {
	var out []Response
	r.array(func() {
		var x Response
		r.next('[')
		x.Contact = r.string()
		r.next(',')
		x.Label = r.string()
		r.next(',')
		x.Role = r.string()
		r.next(',')
		x.Kind = r.string()
		r.next(',')
		x.Score = r.float()
		r.next(',')
		x.At = r.int(63)
		r.next(']')
		out = append(out, x)
	})
	return out
}

// string reads a JSON string. Strings without escapes, the common case, are
// taken as they are; others are decoded by encoding/json.
func (r *reader) string() string {
	if !r.next('"') {
		return ""
	}
	start, escaped := r.i, false
	for r.i < len(r.b) {
		switch c := r.b[r.i]; {
		case c == '"':
			r.i++
			if raw := r.b[start : r.i-1]; !escaped && utf8.Valid(raw) {
				return intern(raw)
			}
			// Escapes, or bytes that are not UTF-8, which encoding/json
			// replaces with U+FFFD as it does everywhere else.
			var s string
			if err := json.Unmarshal(r.b[start-1:r.i], &s); err != nil {
				r.fail("bad string: %v", err)
			}
			return s
		case c == '\\':
			escaped = true
			r.i += 2
		case c < 0x20:
			r.fail("control character in a string")
			return ""
		default:
			r.i++
		}
	}
	r.fail("unterminated string")
	return ""
}

// intern returns the values that recur in every aggregate (kinds, roles)
// without allocating a new string for each; the switch on string(b) does
// not allocate.
func intern(b []byte) string {
	switch string(b) {
	case "":
		return ""
	case vocab.SurveyNPS:
		return vocab.SurveyNPS
	case vocab.SurveyCSAT:
		return vocab.SurveyCSAT
	case vocab.SurveyCES:
		return vocab.SurveyCES
	case TicketOpened:
		return TicketOpened
	case TicketEscalated:
		return TicketEscalated
	case TicketReopened:
		return TicketReopened
	case vocab.RoleSponsor:
		return vocab.RoleSponsor
	case vocab.RoleChampion:
		return vocab.RoleChampion
	case vocab.RoleAdmin:
		return vocab.RoleAdmin
	case vocab.RoleUser:
		return vocab.RoleUser
	}
	return string(b)
}

// int reads a signed integer that fits in bits bits plus a sign.
func (r *reader) int(bits uint) int64 {
	r.ws()
	neg := r.i < len(r.b) && r.b[r.i] == '-'
	if neg {
		r.i++
	}
	v := r.uint(bits)
	if neg {
		return -int64(v)
	}
	return int64(v)
}

// uint reads an unsigned integer below 2^bits.
func (r *reader) uint(bits uint) uint64 {
	r.ws()
	if r.err != nil {
		return 0
	}
	start := r.i
	var v uint64
	limit := uint64(1)<<bits - 1
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
		d := uint64(r.b[r.i] - '0')
		if v > (limit-d)/10 {
			r.fail("number out of range")
			return 0
		}
		v = v*10 + d
		r.i++
	}
	if r.i == start {
		r.fail("want a whole number")
	}
	return v
}

func (r *reader) float() float64 {
	r.ws()
	if r.err != nil {
		return 0
	}
	start := r.i
	for r.i < len(r.b) && isNumberByte(r.b[r.i]) {
		r.i++
	}
	f, err := strconv.ParseFloat(string(r.b[start:r.i]), 64)
	if err != nil {
		r.fail("want a number")
	}
	return f
}

func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// maxDepth bounds the nesting of skipped values, so that a hostile value
// cannot exhaust the stack.
const maxDepth = 32

// skip reads and discards any JSON value.
func (r *reader) skip(depth int) {
	if depth > maxDepth {
		r.fail("nested too deeply")
		return
	}
	r.ws()
	if r.err != nil || r.i >= len(r.b) {
		r.fail("want a value")
		return
	}
	switch c := r.b[r.i]; {
	case c == '{':
		r.object(func(string) { r.skip(depth + 1) })
	case c == '[':
		r.array(func() { r.skip(depth + 1) })
	case c == '"':
		r.string()
	case r.literal("true"), r.literal("false"), r.literal("null"):
	case isNumberByte(c):
		r.float()
	default:
		r.fail("want a value")
	}
}

// appendContactSpans writes n contacts seen in a role over a span, each as
// [hash, role, from, to]: the executives (first and last contact) and the
// key contacts (named and dropped).
func appendContactSpans(b []byte, key string, n int, row func(i int) (uint32, string, int64, int64)) []byte {
	if n == 0 {
		return b
	}
	b = append(b, `,"`...)
	b = append(b, key...)
	b = append(b, `":[`...)
	for i := range n {
		hash, role, from, to := row(i)
		b = appendComma(b, i)
		b = append(b, '[')
		b = strconv.AppendUint(b, uint64(hash), 10)
		b = append(b, ',')
		b = appendString(b, role)
		b = append(b, ',')
		b = strconv.AppendInt(b, from, 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, to, 10)
		b = append(b, ']')
	}
	return append(b, ']')
}

// contactSpans reads what appendContactSpans wrote.
func (r *reader) contactSpans(each func(hash uint32, role string, from, to int64)) {
	r.array(func() {
		r.next('[')
		hash := uint32(r.uint(32))
		r.next(',')
		role := r.string()
		r.next(',')
		from := r.int(63)
		r.next(',')
		to := r.int(63)
		r.next(']')
		each(hash, role, from, to)
	})
}
