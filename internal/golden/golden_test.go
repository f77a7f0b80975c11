package golden

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAssertMatchesTheFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "out.golden")
	require.NoError(t, os.WriteFile(path, []byte("same\n"), 0o644))
	Assert(t, path, []byte("same\n"))
}

func TestAssertReportsADifference(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "out.golden")
	require.NoError(t, os.WriteFile(path, []byte("before\n"), 0o644))
	rec := &recorder{TB: t}
	func() {
		defer func() { _ = recover() }() // require stops the test with FailNow
		Assert(rec, path, []byte("after\n"))
	}()
	require.True(t, rec.failed, "a different output fails")
}

// recorder notes a failure instead of failing the real test.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) FailNow()              { r.failed = true; panic("stop") }
func (r *recorder) Helper()               {}
