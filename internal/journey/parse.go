package journey

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// MaxMapSize is the largest journey map file accepted, in bytes (1 MiB).
// A complete map for a large company is well under 100 KiB; the limit keeps
// a mistaken upload (a log file, a database dump) from tying up the server.
const MaxMapSize = 1 << 20

// maxNodes bounds the number of YAML values decoded, counting each use of
// an alias again, so that nested aliases cannot expand a small file into
// billions of values.
const maxNodes = 1_000_000

// maxDepth bounds the nesting of YAML collections. The map's own format is
// less than ten levels deep; the limit keeps deeply nested input from
// exhausting the YAML parser's stack.
const maxDepth = 100

// Parse reads a journey map from YAML. It checks the file's structure: YAML
// syntax, known keys and value types; Lint checks the meaning. The returned
// map is nil only when the file cannot be read as YAML at all; otherwise it
// holds everything that could be decoded, even when there are diagnostics.
// Parse never applies defaults (see WithDefaults).
func Parse(filename string, data []byte) (*Map, []Diagnostic) {
	m, _, diags := parseSource(filename, data)
	return m, diags
}

// parseSource is Parse that also returns the positions of the map's values, for
// Lint.
func parseSource(filename string, data []byte) (m *Map, src *source, diags []Diagnostic) {
	src = &source{file: filename, data: data, pos: map[string]nodePos{}, problems: map[string]bool{}}
	if len(data) > MaxMapSize {
		return nil, src, []Diagnostic{src.diag(1, 1, "", SeverityError, fmt.Sprintf(
			"the file is %s, larger than the %s limit for a journey map; check that this is the right file, and move long email bodies out of the map if it is",
			sizeText(len(data)), sizeText(MaxMapSize)))}
	}
	if !utf8.Valid(data) {
		return nil, src, []Diagnostic{src.diag(1, 1, "", SeverityError,
			"the file is not UTF-8 text; save it as UTF-8 and try again")}
	}
	if line, col, ok := tooDeep(data); !ok {
		return nil, src, []Diagnostic{src.diag(line, col, "", SeverityError, fmt.Sprintf(
			"values are nested more than %d levels deep; a journey map never needs that many", maxDepth))}
	}
	file, err := parseYAML(data)
	if err != nil {
		return nil, src, []Diagnostic{syntaxDiagnostic(src, err)}
	}
	var body ast.Node
	for _, doc := range file.Docs {
		if doc == nil || doc.Body == nil || isComment(doc.Body) {
			continue
		}
		if body != nil {
			line, col := nodeStart(doc.Body)
			if doc.Start != nil {
				line, col = doc.Start.Position.Line, doc.Start.Position.Column
			}
			return nil, src, []Diagnostic{src.diag(line, col, "", SeverityError,
				"the file holds more than one YAML document (separated by ---); keep one journey map per file")}
		}
		body = doc.Body
	}
	if body == nil {
		return nil, src, []Diagnostic{src.diag(1, 1, "", SeverityError,
			"the file is empty; a journey map starts with version: 1, a name, and its stages, teams and moments")}
	}
	d := &decoder{src: src, anchors: map[string]ast.Node{}, active: map[ast.Node]bool{}, budget: maxNodes}
	m = &Map{}
	d.decode(body, reflect.ValueOf(m).Elem(), "")
	// "events: []" and no events are the same content; keep one form so
	// that a parsed map equals the map its export parses to.
	normalize(reflect.ValueOf(m).Elem())
	return m, src, sortDiagnostics(d.diags)
}

// parseYAML runs the YAML parser, turning a panic inside it into an error:
// the loader must survive any input.
func parseYAML(data []byte) (file *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			file, err = nil, fmt.Errorf("the YAML parser failed on this file (%v); please report it with the file attached", r)
		}
	}()
	// Duplicate keys are allowed here and reported by the decoder, so that
	// every duplicate is reported rather than only the first.
	return parser.ParseBytes(data, 0, parser.AllowDuplicateMapKey())
}

