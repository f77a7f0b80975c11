package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

const examplePath = "../../examples/b2b-saas.yaml"

// result is what one run of the CLI printed and its exit code.
type result struct {
	stdout, stderr string
	code           int
	err            error
}

// run runs the moments command in-process with args, as main does.
func run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	root := newRoot()
	var out, errOut bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetIn(strings.NewReader(stdin))
	err := root.ExecuteContext(context.Background())
	res := result{stdout: out.String(), stderr: errOut.String(), err: err}
	var ee exitError
	switch {
	case errors.As(err, &ee):
		res.code = ee.code
	case err != nil:
		res.code = 1
	}
	return res
}

func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// warningsOnly is a map that may be applied but has a warning.
const warningsOnly = `version: 1
name: Small
stages:
  - {id: delivering, name: Delivering}
  - {id: growing, name: Growing}
teams: [{id: customer_success, name: Customer Success}]
moments:
  - id: kickoff
    name: Kickoff
    stage: delivering
    owner: customer_success
    importance: {revenue: 1, relationship: 1, rescue: 1, retention: 1}
    trigger: {category: csm}
`

func TestMapLint(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// The lint goldens of the journey package, run through the command:
	// the output must be exactly the package's diagnostics.
	for _, name := range []string{"references", "structure", "unknown_keys"} {
		raw, err := os.ReadFile(filepath.Join("../../internal/journey/testdata/lint", name+".yaml"))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name+".yaml"), raw, 0o600))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "warnings.yaml"), []byte(warningsOnly), 0o600))
	noDB := filepath.Join(dir, "no-database-here")

	tests := []struct {
		name       string
		file       string
		stdin      string
		wantCode   int
		wantStdout []string // nil: compare with the golden of file
		wantStderr string
	}{
		{name: "the example is clean", file: examplePath, wantCode: 0, wantStdout: []string{},
			wantStderr: "b2b-saas.yaml: no problems found"},
		{name: "broken references", file: filepath.Join(dir, "references.yaml"), wantCode: 1, wantStderr: "9 errors, 3 warnings"},
		{name: "broken structure", file: filepath.Join(dir, "structure.yaml"), wantCode: 1, wantStderr: "error"},
		{name: "unknown keys", file: filepath.Join(dir, "unknown_keys.yaml"), wantCode: 1, wantStderr: "error"},
		{name: "warnings alone pass", file: filepath.Join(dir, "warnings.yaml"), wantCode: 0,
			wantStdout: []string{filepath.Join(dir, "warnings.yaml") + `:5:5: warning: stage "growing" has no moments; add a moment to it, or remove the stage`},
			wantStderr: "0 errors, 1 warning"},
		{name: "standard input", file: "-", stdin: "version: 1\nname: x\nstages: [\n", wantCode: 1,
			wantStdout: []string{"stdin:3:9: YAML syntax error: sequence end token ']' not found"}},
	}
	// The group returns once its parallel cases are done, so the check
	// that no database was created runs after them.
	t.Run("cases", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				res := run(t, tt.stdin, "map", "lint", "--data", noDB, tt.file)
				require.Equal(t, tt.wantCode, res.code, "stdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
				want := tt.wantStdout
				got := lines(res.stdout)
				if want == nil {
					golden, err := os.ReadFile(strings.TrimSuffix(filepath.Join("../../internal/journey/testdata/lint", filepath.Base(tt.file)), ".yaml") + ".golden")
					require.NoError(t, err)
					want = lines(string(golden))
					got = lines(strings.ReplaceAll(res.stdout, dir+string(filepath.Separator), ""))
				}
				if len(want) == 0 {
					require.Empty(t, got)
				} else {
					require.Equal(t, want, got)
				}
				require.Contains(t, res.stderr, tt.wantStderr)
			})
		}
	})
	_, err := os.Stat(noDB)
	require.ErrorIs(t, err, os.ErrNotExist, "lint needs no database and creates none")

	res := run(t, "", "map", "lint", filepath.Join(dir, "missing.yaml"))
	require.Equal(t, 1, res.code)
	require.ErrorContains(t, res.err, "cannot read the journey map")
}

// dbArgs are the flags that point the CLI at a fresh database of dialect d.
func dbArgs(t *testing.T, d store.Dialect) []string {
	t.Helper()
	cfg := storetest.Config(t, d)
	if cfg.DB != "" {
		return []string{"--db", cfg.DB}
	}
	return []string{"--data", cfg.Data}
}

