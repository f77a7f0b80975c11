package report

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The drivers report reads every account's traits. Decoding each into a
// map (encoding/json) and testing the signals map by map was most of its
// cost at 100,000 accounts; instead the traits are read straight into one
// column per trait (traitCols), each value classified once, and a string
// seen before is kept once (interned), so the tests look at arrays.

// Codes of a trait value in a column: unknown (absent, null, "", or an
// object or a list), a JSON number, or a level (a string or a boolean;
// code-levelBase indexes the column's levels).
const (
	codeUnknown int32 = 0
	codeNumber  int32 = 1
	levelBase   int32 = 2
)

// traitLevel is a distinct string (or boolean) value of a trait and what
// it reads as: a number when the string is one ("42", " 3.5 ").
type traitLevel struct {
	s     string
	num   float64
	isNum bool
}

// traitColumn is one trait's values, by subject.
type traitColumn struct {
	key string
	// present counts the subjects whose traits name the key, with any
	// value (null included).
	present int
	code    []int32   // by subject
	num     []float64 // by subject, where code is codeNumber
	levels  []traitLevel
	index   map[string]int32 // level string → its code
}

// level returns the code of string (or boolean) value s.
func (c *traitColumn) level(s string) int32 {
	if k, ok := c.index[s]; ok {
		return k
	}
	s = strings.Clone(s)
	l := traitLevel{s: s}
	if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		l.num, l.isNum = f, true
	}
	k := levelBase + int32(len(c.levels))
	c.levels = append(c.levels, l)
	c.index[s] = k
	return k
}

// traitCols are the traits of the subjects, one column per trait.
type traitCols struct {
	n    int // subjects
	cols map[string]*traitColumn
}

func newTraitCols() *traitCols { return &traitCols{cols: map[string]*traitColumn{}} }

func (t *traitCols) column(key string) *traitColumn {
	c := t.cols[key]
	if c == nil {
		key = strings.Clone(key)
		c = &traitColumn{key: key, index: map[string]int32{}}
		t.cols[key] = c
	}
	return c
}

// traitCell is one trait value of one subject, ready for its column.
type traitCell struct {
	col  *traitColumn
	code int32
	num  float64
}

// classify returns the cell of value v (as encoding/json decodes it) in
// column c.
func classify(c *traitColumn, v any) traitCell {
	cell := traitCell{col: c}
	switch x := v.(type) {
	case float64:
		cell.code, cell.num = codeNumber, x
	case bool:
		cell.code = c.level(strconv.FormatBool(x))
	case string:
		if x != "" {
			cell.code = c.level(x)
		}
	}
	return cell
}

// add appends the next subject, with the cells of its traits (one per
// key).
func (t *traitCols) add(cells []traitCell) {
	i := t.n
	t.n++
	for _, cell := range cells {
		c := cell.col
		c.present++
		if cell.code == codeUnknown {
			continue
		}
		if len(c.code) < i {
			c.code = append(c.code, make([]int32, i-len(c.code))...)
		}
		c.code = append(c.code, cell.code)
		if cell.code == codeNumber {
			if len(c.num) < i {
				c.num = append(c.num, make([]float64, i-len(c.num))...)
			}
			c.num = append(c.num, cell.num)
		}
	}
}

// done pads the columns to every subject and returns those some subject
// names, sorted by key.
func (t *traitCols) done() []*traitColumn {
	var out []*traitColumn
	for _, c := range t.cols {
		if c.present == 0 {
			continue
		}
		if len(c.code) < t.n {
			c.code = append(c.code, make([]int32, t.n-len(c.code))...)
		}
		if len(c.num) < t.n {
			c.num = append(c.num, make([]float64, t.n-len(c.num))...)
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *traitColumn) int { return strings.Compare(a.key, b.key) })
	return out
}

// colsOf puts the traits of subjects into columns.
func colsOf(subjects []Subject) []*traitColumn {
	t := newTraitCols()
	var cells []traitCell
	for _, s := range subjects {
		cells = cells[:0]
		for k, v := range s.Traits {
			cells = append(cells, classify(t.column(k), v))
		}
		t.add(cells)
	}
	return t.done()
}

// traitMember is one member of a traits object as parseTraits reads it:
// its key, and its value as encoding/json would decode it into an any
// (for a number, a string, a boolean or null, without allocating; for an
// object or a list, raw holds its JSON, decoded only when asked).
type traitMember struct {
	key  string
	kind byte // 'n' number, 's' string, 'b' boolean, '0' null, 'j' object or list (raw)
	num  float64
	str  string
	b    bool
	raw  string
}

