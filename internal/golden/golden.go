// Package golden compares a test's output with a golden file in testdata/
// and rewrites the file when the test runs with -update:
//
//	go test ./internal/journey -run TestLintGolden -update
//
// Import it from tests only; it registers the -update flag.
package golden

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Update reports whether the test run rewrites golden files (-update).
func Update() bool { return *update }

// Assert compares got with the file at path (relative to the package under
// test, usually testdata/…); with -update it writes got there first,
// creating the directories it needs.
func Assert(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "%s is missing: run the test with -update to create it", path)
	require.Equal(t, string(want), string(got), "%s differs: if the change is intended, run the test with -update", path)
}