func syntaxDiagnostic(src *source, err error) Diagnostic {
	line, col, msg := 1, 1, err.Error()
	var yerr yaml.Error
	if errors.As(err, &yerr) {
		msg = yerr.GetMessage()
		if tk := yerr.GetToken(); tk != nil && tk.Position != nil {
			line, col = tk.Position.Line, tk.Position.Column
		}
		msg = "YAML syntax error: " + msg
	}
	return src.diag(max(line, 1), max(col, 1), "", SeverityError, msg)
}

// tooDeep scans flow collections ([ and {) outside quotes and comments and
// reports where nesting first passes maxDepth. Block collections nest by
// indentation, which a 1 MiB file cannot take deep enough to matter.
func tooDeep(data []byte) (line, col int, ok bool) {
	depth, line, col := 0, 1, 0
	var quote byte
	comment := false
	for _, c := range data {
		col++
		switch {
		case c == '\n':
			line, col, comment = line+1, 0, false
			if quote == '"' || quote == '\'' {
				continue
			}
		case comment:
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '#':
			comment = true
		case c == '"' || c == '\'':
			quote = c
		case c == '[' || c == '{':
			depth++
			if depth > maxDepth {
				return line, col, false
			}
		case c == ']' || c == '}':
			depth = max(depth-1, 0)
		}
	}
	return 0, 0, true
}

