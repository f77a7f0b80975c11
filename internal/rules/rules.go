// Package rules compiles and evaluates the conditions of a journey map: the
// CEL expressions in triggers, playbook branches, success paths, milestones
// and vendor segments.
//
// A condition sees five variables:
//
//	event    map   the event being evaluated: name, type, properties, context, timestamp, …
//	account  map   the account's traits plus id and name
//	contact  map   the contact's traits plus id (empty when the event has no contact)
//	health   map   behavioural, emotional, combined, quadrant, …
//	now      timestamp  the time of evaluation
//
// The maps are dynamic, so any trait can be read (account.plan,
// event.properties.score). Beyond standard CEL and its string extension,
// conditions may call days(n) and weeks(n), which return durations, and
// date(s), which reads "2006-01-02" or an RFC 3339 timestamp.
//
// Programs are compiled once and evaluated many times; every evaluation
// carries a cost limit and honours its context, so a costly expression cannot
// stall ingestion.
package rules

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"
)

// Limits on conditions. A condition is a short rule written by a person; the
// limits stop an accident (or a hostile map) from costing the ingestion path
// more than a few microseconds.
const (
	// MaxExpressionLength is the longest condition accepted, in bytes.
	MaxExpressionLength = 4096
	// DefaultCostLimit is the CEL runtime cost at which evaluation stops.
	// A typical condition costs under 20; a comprehension over a list of
	// 1,000 items costs a few thousand. On the reference machine the limit
	// bounds one evaluation to about 5 ms.
	DefaultCostLimit = 10_000
	// interruptEvery is how many comprehension iterations run between
	// checks of the context.
	interruptEvery = 100
)

// Variable names, as conditions spell them.
const (
	VarEvent   = "event"
	VarAccount = "account"
	VarContact = "contact"
	VarHealth  = "health"
	VarNow     = "now"
)

// Sentinel errors returned (wrapped) by Eval.
var (
	// ErrMissingKey means the condition read a key the data does not
	// have, such as event.properties.score on an event without a score.
	// Callers usually treat it as "the condition does not hold"; authors
	// avoid it with has(event.properties.score) or
	// event.properties.?score.orValue(0).
	ErrMissingKey = errors.New("condition reads a missing key")
	// ErrCostLimit means the condition did too much work and was stopped.
	ErrCostLimit = errors.New("condition exceeded its cost limit")
	// ErrNotBool means the condition produced a value that is not true or
	// false; it can happen only when a dynamic value reaches the top.
	ErrNotBool = errors.New("condition did not produce true or false")
)

// Vars are the inputs of one evaluation. Nil maps are seen as empty maps.
type Vars struct {
	Event   map[string]any
	Account map[string]any
	Contact map[string]any
	Health  map[string]any
	// Now is the time of evaluation; the zero value means time.Now().
	Now time.Time
}

// CompileError says why a condition does not compile and where.
type CompileError struct {
	// Expr is the condition as written.
	Expr string
	// Line is the 1-based line within the expression and Column the
	// 0-based offset within that line, both as CEL reports them.
	Line   int
	Column int
	// Reason is CEL's message, made readable.
	Reason string
}

func (e *CompileError) Error() string {
	if e.Line > 1 {
		return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column+1, e.Reason)
	}
	return fmt.Sprintf("column %d: %s", e.Column+1, e.Reason)
}

// Program is a compiled condition. It is safe for concurrent use.
type Program struct {
	expr string
	prg  cel.Program
	ast  *cel.Ast
}

// Expr returns the condition as written.
func (p *Program) Expr() string { return p.expr }

var env = sync.OnceValues(newEnv)

func newEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable(VarEvent, cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable(VarAccount, cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable(VarContact, cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable(VarHealth, cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable(VarNow, cel.TimestampType),
		// JSON numbers arrive as doubles; without this, score <= 6 would
		// fail to match a double against an int.
		cel.CrossTypeNumericComparisons(true),
		cel.DefaultUTCTimeZone(true),
		cel.OptionalTypes(),
		ext.Strings(),
		cel.ParserExpressionSizeLimit(MaxExpressionLength),
		cel.Function("days",
			cel.Overload("days_int", []*cel.Type{cel.IntType}, cel.DurationType,
				cel.UnaryBinding(unitDuration(24*time.Hour))),
			cel.Overload("days_double", []*cel.Type{cel.DoubleType}, cel.DurationType,
				cel.UnaryBinding(unitDuration(24*time.Hour))),
		),
		cel.Function("weeks",
			cel.Overload("weeks_int", []*cel.Type{cel.IntType}, cel.DurationType,
				cel.UnaryBinding(unitDuration(7*24*time.Hour))),
			cel.Overload("weeks_double", []*cel.Type{cel.DoubleType}, cel.DurationType,
				cel.UnaryBinding(unitDuration(7*24*time.Hour))),
		),
		cel.Function("date",
			cel.Overload("date_string", []*cel.Type{cel.StringType}, cel.TimestampType,
				cel.UnaryBinding(parseDate)),
			cel.Overload("date_timestamp", []*cel.Type{cel.TimestampType}, cel.TimestampType,
				cel.UnaryBinding(func(v ref.Val) ref.Val { return v })),
		),
	)
}

// maxDays keeps days(n) within time.Duration's range (about 292 years).
const maxDays = 100_000

func unitDuration(unit time.Duration) func(ref.Val) ref.Val {
	return func(v ref.Val) ref.Val {
		var n float64
		switch x := v.(type) {
		case types.Int:
			n = float64(x)
		case types.Double:
			n = float64(x)
		default:
			return types.MaybeNoSuchOverloadErr(v)
		}
		if n > maxDays || n < -maxDays || n != n {
			return types.NewErr("duration out of range: %v", n)
		}
		return types.Duration{Duration: time.Duration(n * float64(unit))}
	}
}

func parseDate(v ref.Val) ref.Val {
	s, ok := v.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(v)
	}
	str := strings.TrimSpace(string(s))
	if t, err := time.Parse("2006-01-02", str); err == nil {
		return types.Timestamp{Time: t}
	}
	if t, err := time.Parse(time.RFC3339Nano, str); err == nil {
		return types.Timestamp{Time: t.UTC()}
	}
	return types.NewErr("date(%q): not a date; write 2006-01-02 or an RFC 3339 timestamp", str)
}

// Compile checks a condition and prepares it for evaluation. The condition
// must produce true or false. A failure is a *CompileError.
func Compile(expr string) (*Program, error) {
	e, err := env()
	if err != nil {
		return nil, fmt.Errorf("rules: build CEL environment: %w", err)
	}
	if strings.TrimSpace(expr) == "" {
		return nil, &CompileError{Expr: expr, Line: 1, Reason: "the condition is empty"}
	}
	if len(expr) > MaxExpressionLength {
		return nil, &CompileError{Expr: expr, Line: 1, Reason: fmt.Sprintf(
			"the condition is %d bytes long; the limit is %d", len(expr), MaxExpressionLength)}
	}
	ast, iss := e.Compile(expr)
	if iss != nil && iss.Err() != nil {
		first := iss.Errors()[0]
		return nil, &CompileError{
			Expr:   expr,
			Line:   max(first.Location.Line(), 1),
			Column: max(first.Location.Column(), 0),
			Reason: readableReason(first.Message, isCallAt(expr, first.Location.Line(), first.Location.Column())),
		}
	}
	if out := ast.OutputType(); !out.IsExactType(cel.BoolType) {
		reason := fmt.Sprintf("the condition must be true or false, but it gives a %s", typeName(out))
		if out.IsExactType(cel.DynType) {
			reason = "the condition must be true or false, but it gives a value of unknown type; compare it, for example `... == true`"
		}
		return nil, &CompileError{Expr: expr, Line: 1, Reason: reason}
	}
	prg, err := e.Program(ast,
		cel.CostLimit(DefaultCostLimit),
		cel.InterruptCheckFrequency(interruptEvery),
		cel.EvalOptions(cel.OptOptimize),
	)
	if err != nil {
		return nil, &CompileError{Expr: expr, Line: 1, Reason: err.Error()}
	}
	return &Program{expr: expr, prg: prg, ast: ast}, nil
}

func typeName(t *cel.Type) string {
	switch {
	case t.IsExactType(cel.StringType):
		return "string"
	case t.IsExactType(cel.IntType), t.IsExactType(cel.UintType), t.IsExactType(cel.DoubleType):
		return "number"
	case t.IsExactType(cel.TimestampType):
		return "timestamp"
	case t.IsExactType(cel.DurationType):
		return "duration"
	}
	return t.String()
}

var variables = []string{VarEvent, VarAccount, VarContact, VarHealth, VarNow}

// readableReason trims CEL's wording for a CS operations lead and suggests
// the nearest variable for an undeclared one.
func readableReason(msg string, call bool) string {
	msg = strings.TrimSuffix(msg, " (in container '')")
	if rest, ok := strings.CutPrefix(msg, "Syntax error: "); ok {
		if strings.HasPrefix(rest, "mismatched input '<EOF>'") {
			return "syntax error: the condition ends too early; something is missing at the end"
		}
		// ANTLR's list of expected tokens means nothing to a reader.
		rest, _, _ = strings.Cut(rest, " expecting {")
		return "syntax error: " + rest
	}
	const undeclared = "undeclared reference to '"
	if rest, ok := strings.CutPrefix(msg, undeclared); ok {
		name, _, _ := strings.Cut(rest, "'")
		if call {
			return fmt.Sprintf("unknown function %q", name)
		}
		hint := "; the variables are event, account, contact, health and now"
		for _, v := range variables {
			if closeTo(name, v) {
				hint = fmt.Sprintf("; did you mean %q?", v)
				break
			}
		}
		return fmt.Sprintf("unknown name %q%s", name, hint)
	}
	return msg
}

// isCallAt reports whether the character at a CEL error location opens a
// call, which tells an unknown function from an unknown variable.
func isCallAt(expr string, line, col int) bool {
	lines := strings.Split(expr, "\n")
	if line < 1 || line > len(lines) {
		return false
	}
	l := []rune(lines[line-1])
	return col >= 0 && col < len(l) && l[col] == '('
}

// closeTo reports whether a is within one edit (or a swap) of b.
func closeTo(a, b string) bool {
	if a == b {
		return false
	}
	if d := len(a) - len(b); d > 1 || d < -1 {
		return false
	}
	// Optimal string alignment distance, small strings only.
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)] <= 1
}