// value is the member's value as encoding/json decodes it into an any.
func (m traitMember) value() any {
	switch m.kind {
	case 'n':
		return m.num
	case 's':
		return m.str
	case 'b':
		return m.b
	case 'j':
		var v any
		_ = json.Unmarshal([]byte(m.raw), &v) // parseTraits checked it
		return v
	}
	return nil
}

// parseTraits reads a JSON object of traits, calling fn with each member
// in order. It returns false when the text is not a JSON object it reads
// exactly as encoding/json would (escapes in keys, invalid UTF-8, any
// syntax error, a number out of range): the caller then decodes the text
// with encoding/json, which gives the same values or the same error. Keys
// and strings passed to fn share the text's memory.
func parseTraits(s string, fn func(traitMember)) bool {
	p := traitParser{s: s}
	p.space()
	if !p.byte('{') {
		return false
	}
	p.space()
	if p.byte('}') {
		p.space()
		return p.i == len(p.s)
	}
	for {
		p.space()
		key, ok := p.plainString()
		if !ok {
			return false
		}
		p.space()
		if !p.byte(':') {
			return false
		}
		p.space()
		m := traitMember{key: key}
		if !p.value(&m) {
			return false
		}
		fn(m)
		p.space()
		if p.byte(',') {
			continue
		}
		if !p.byte('}') {
			return false
		}
		p.space()
		return p.i == len(p.s)
	}
}

type traitParser struct {
	s string
	i int
}

func (p *traitParser) space() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *traitParser) byte(b byte) bool {
	if p.i < len(p.s) && p.s[p.i] == b {
		p.i++
		return true
	}
	return false
}

// plainString reads a string without escapes, of valid UTF-8 and no
// control characters; anything else is left to encoding/json.
func (p *traitParser) plainString() (string, bool) {
	if !p.byte('"') {
		return "", false
	}
	start, ascii := p.i, true
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			str := p.s[start:p.i]
			p.i++
			if !ascii && !utf8.ValidString(str) {
				return "", false
			}
			return str, true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= 0x80:
			ascii = false
		}
		p.i++
	}
	return "", false
}

func (p *traitParser) literal(word string) bool {
	if strings.HasPrefix(p.s[p.i:], word) {
		p.i += len(word)
		return true
	}
	return false
}

func (p *traitParser) value(m *traitMember) bool {
	if p.i >= len(p.s) {
		return false
	}
	switch c := p.s[p.i]; {
	case c == '"':
		str, ok := p.plainString()
		m.kind, m.str = 's', str
		return ok
	case c == 't':
		m.kind, m.b = 'b', true
		return p.literal("true")
	case c == 'f':
		m.kind, m.b = 'b', false
		return p.literal("false")
	case c == 'n':
		m.kind = '0'
		return p.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number(m)
	case c == '{' || c == '[':
		// Nested values are rare in traits: find their end, then let
		// encoding/json check them.
		start := p.i
		if !p.skipNested() {
			return false
		}
		m.kind, m.raw = 'j', p.s[start:p.i]
		return json.Valid([]byte(m.raw))
	}
	return false
}

// number reads a number in JSON's grammar and converts it as
// encoding/json does (strconv.ParseFloat; out of range is an error).
func (p *traitParser) number(m *traitMember) bool {
	start := p.i
	p.byte('-')
	digits := func() int {
		n := 0
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.byte('0') {
		// no more integer digits after a leading zero
	} else if digits() == 0 {
		return false
	}
	if p.byte('.') && digits() == 0 {
		return false
	}
	if p.byte('e') || p.byte('E') {
		if !p.byte('+') {
			p.byte('-')
		}
		if digits() == 0 {
			return false
		}
	}
	f, err := strconv.ParseFloat(p.s[start:p.i], 64)
	if err != nil {
		return false
	}
	m.kind, m.num = 'n', f
	return true
}

// skipNested moves past an object or a list, minding strings; whether it
// is valid JSON is checked afterwards.
func (p *traitParser) skipNested() bool {
	depth := 0
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case '"':
			p.i++
			for p.i < len(p.s) && p.s[p.i] != '"' {
				if p.s[p.i] == '\\' {
					p.i++
				}
				p.i++
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				p.i++
				return true
			}
		}
		p.i++
	}
	return false
}