func sizeText(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

func isComment(n ast.Node) bool {
	_, ok := n.(*ast.CommentGroupNode)
	return ok
}

// scalarStyle is how a scalar was written, which decides how a column
// inside the value maps to a column in the file.
type scalarStyle int

const (
	stylePlain scalarStyle = iota
	styleQuoted
	styleBlock
)

type position struct{ line, col int }

// nodePos records where a key and its value are in the file.
type nodePos struct {
	key, val position
	style    scalarStyle
}

// source keeps the positions of a parsed map's values by path
// ("moments[2].trigger.when").
type source struct {
	file string
	data []byte
	pos  map[string]nodePos
	// problems holds the paths the parser already reported: values of the
	// wrong type, and the keys it suggested for a misspelt one.
	problems map[string]bool
}

// reported reports whether the parser already reported a problem with the
// value at path or with a value that holds it.
func (s *source) reported(path string) bool {
	for {
		if s.problems[path] {
			return true
		}
		i := strings.LastIndexAny(path, ".[")
		if i <= 0 {
			return false
		}
		path = path[:i]
	}
}

func (s *source) diag(line, col int, path string, sev Severity, msg string) Diagnostic {
	return Diagnostic{File: s.file, Line: line, Col: col, Severity: sev, Message: msg, Path: path}
}

// lookup finds the recorded position of path, or of its nearest recorded
// parent: a missing value is reported where its parent is.
func (s *source) lookup(path string) (nodePos, bool) {
	if s == nil {
		return nodePos{}, false
	}
	for {
		if p, ok := s.pos[path]; ok {
			return p, true
		}
		i := strings.LastIndexAny(path, ".[")
		if i <= 0 {
			return nodePos{}, false
		}
		path = path[:i]
	}
}

// at returns the position of the value at path. A value missing from the
// top of a file is reported at the file's start.
func (s *source) at(path string) (line, col int) {
	p, ok := s.lookup(path)
	if !ok {
		if s != nil && s.data != nil {
			return 1, 1
		}
		return 0, 0
	}
	return p.val.line, p.val.col
}

// keyAt returns the position of the key of the value at path.
func (s *source) keyAt(path string) (line, col int) {
	p, ok := s.lookup(path)
	if !ok {
		return 0, 0
	}
	return p.key.line, p.key.col
}

// within returns the file position of the character at (exprLine,
// exprCol) within the text value at path; exprLine is 1-based and exprCol a
// 0-based offset, as CEL reports them.
func (s *source) within(path string, exprLine, exprCol int) (line, col int) {
	p, ok := s.pos[path]
	if !ok {
		return s.at(path)
	}
	line, col = p.val.line, p.val.col
	switch p.style {
	case styleQuoted:
		col++ // the opening quote
	case styleBlock:
		// The text starts on the line after the | or > indicator, at the
		// block's indentation.
		line++
		col = s.indent(line) + 1
	}
	if exprLine > 1 {
		line += exprLine - 1
		if p.style != styleBlock {
			col = s.indent(line) + 1
		}
	}
	return line, col + exprCol
}

// indent returns the number of leading spaces of a 1-based line.
func (s *source) indent(line int) int {
	rest := s.data
	for i := 1; i < line; i++ {
		j := strings.IndexByte(string(rest), '\n')
		if j < 0 {
			return 0
		}
		rest = rest[j+1:]
	}
	n := 0
	for n < len(rest) && rest[n] == ' ' {
		n++
	}
	return n
}

// decoder turns the YAML syntax tree into a Map, guided by the yaml tags of
// the Map's types, recording positions and reporting every structural
// problem it meets rather than stopping at the first.
type decoder struct {
	src     *source
	diags   []Diagnostic
	anchors map[string]ast.Node
	// active holds the values being decoded, outermost first, so that an
	// alias to a value that contains it (&a [*a], or <<: *a inside &a) is
	// reported instead of recursing until the stack overflows.
	active map[ast.Node]bool
	budget int
	spent  bool
}

// enter marks n as being decoded; it reports false, with a diagnostic, if
// n already is: an alias refers to a value that contains it.
func (d *decoder) enter(n ast.Node, at ast.Node, path string) bool {
	if d.active[n] {
		line, col := nodeStart(at)
		d.errorf(line, col, path, "alias refers to the value that contains it, which would repeat forever; write the value out")
		return false
	}
	d.active[n] = true
	return true
}

func (d *decoder) leave(n ast.Node) { delete(d.active, n) }

func (d *decoder) errorf(line, col int, path, format string, args ...any) {
	d.diags = append(d.diags, d.src.diag(line, col, path, SeverityError, fmt.Sprintf(format, args...)))
	if path != "" {
		d.src.problems[path] = true
	}
}

// nodeStart is where a value begins in the file. A block mapping's own
// token is the first ":", so its first key is used instead.
func nodeStart(n ast.Node) (line, col int) {
	switch x := n.(type) {
	case *ast.MappingNode:
		if !x.IsFlowStyle && len(x.Values) > 0 {
			return nodeStart(x.Values[0].Key)
		}
	case *ast.MappingValueNode:
		return nodeStart(x.Key)
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return 0, 0
	}
	return tk.Position.Line, max(tk.Position.Column, 1)
}

// resolve follows anchors, aliases and tags to the value node.
func (d *decoder) resolve(n ast.Node, path string) ast.Node {
	for range 64 {
		switch x := n.(type) {
		case *ast.AnchorNode:
			if x.Name != nil && x.Value != nil {
				// The anchor is known from here on, in document order.
				// An alias inside its own value is caught by enter; the
				// budget stops nested aliases from blowing up.
				if _, seen := d.anchors[x.Name.GetToken().Value]; !seen {
					d.anchors[x.Name.GetToken().Value] = x.Value
				}
			}
			n = x.Value
		case *ast.AliasNode:
			name := ""
			if x.Value != nil {
				name = x.Value.GetToken().Value
			}
			target, ok := d.anchors[name]
			if !ok {
				line, col := nodeStart(x)
				d.errorf(line, col, path, "alias *%s refers to no anchor &%s defined before it", name, name)
				return nil
			}
			n = target
		case *ast.TagNode:
			n = x.Value
		default:
			return n
		}
		if n == nil {
			return nil
		}
	}
	return nil
}

// take spends one unit of the decoding budget.
func (d *decoder) take(n ast.Node) bool {
	if d.budget > 0 {
		d.budget--
		return true
	}
	if !d.spent {
		d.spent = true
		line, col := nodeStart(n)
		d.errorf(line, col, "", "the map expands to more than %d values, probably through nested aliases (*name); write the values out", maxNodes)
	}
	return false
}

var typeMap = reflect.TypeFor[Map]()

// nouns name the map's parts in messages.
var nouns = map[reflect.Type]string{
	typeMap:                               "the map",
	reflect.TypeFor[Stage]():              "stage",
	reflect.TypeFor[Team]():               "team",
	reflect.TypeFor[Moment]():             "moment",
	reflect.TypeFor[Importance]():         "importance",
	reflect.TypeFor[IdealStep]():          "ideal step",
	reflect.TypeFor[Metrics]():            "metrics",
	reflect.TypeFor[QualityMetric]():      "metrics.quality",
	reflect.TypeFor[CostMetric]():         "metrics.cost",
	reflect.TypeFor[TimeMetric]():         "metrics.time",
	reflect.TypeFor[Trigger]():            "trigger",
	reflect.TypeFor[Schedule]():           "schedule",
	reflect.TypeFor[Step]():               "playbook step",
	reflect.TypeFor[SuccessPath]():        "success path",
	reflect.TypeFor[Milestone]():          "milestone",
	reflect.TypeFor[HealthModel]():        "health",
	reflect.TypeFor[BehaviouralModel]():   "health.behavioural",
	reflect.TypeFor[BehaviouralWeights](): "behavioural weights",
	reflect.TypeFor[EmotionalModel]():     "health.emotional",
	reflect.TypeFor[EmotionalWeights]():   "emotional weights",
	reflect.TypeFor[QuadrantModel]():      "health.quadrant",
	reflect.TypeFor[UsageDropModel]():     "health.usage_drop",
	reflect.TypeFor[Email]():              "email",
	reflect.TypeFor[Survey]():             "survey",
	reflect.TypeFor[SurveyTranslation]():  "survey translation",
	reflect.TypeFor[SurveyRules]():        "survey_rules",
}

func noun(t reflect.Type) string {
	if n, ok := nouns[t]; ok {
		return n
	}
	return strings.ToLower(t.Name())
}

// describe names the kind of a YAML value for "not X" messages.
func describe(n ast.Node) string {
	switch x := n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a set of keys"
	case *ast.SequenceNode:
		return "a list"
	case *ast.NullNode:
		return "empty"
	case *ast.BoolNode:
		return x.GetToken().Value
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return x.GetToken().Value
	case *ast.StringNode:
		return strconv.Quote(x.Value)
	case *ast.LiteralNode:
		return "a block of text"
	}
	return "a " + n.Type().String()
}

