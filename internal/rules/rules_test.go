package rules_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/rules"
)

func vars() rules.Vars {
	return rules.Vars{
		Event: map[string]any{
			"name":      "Survey Responded",
			"type":      "track",
			"timestamp": time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC),
			// JSON numbers decode to float64.
			"properties": map[string]any{"kind": "nps", "score": 6.0, "tags": []any{"billing", "ux"}},
		},
		Account: map[string]any{
			"id": "acc_1", "name": "Acme", "plan": "business", "segment": "enterprise",
			"arr": 120000.0, "seats": 50.0, "renewal_date": "2025-05-15",
		},
		Contact: map[string]any{"email": "ana@acme.test", "role": "sponsor"},
		Health:  map[string]any{"behavioural": 72.0, "emotional": 41.0, "quadrant": "captive"},
		Now:     time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
	}
}

func TestEval(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		expr string
		want bool
	}{
		{"low nps", `event.properties.kind == "nps" && event.properties.score <= 6`, true},
		{"double equals int", `event.properties.score == 6`, true},
		{"segment", `account.segment in ["mid_market", "enterprise"]`, true},
		{"arr threshold", `account.arr >= 100000`, true},
		{"renewal within 90 days", `date(account.renewal_date) - now < days(90)`, true},
		{"renewal within 30 days", `date(account.renewal_date) - now < days(30)`, false},
		{"weeks", `weeks(2) == days(14)`, true},
		{"fractional days", `days(0.5) == duration("12h")`, true},
		{"rfc3339 date", `date("2025-03-01T12:00:00Z") == now`, true},
		{"event timestamp", `now - event.timestamp == duration("2h")`, true},
		{"has", `has(contact.role) && !has(contact.phone)`, true},
		{"optional", `account.?tier.orValue("none") == "none"`, true},
		{"health quadrant", `health.quadrant == "captive" && health.emotional < 50`, true},
		{"list property", `"billing" in event.properties.tags`, true},
		{"strings extension", `account.name.lowerAscii() == "acme"`, true},
		{"contact role", `contact.role == "champion"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := rules.Compile(tt.expr)
			require.NoError(t, err)
			require.Equal(t, tt.expr, p.Expr())
			got, err := p.Eval(context.Background(), vars())
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr string
		want string
		line int
		col  int
	}{
		{`acount.plan == "x"`, `column 1: unknown name "acount"; did you mean "account"?`, 1, 0},
		{`account.plan == "x" && evnt.name == "y"`, `column 24: unknown name "evnt"; did you mean "event"?`, 1, 23},
		{`customer.plan == "x"`, `column 1: unknown name "customer"; the variables are event, account, contact, health and now`, 1, 0},
		{"account.seats > 10 &&\n  acount.x", `line 2, column 3: unknown name "acount"; did you mean "account"?`, 2, 2},
		{`account.plan`, "column 1: the condition must be true or false, but it gives a value of unknown type; compare it, for example `... == true`", 1, 0},
		{`"a" + "b"`, `column 1: the condition must be true or false, but it gives a string`, 1, 0},
		{`account.seats ==`, `column 17: syntax error: the condition ends too early; something is missing at the end`, 1, 16},
		{`account.plan.shout()`, `column 19: unknown function "shout"`, 1, 18},
		{`days("90") > now`, `column 5: found no matching overload for 'days' applied to '(string)'`, 1, 4},
		{``, `column 1: the condition is empty`, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			_, err := rules.Compile(tt.expr)
			require.Error(t, err)
			var ce *rules.CompileError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, tt.want, err.Error())
			require.Equal(t, tt.line, ce.Line)
			require.Equal(t, tt.col, ce.Column)
		})
	}
}

func TestCompileTooLong(t *testing.T) {
	t.Parallel()
	long := "true"
	for len(long) <= rules.MaxExpressionLength {
		long += " && true"
	}
	_, err := rules.Compile(long)
	require.ErrorContains(t, err, "the limit is 4096")
}

func TestEvalErrors(t *testing.T) {
	t.Parallel()
	items := make([]any, 1000)
	for i := range items {
		items[i] = float64(i)
	}
	v := vars()
	v.Event["properties"] = map[string]any{"items": items}

	t.Run("missing key", func(t *testing.T) {
		t.Parallel()
		p, err := rules.Compile(`event.properties.score > 5`)
		require.NoError(t, err)
		ok, err := p.Eval(context.Background(), v)
		require.False(t, ok)
		require.ErrorIs(t, err, rules.ErrMissingKey)
	})
	t.Run("cost limit", func(t *testing.T) {
		t.Parallel()
		p, err := rules.Compile(`event.properties.items.all(x, event.properties.items.all(y, x + y >= 0.0))`)
		require.NoError(t, err)
		start := time.Now()
		ok, err := p.Eval(context.Background(), v)
		require.False(t, ok)
		require.ErrorIs(t, err, rules.ErrCostLimit)
		require.Less(t, time.Since(start), 2*time.Second)
	})
	t.Run("cancelled context", func(t *testing.T) {
		t.Parallel()
		p, err := rules.Compile(`event.properties.items.exists(x, x == 999.0)`)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		ok, err := p.Eval(ctx, v)
		require.False(t, ok)
		require.True(t, errors.Is(err, context.Canceled), "got %v", err)
	})
	t.Run("bad date", func(t *testing.T) {
		t.Parallel()
		p, err := rules.Compile(`date(account.name) < now`)
		require.NoError(t, err)
		_, err = p.Eval(context.Background(), v)
		require.ErrorContains(t, err, `date("Acme"): not a date`)
	})
	t.Run("nil maps are empty", func(t *testing.T) {
		t.Parallel()
		p, err := rules.Compile(`!has(contact.role) && size(account) == 0 && now > date("2020-01-01")`)
		require.NoError(t, err)
		ok, err := p.Eval(context.Background(), rules.Vars{})
		require.NoError(t, err)
		require.True(t, ok)
	})
}

func TestConcurrentEval(t *testing.T) {
	t.Parallel()
	p, err := rules.Compile(`account.segment == "enterprise" && event.properties.score <= 6`)
	require.NoError(t, err)
	done := make(chan bool)
	for range 8 {
		go func() {
			for range 200 {
				ok, err := p.Eval(context.Background(), vars())
				if err != nil || !ok {
					done <- false
					return
				}
			}
			done <- true
		}()
	}
	for range 8 {
		require.True(t, <-done)
	}
}

func BenchmarkEval(b *testing.B) {
	p, err := rules.Compile(`event.properties.kind == "nps" && event.properties.score <= 6 && account.segment != "smb"`)
	require.NoError(b, err)
	v := vars()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Eval(ctx, v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rules.Compile(`date(account.renewal_date) - now < days(90) && account.arr > 50000`); err != nil {
			b.Fatal(err)
		}
	}
}

func TestAccountKeys(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		expr string
		keys []string
		only bool
	}{
		{`account.lifecycle_stage == "churned"`, []string{"lifecycle_stage"}, true},
		{`account["plan"] == "pro" && has(account.seats) && account.?arr.orValue(0) > 5`, []string{"plan", "seats", "arr"}, true},
		{`account.address.city == "Lyon" || account[?"tier"] == optional.of("gold")`, []string{"address", "tier"}, true},
		{`event.name == "x" && health.combined < 40`, nil, true},
		{`account.size() > 3`, nil, false},
		{`"tier" in account`, nil, false},
		{`account.exists(k, k == "tier") && account.plan == "pro"`, []string{"plan"}, false},
		{`account[event.name] == 1`, nil, false},
		{`[1].exists(account, account > 0)`, nil, false},
	} {
		p, err := rules.Compile(c.expr)
		require.NoError(t, err, c.expr)
		keys, only := p.AccountKeys()
		require.Equal(t, c.keys, keys, c.expr)
		require.Equal(t, c.only, only, c.expr)
	}
}
