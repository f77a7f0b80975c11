package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// ErrDatabaseInUse refuses to restore over a database that a server (or
// any other moments command) has open.
var ErrDatabaseInUse = errors.New("the database is in use: stop `moments serve` (and any other moments command using this data directory), then restore")

// dbFile is the SQLite database file in a data directory.
func dbFile(dir string) string { return filepath.Join(dir, "moments.db") }

// Backup writes a consistent copy of the SQLite database of cfg to file,
// while a server may be running and ingesting: SQLite's VACUUM INTO copies
// one read transaction's snapshot, so every event committed (and so
// acknowledged) before it started is in the copy. file must not exist. On
// PostgreSQL it returns an error saying to use pg_dump.
func Backup(ctx context.Context, cfg Config, file string) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.DB != "" {
		return errors.New("this installation uses PostgreSQL: back it up with pg_dump, e.g. `pg_dump --format=custom --file=moments.dump \"$MOMENTS_DB\"`, and check the dump with `pg_restore --list moments.dump`")
	}
	src := dbFile(cfg.Data)
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("no database to back up at %s: %w", src, err)
	}
	if _, err := os.Stat(file); err == nil {
		return fmt.Errorf("%s already exists: a backup never overwrites a file; choose a new name", file)
	}
	db, err := sql.Open("sqlite", "file:"+src+"?_pragma=busy_timeout(10000)&_pragma=query_only(OFF)")
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO $1", file); err != nil {
		return fmt.Errorf("back up %s: %w", src, err)
	}
	return checkSQLiteFile(ctx, file)
}

// checkSQLiteFile verifies that file is an intact Moments database.
func checkSQLiteFile(ctx context.Context, file string) error {
	db, err := sql.Open("sqlite", "file:"+file+"?mode=ro")
	if err != nil {
		return err
	}
	defer db.Close()
	var ok string
	if err := db.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&ok); err != nil || ok != "ok" {
		return fmt.Errorf("%s is not an intact SQLite database (%v %s)", file, err, ok)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM events").Scan(&n); err != nil {
		return fmt.Errorf("%s is not a Moments database: %w", file, err)
	}
	return nil
}

// Restore replaces the SQLite database of cfg with the backup file, after
// checking that it is an intact Moments database. It refuses with
// ErrDatabaseInUse while any process has the database open (store.Open
// holds a shared lock on moments.lock in the data directory; Restore needs
// it exclusively). The database it replaces is kept beside it as
// moments.db.before-restore-<time>. On PostgreSQL it returns an error
// saying to use pg_restore.
func Restore(ctx context.Context, cfg Config, file string) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.DB != "" {
		return errors.New("this installation uses PostgreSQL: restore a pg_dump backup with pg_restore, e.g. `pg_restore --clean --dbname \"$MOMENTS_DB\" moments.dump`, with the server stopped")
	}
	if err := checkSQLiteFile(ctx, file); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	unlock, err := lockData(cfg.Data, true)
	if err != nil {
		return err
	}
	defer unlock()
	dst := dbFile(cfg.Data)
	tmp := dst + ".restoring"
	if err := copyFile(file, tmp); err != nil {
		return err
	}
	if _, err := os.Stat(dst); err == nil {
		aside := dst + ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
		if err := os.Rename(dst, aside); err != nil {
			return fmt.Errorf("keep the current database aside: %w", err)
		}
	}
	// The WAL and shared-memory files belong to the database set aside: left
	// beside the restored one, SQLite would replay them into it.
	for _, ext := range []string{"-wal", "-shm"} {
		if err := os.Remove(dst + ext); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return os.Rename(tmp, dst)
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	// The copy must be on disk before it replaces the database.
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