// keyName returns the last key of a path for messages: "revenue" for
// "moments[0].importance.revenue".
func keyName(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		path = path[i+1:]
	}
	if path == "" {
		return "the map"
	}
	return path
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// record remembers where the value at path is.
func (d *decoder) record(path string, key position, n ast.Node) {
	line, col := nodeStart(n)
	if line == 0 {
		line, col = key.line, key.col
	}
	style := stylePlain
	switch x := n.(type) {
	case *ast.LiteralNode:
		style = styleBlock
	case *ast.StringNode:
		if tk := x.GetToken(); tk != nil && (tk.Type == token.DoubleQuoteType || tk.Type == token.SingleQuoteType) {
			style = styleQuoted
		}
	case *ast.NullNode:
		// An empty value has no place of its own; point at its key.
		if key.line > 0 {
			line, col = key.line, key.col
		}
	}
	if key.line == 0 {
		key = position{line, col}
	}
	d.src.pos[path] = nodePos{key: key, val: position{line, col}, style: style}
}

func (d *decoder) decode(raw ast.Node, v reflect.Value, path string) {
	if !d.take(raw) {
		return
	}
	n := d.resolve(raw, path)
	if n == nil {
		return
	}
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		v = v.Elem()
	}
	if !d.enter(n, raw, path) {
		return
	}
	defer d.leave(n)
	if _, isNull := n.(*ast.NullNode); isNull {
		// An empty value leaves the zero value: "description:" alone is
		// as if the key were absent.
		return
	}
	line, col := nodeStart(n)
	switch v.Kind() {
	case reflect.Struct:
		mn, ok := n.(*ast.MappingNode)
		if !ok {
			if mv, isPair := n.(*ast.MappingValueNode); isPair {
				mn = &ast.MappingNode{BaseNode: &ast.BaseNode{}, Values: []*ast.MappingValueNode{mv}}
				ok = true
			}
		}
		if !ok {
			what := noun(v.Type())
			if v.Type() == typeMap {
				d.errorf(line, col, path, "a journey map must be a set of keys (version, name, stages, teams, moments, …), not %s", describe(n))
				return
			}
			d.errorf(line, col, path, "%s must be a set of keys (key: value lines), not %s", what, describe(n))
			return
		}
		d.decodeStruct(mn, v, path)
	case reflect.Slice:
		sn, ok := n.(*ast.SequenceNode)
		if !ok {
			d.errorf(line, col, path, "%s must be a list (lines starting with \"- \"), not %s", keyName(path), describe(n))
			return
		}
		if len(sn.Values) == 0 {
			return
		}
		s := reflect.MakeSlice(v.Type(), len(sn.Values), len(sn.Values))
		for i, item := range sn.Values {
			ipath := fmt.Sprintf("%s[%d]", path, i)
			if item == nil {
				continue
			}
			d.record(ipath, position{}, d.peek(item))
			d.decode(item, s.Index(i), ipath)
		}
		v.Set(s)
	case reflect.Map:
		mn, ok := n.(*ast.MappingNode)
		if !ok {
			d.errorf(line, col, path, "%s must be a set of keys (key: value lines), not %s", keyName(path), describe(n))
			return
		}
		if len(mn.Values) == 0 {
			return
		}
		m := reflect.MakeMap(v.Type())
		for _, mv := range mn.Values {
			key, kpos, ok := d.key(mv)
			if !ok {
				continue
			}
			kpath := join(path, key)
			if m.MapIndex(reflect.ValueOf(key)).IsValid() {
				d.errorf(kpos.line, kpos.col, kpath, "key %q appears twice in %s; keep one", key, keyName(path))
				continue
			}
			d.record(kpath, kpos, d.peek(mv.Value))
			elem := reflect.New(v.Type().Elem()).Elem()
			d.decode(mv.Value, elem, kpath)
			m.SetMapIndex(reflect.ValueOf(key), elem)
		}
		v.Set(m)
	case reflect.String:
		s, ok := scalarText(n)
		if !ok {
			d.errorf(line, col, path, "%s must be a text value, not %s", keyName(path), describe(n))
			return
		}
		v.SetString(s)
	case reflect.Int:
		i, ok := wholeNumber(n)
		if !ok {
			d.errorf(line, col, path, "%s must be a whole number, not %s", keyName(path), describe(n))
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		f, ok := number(n)
		if !ok {
			d.errorf(line, col, path, "%s must be a number, not %s", keyName(path), describe(n))
			return
		}
		v.SetFloat(f)
	case reflect.Bool:
		b, ok := n.(*ast.BoolNode)
		if !ok {
			d.errorf(line, col, path, "%s must be true or false, not %s", keyName(path), describe(n))
			return
		}
		v.SetBool(b.Value)
	default:
		// Only reachable if model.go gains a field of a new kind.
		d.errorf(line, col, path, "%s cannot be read (unsupported field type %s)", keyName(path), v.Type())
	}
}