// Eval evaluates the condition. It returns false and an error when the
// condition cannot be evaluated: a missing key (ErrMissingKey), too much
// work (ErrCostLimit), a cancelled context, or a value of the wrong type.
func (p *Program) Eval(ctx context.Context, vars Vars) (bool, error) {
	out, _, err := p.prg.ContextEval(ctx, activation{vars: &vars})
	if err != nil {
		return false, p.wrap(err)
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("%w: got %v", ErrNotBool, out.Type())
	}
	return bool(b), nil
}

func (p *Program) wrap(err error) error {
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "no such key"):
		return fmt.Errorf("%w: %s", ErrMissingKey, msg)
	case strings.Contains(msg, "cost limit exceeded"):
		return fmt.Errorf("%w (%d)", ErrCostLimit, DefaultCostLimit)
	}
	return fmt.Errorf("evaluate condition: %w", err)
}

var emptyMap = map[string]any{}

// activation resolves the five variables without building a map per
// evaluation.
type activation struct{ vars *Vars }

func (a activation) ResolveName(name string) (any, bool) {
	switch name {
	case VarEvent:
		return orEmpty(a.vars.Event), true
	case VarAccount:
		return orEmpty(a.vars.Account), true
	case VarContact:
		return orEmpty(a.vars.Contact), true
	case VarHealth:
		return orEmpty(a.vars.Health), true
	case VarNow:
		if a.vars.Now.IsZero() {
			return time.Now().UTC(), true
		}
		return a.vars.Now, true
	}
	return nil, false
}

func (a activation) Parent() interpreter.Activation { return nil }

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return emptyMap
	}
	return m
}

// AccountKeys lists the keys the condition reads from account by name
// (account.plan, has(account.plan), account.?plan, account["plan"]), in
// the order they first appear. only is true when that is all the
// condition does with account, so that evaluating it on a map holding
// just those keys (where the account has them) gives the same result as
// on the whole account; it is false when the condition looks at account
// as a whole (its size, a key chosen at run time, a loop over its keys).
func (p *Program) AccountKeys() (keys []string, only bool) {
	only = true
	var walk func(e celast.Expr)
	isAccount := func(e celast.Expr) bool {
		return e.Kind() == celast.IdentKind && e.AsIdent() == VarAccount
	}
	key := func(k string) {
		for _, x := range keys {
			if x == k {
				return
			}
		}
		keys = append(keys, k)
	}
	walk = func(e celast.Expr) {
		switch e.Kind() {
		case celast.IdentKind:
			if e.AsIdent() == VarAccount {
				only = false // account used whole
			}
		case celast.SelectKind:
			sel := e.AsSelect()
			if isAccount(sel.Operand()) {
				key(sel.FieldName())
				return
			}
			walk(sel.Operand())
		case celast.CallKind:
			call := e.AsCall()
			args := call.Args()
			if f := call.FunctionName(); !call.IsMemberFunction() && len(args) == 2 && isAccount(args[0]) &&
				(f == operators.Index || f == operators.OptIndex || f == operators.OptSelect) &&
				args[1].Kind() == celast.LiteralKind {
				if k, ok := args[1].AsLiteral().Value().(string); ok {
					key(k)
					return
				}
			}
			if call.IsMemberFunction() {
				walk(call.Target())
			}
			for _, a := range args {
				walk(a)
			}
		case celast.ComprehensionKind:
			c := e.AsComprehension()
			for _, x := range []celast.Expr{c.IterRange(), c.AccuInit(), c.LoopCondition(), c.LoopStep(), c.Result()} {
				walk(x)
			}
		case celast.ListKind:
			for _, x := range e.AsList().Elements() {
				walk(x)
			}
		case celast.MapKind:
			for _, x := range e.AsMap().Entries() {
				walk(x.AsMapEntry().Key())
				walk(x.AsMapEntry().Value())
			}
		case celast.StructKind:
			for _, x := range e.AsStruct().Fields() {
				walk(x.AsStructField().Value())
			}
		}
	}
	walk(p.ast.NativeRep().Expr())
	return keys, only
}