// TestMapApplyDiffExportHistory is the round trip of the issue:
// export(apply(x)) lints clean and applies as "no change".
func TestMapApplyDiffExportHistory(t *testing.T) {
	t.Parallel()
	example, err := os.ReadFile(examplePath)
	require.NoError(t, err)
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			db := dbArgs(t, d)
			dir := t.TempDir()
			mapCLI := func(args ...string) result {
				t.Helper()
				return run(t, "", append(append([]string{"map"}, args...), db...)...)
			}

			res := mapCLI("history")
			require.Zero(t, res.code, res.err)
			require.Empty(t, res.stdout)
			require.Contains(t, res.stderr, "no journey map has been applied yet")

			res = mapCLI("export")
			require.Equal(t, 1, res.code)
			require.ErrorContains(t, res.err, "moments map apply examples/b2b-saas.yaml")

			res = mapCLI("diff", examplePath)
			require.Zero(t, res.code, res.stderr)
			require.Contains(t, res.stdout, "no journey map is live yet; applying "+examplePath+" would create version 1 with:")
			require.Contains(t, res.stdout, `+ moment "contract_signed" (Contract signed → kickoff) added, stage committing, owner customer_success`)

			res = mapCLI("apply", "--by", "ops@northwind.example", examplePath)
			require.Zero(t, res.code, res.stderr)
			out := lines(res.stdout)
			require.Equal(t, "applied "+examplePath+" as version 1 (applied by ops@northwind.example)", out[0])
			require.Contains(t, out, `+ moment "renewal_90" (Renewal −90 days) added, stage growing, owner customer_success`)

			res = mapCLI("apply", examplePath)
			require.Zero(t, res.code, res.stderr)
			require.Equal(t, "no change: "+examplePath+" is identical to live version 1; nothing was applied\n", res.stdout)

			res = mapCLI("diff", examplePath)
			require.Zero(t, res.code)
			require.Equal(t, "no changes: "+examplePath+" is identical to live version 1\n", res.stdout)

			// export(apply(x)) lints clean and applies as "no change".
			res = mapCLI("export")
			require.Zero(t, res.code, res.stderr)
			exported := filepath.Join(dir, "exported.yaml")
			require.NoError(t, os.WriteFile(exported, []byte(res.stdout), 0o600))
			lint := run(t, "", "map", "lint", exported)
			require.Zero(t, lint.code, lint.stdout)
			require.Empty(t, lint.stdout)
			res = mapCLI("apply", exported)
			require.Zero(t, res.code, res.stderr)
			require.Equal(t, "no change: "+exported+" is identical to live version 1; nothing was applied\n", res.stdout)

			// A change shows moment by moment, and diff's exit code stays 0.
			changed := filepath.Join(dir, "changed.yaml")
			text := strings.Replace(string(example), "sla: 1bd", "sla: 2bd", 1)
			text = strings.Replace(text, "supporters: [sales, product]", "supporters: [sales, product, support]", 1)
			require.NoError(t, os.WriteFile(changed, []byte(text), 0o600))
			res = mapCLI("diff", changed)
			require.Zero(t, res.code)
			require.Equal(t, []string{
				"changes from live version 1 to " + changed + ":",
				`~ moment "trial_started" (Trial started): supporters, sla changed`,
			}, lines(res.stdout))

			// diff of two files needs no database.
			res = run(t, "", "map", "diff", "--data", filepath.Join(dir, "none"), examplePath, changed)
			require.Zero(t, res.code)
			require.Equal(t, `~ moment "trial_started" (Trial started): supporters, sla changed`, lines(res.stdout)[1])

			res = mapCLI("apply", "--by", "lead@northwind.example", changed)
			require.Zero(t, res.code, res.stderr)
			require.Equal(t, []string{
				"applied " + changed + " as version 2 (applied by lead@northwind.example)",
				`~ moment "trial_started" (Trial started): supporters, sla changed`,
			}, lines(res.stdout))

			// A broken map is refused with its problems, and nothing changes.
			broken := filepath.Join(dir, "broken.yaml")
			require.NoError(t, os.WriteFile(broken, []byte(strings.Replace(text, "owner: marketing", "owner: marketting", 1)), 0o600))
			res = mapCLI("apply", broken)
			require.Equal(t, 1, res.code)
			require.Empty(t, res.stdout)
			require.Contains(t, res.stderr, `owner "marketting" is not one of the map's teams; did you mean "marketing"?`)
			require.Contains(t, res.stderr, "nothing was applied")
			res = mapCLI("diff", broken)
			require.Equal(t, 1, res.code)

			res = mapCLI("history")
			require.Zero(t, res.code)
			hist := lines(res.stdout)
			require.Len(t, hist, 3, res.stdout)
			require.Regexp(t, `^VERSION\s+APPLIED AT\s+APPLIED BY\s+SOURCE\s+HASH$`, hist[0])
			require.Regexp(t, `^2 \(live\)\s+\d{4}-\d\d-\d\d \d\d:\d\d \S+\s+lead@northwind\.example\s+\S*changed\.yaml\s+[0-9a-f]{12}$`, hist[1])
			require.Regexp(t, `^1\s+\d{4}-\d\d-\d\d \d\d:\d\d \S+\s+ops@northwind\.example\s+\.\./\.\./examples/b2b-saas\.yaml\s+[0-9a-f]{12}$`, hist[2])

			res = mapCLI("export", "--version", "1")
			require.Zero(t, res.code)
			first, err := os.ReadFile(exported)
			require.NoError(t, err)
			require.Equal(t, string(first), res.stdout, "old versions stay exportable")
			res = mapCLI("export")
			require.Contains(t, res.stdout, "sla: 2bd")

			res = mapCLI("export", "--version", "7")
			require.Equal(t, 1, res.code)
			require.ErrorContains(t, res.err, "there is no version 7 of the journey map")
		})
	}
}