// peek resolves a node for position recording without registering anchors
// or reporting problems twice.
func (d *decoder) peek(n ast.Node) ast.Node {
	for range 64 {
		switch x := n.(type) {
		case *ast.AnchorNode:
			n = x.Value
		case *ast.TagNode:
			n = x.Value
		default:
			return n
		}
		if n == nil {
			return nil
		}
	}
	return n
}

// key returns a mapping key as text with its position.
func (d *decoder) key(mv *ast.MappingValueNode) (string, position, bool) {
	line, col := nodeStart(mv.Key)
	kpos := position{line, col}
	var k ast.Node = mv.Key
	if mk, ok := k.(*ast.MappingKeyNode); ok {
		k = mk.Value
	}
	k = d.peek(k)
	s, ok := scalarText(k)
	if !ok || k == nil {
		d.errorf(line, col, "", "keys must be plain words, not %s", describe(k))
		return "", kpos, false
	}
	return s, kpos, true
}

// fieldInfo maps the yaml keys of a struct type to field indexes.
type fieldInfo struct {
	index map[string]int
	keys  []string
}

var fieldCache sync.Map // reflect.Type → fieldInfo

func fieldsOf(t reflect.Type) fieldInfo {
	if fi, ok := fieldCache.Load(t); ok {
		return fi.(fieldInfo)
	}
	fi := fieldInfo{index: map[string]int{}}
	defer func() { fieldCache.Store(t, fi) }()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fi.index[name] = i
		fi.keys = append(fi.keys, name)
	}
	return fi
}

