package journey_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/golden"
	"github.com/moments-cs/moments/internal/journey"
)

const examplePath = "../../examples/b2b-saas.yaml"

func readExample(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile(examplePath)
	require.NoError(t, err)
	return data
}

func render(diags []journey.Diagnostic) string {
	var b strings.Builder
	for _, d := range diags {
		b.WriteString(d.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// TestLintGolden lints every map in testdata/lint and compares the
// diagnostics with the .golden file beside it.
func TestLintGolden(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/lint/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			_, diags := journey.Lint(filepath.Base(file), data)
			require.NotEmpty(t, diags, "each file in testdata/lint holds at least one problem")
			golden.Assert(t, strings.TrimSuffix(file, ".yaml")+".golden", []byte(render(diags)))
		})
	}
}

func TestExampleLintsClean(t *testing.T) {
	t.Parallel()
	m, diags := journey.Lint("b2b-saas.yaml", readExample(t))
	require.Empty(t, render(diags))
	require.NotNil(t, m)

	// The example is the reference map: it covers what the docs promise.
	stages := map[string]bool{}
	for _, mo := range m.Moments {
		stages[mo.Stage] = true
	}
	for _, s := range []string{"focusing", "promoting", "qualifying", "committing", "delivering", "growing"} {
		require.True(t, stages[s], "a moment in stage %s", s)
	}
	require.GreaterOrEqual(t, len(m.Moments), 14)
	kinds := map[string]bool{}
	categories := map[string]bool{}
	signals := map[string]bool{}
	for _, mo := range m.Moments {
		categories[mo.Trigger.Category] = true
		signals[mo.Trigger.Signal] = true
		for _, s := range mo.Playbook {
			kinds[s.Kind] = true
		}
	}
	for _, k := range []string{"task", "email", "webhook", "wait", "branch", "escalate"} {
		require.True(t, kinds[k], "a %s step", k)
	}
	for _, c := range journey.Categories {
		require.True(t, categories[c], "a %s trigger", c)
	}
	// Low NPS listens to "Survey Responded" with a condition instead.
	for _, s := range []string{"usage_drop", "sponsor_change", "quadrant_drop"} {
		require.True(t, signals[s], "a %s signal", s)
	}
	require.Len(t, m.SuccessPaths, 3)
	require.Len(t, m.Teams, 7)
}

func TestLintExampleMutations(t *testing.T) {
	t.Parallel()
	base := string(readExample(t))
	tests := []struct {
		name, old, new, want string
	}{
		{
			"unknown key suggests the nearest",
			"    owner: marketing\n    supporters: [sales, product]",
			"    ownr: marketing\n    supporters: [sales, product]",
			`b2b-saas.yaml:63:5: unknown key "ownr" in moment; did you mean "owner"?`,
		},
		{
			"unknown team",
			"    owner: marketing\n",
			"    owner: marketting\n",
			`b2b-saas.yaml:63:12: owner "marketting" is not one of the map's teams; did you mean "marketing"?`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Contains(t, base, tt.old)
			_, diags := journey.Lint("b2b-saas.yaml", []byte(strings.Replace(base, tt.old, tt.new, 1)))
			require.Equal(t, tt.want+"\n", render(diags))
			require.True(t, journey.HasErrors(diags))
		})
	}
}

func TestParseLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data string
		want string
	}{
		{"empty", "", "map.yaml:1:1: the file is empty; a journey map starts with version: 1, a name, and its stages, teams and moments"},
		{"comment only", "# nothing yet\n", "map.yaml:1:1: the file is empty; a journey map starts with version: 1, a name, and its stages, teams and moments"},
		{"too large", "name: x\n" + strings.Repeat("# padding padding padding\n", 50_000), "map.yaml:1:1: the file is 1.2 MiB, larger than the 1.0 MiB limit for a journey map; check that this is the right file, and move long email bodies out of the map if it is"},
		{"not utf-8", "name: \xff\n", "map.yaml:1:1: the file is not UTF-8 text; save it as UTF-8 and try again"},
		{"too deep", "name: " + strings.Repeat("[", 200), "map.yaml:1:107: values are nested more than 100 levels deep; a journey map never needs that many"},
		{"a list", "- a\n- b\n", "map.yaml:1:1: a journey map must be a set of keys (version, name, stages, teams, moments, …), not a list"},
		{"a scalar", "hello\n", `map.yaml:1:1: a journey map must be a set of keys (version, name, stages, teams, moments, …), not "hello"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, diags := journey.Parse("map.yaml", []byte(tt.data))
			require.Equal(t, tt.want+"\n", render(diags))
		})
	}
}

func TestParseAliasBomb(t *testing.T) {
	t.Parallel()
	// Each level doubles the previous: 2^30 values if expanded.
	var b strings.Builder
	b.WriteString("version: 1\nname: bomb\nstages:\n  - &s0 {id: a, name: A}\n")
	b.WriteString("x0: &l0 [*s0, *s0]\n")
	for i := 1; i < 30; i++ {
		b.WriteString("x" + strconv.Itoa(i) + ": &l" + strconv.Itoa(i) + " [*l" + strconv.Itoa(i-1) + ", *l" + strconv.Itoa(i-1) + "]\n")
	}
	b.WriteString("teams: [*l29, *l29]\n")
	m, diags := journey.Parse("bomb.yaml", []byte(b.String()))
	require.NotNil(t, m)
	require.True(t, journey.HasErrors(diags))
}

func TestDiagnosticString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    journey.Diagnostic
		want string
	}{
		{journey.Diagnostic{File: "m.yaml", Line: 3, Col: 5, Severity: journey.SeverityError, Message: "bad"}, "m.yaml:3:5: bad"},
		{journey.Diagnostic{File: "m.yaml", Line: 3, Col: 5, Severity: journey.SeverityWarning, Message: "odd"}, "m.yaml:3:5: warning: odd"},
		{journey.Diagnostic{Severity: journey.SeverityError, Message: "bad", Path: "moments[0].owner"}, "moments[0].owner: bad"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, tt.d.String())
	}
	require.False(t, journey.HasErrors(nil))
	require.False(t, journey.HasErrors([]journey.Diagnostic{tests[1].d}))
	require.True(t, journey.HasErrors([]journey.Diagnostic{tests[1].d, tests[0].d}))
}

func TestCheckWithoutPositions(t *testing.T) {
	t.Parallel()
	m, diags := journey.Parse("b2b-saas.yaml", readExample(t))
	require.Empty(t, diags)
	require.Empty(t, journey.Check(m))
	m.Moments[0].Owner = "nobody"
	got := journey.Check(m)
	require.Len(t, got, 1)
	require.Equal(t, "moments[0].owner", got[0].Path)
	require.Equal(t, 0, got[0].Line)
	require.Equal(t, `moments[0].owner: owner "nobody" is not one of the map's teams; the teams are sales, customer_success, support, professional_services, product, marketing, finance`, got[0].String())
}

func BenchmarkLintExample(b *testing.B) {
	data := readExample(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, diags := journey.Lint("b2b-saas.yaml", data); len(diags) > 0 {
			b.Fatal(diags)
		}
	}
}
