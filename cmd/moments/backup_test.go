package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
)

// TestBackupRestoreCommands: backup while the database is open, restore
// refused while it is open and done once it is closed.
func TestBackupRestoreCommands(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	s, err := store.Open(context.Background(), store.Config{Data: data})
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "backup.db")
	res := run(t, "", "backup", file, "--data", data)
	require.Zero(t, res.code, res.err)
	require.Contains(t, res.stderr, "backed up "+data+" to "+file)

	res = run(t, "", "restore", file, "--data", data)
	require.NotZero(t, res.code)
	require.ErrorIs(t, res.err, store.ErrDatabaseInUse)
	require.NoError(t, s.Close())

	res = run(t, "", "restore", file, "--data", data)
	require.Zero(t, res.code, res.err)
	matches, _ := filepath.Glob(filepath.Join(data, "moments.db.before-restore-*"))
	require.Len(t, matches, 1, "the replaced database is kept aside")

	res = run(t, "", "backup", file, "--db", "postgres://localhost/moments")
	require.ErrorContains(t, res.err, "pg_dump")
}