func (d *decoder) decodeStruct(mn *ast.MappingNode, v reflect.Value, path string) {
	fi := fieldsOf(v.Type())
	// Merge keys (<<: *base) first, so that the mapping's own keys
	// override what they bring in, as YAML specifies.
	for _, mv := range mn.Values {
		if mv.Key == nil || !mv.Key.IsMergeKey() {
			continue
		}
		if !d.take(mv) {
			return
		}
		target := d.resolve(mv.Value, path)
		switch x := target.(type) {
		case *ast.MappingNode:
			if d.enter(x, mv.Value, path) {
				d.decodeStruct(x, v, path)
				d.leave(x)
			}
		case *ast.SequenceNode:
			for _, item := range x.Values {
				if m, ok := d.resolve(item, path).(*ast.MappingNode); ok && d.enter(m, item, path) {
					d.decodeStruct(m, v, path)
					d.leave(m)
				}
			}
		default:
			line, col := nodeStart(mv.Key)
			d.errorf(line, col, path, "<< must refer to a set of keys (an alias such as *base)")
		}
	}
	seen := map[string]bool{}
	for _, mv := range mn.Values {
		if mv.Key == nil || mv.Key.IsMergeKey() {
			continue
		}
		key, kpos, ok := d.key(mv)
		if !ok {
			continue
		}
		idx, known := fi.index[key]
		if !known {
			d.errorf(kpos.line, kpos.col, join(path, key), "unknown key %q in %s%s",
				key, noun(v.Type()), unknownKeyHint(key, fi.keys))
			if s := suggest(key, fi.keys); s != "" {
				d.src.problems[join(path, s)] = true
			}
			continue
		}
		if seen[key] {
			d.errorf(kpos.line, kpos.col, join(path, key), "key %q appears twice in this %s; keep one", key, noun(v.Type()))
			continue
		}
		seen[key] = true
		fpath := join(path, key)
		d.record(fpath, kpos, d.peek(mv.Value))
		field := v.Field(idx)
		// A later merge or repeated decode must not append to a list
		// decoded before; each key sets its value afresh.
		field.Set(reflect.Zero(field.Type()))
		d.decode(mv.Value, field, fpath)
	}
}

func unknownKeyHint(key string, known []string) string {
	return hint(key, known, "the keys here are "+strings.Join(known, ", "))
}

// scalarText returns the text of a scalar as written: a string field
// accepts 2024 or true and keeps them as text.
func scalarText(n ast.Node) (string, bool) {
	switch x := n.(type) {
	case *ast.StringNode:
		return x.Value, true
	case *ast.LiteralNode:
		if x.Value == nil {
			return "", true
		}
		return x.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return x.GetToken().Value, true
	case *ast.NullNode:
		return "", true
	}
	return "", false
}

func wholeNumber(n ast.Node) (int64, bool) {
	switch x := n.(type) {
	case *ast.IntegerNode:
		switch v := x.Value.(type) {
		case int64:
			if v > math.MaxInt32 || v < math.MinInt32 {
				return 0, false
			}
			return v, true
		case uint64:
			if v > math.MaxInt32 {
				return 0, false
			}
			return int64(v), true
		}
	case *ast.FloatNode:
		if x.Value == math.Trunc(x.Value) && math.Abs(x.Value) <= math.MaxInt32 {
			return int64(x.Value), true
		}
	}
	return 0, false
}

func number(n ast.Node) (float64, bool) {
	switch x := n.(type) {
	case *ast.IntegerNode:
		switch v := x.Value.(type) {
		case int64:
			return float64(v), true
		case uint64:
			return float64(v), true
		}
	case *ast.FloatNode:
		if math.IsNaN(x.Value) || math.IsInf(x.Value, 0) {
			return 0, false
		}
		return x.Value, true
	}
	return 0, false
}
