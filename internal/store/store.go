// Package store persists Moments' data. One Store type serves both embedded
// SQLite (modernc.org/sqlite, pure Go) and PostgreSQL (pgx): the SQL is
// shared where the dialects agree and switched on Dialect where they do not,
// and one conformance suite (store_test.go) runs against both.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Querier is what a query runs on: a *sql.Tx (the ingestion transaction
// inside an ingest hook, or a caller's own) or a pool of the store
// (Reader). A method whose name ends in Tx takes one as its first
// argument after the context and runs on it; every other method uses the
// store's own pools.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// queryStrings runs query, whose rows are one text column, and returns
// the column's values.
func queryStrings(ctx context.Context, q Querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Reader returns the read pool, for the Tx methods when no transaction is
// needed.
func (s *Store) Reader() Querier { return s.read }

// ErrNotFound is returned when a record does not exist.
var ErrNotFound = errors.New("not found")

//go:embed migrations
var migrations embed.FS

// Config says where the data lives. DB, when set, is a PostgreSQL URL
// (postgres://…); otherwise an SQLite database is kept in Data.
type Config struct {
	// Data is the directory of the embedded SQLite database. Default
	// "./moments-data"; created if missing.
	Data string
	// DB is a PostgreSQL connection URL; when set, Data is ignored.
	DB string
	// Logger receives store events; default discards.
	Logger *slog.Logger
	// DedupeMergeEvery is how many recent message keys SQLite holds in
	// memory before writing them as a new run of its dedupe keys (default 250,000,
	// about 12 MB); see dedupe.go. Tests set it low.
	DedupeMergeEvery int
	// AccountMergeEvery is how many recent events SQLite leaves out of its
	// index of events by account before merging them into it (default
	// 16,384); see account_index.go. Tests set it low.
	AccountMergeEvery int
	// Synchronous is SQLite's synchronous setting: "FULL" (default; an
	// acknowledged event survives power loss) or "NORMAL" (survives a
	// crash of the process, may lose the last commits on power loss).
	// docs/benchmarks.md measures the difference.
	Synchronous string
	// EventPartitionSpan is the ids of one partition of events on
	// PostgreSQL (default DefaultEventPartitionSpan; partitions.go).
	// Retention drops whole partitions: events are kept up to a span
	// longer than the retention. Tests set it low.
	EventPartitionSpan int64
}

// Validate checks the configuration and fills defaults.
func (c *Config) Validate() error {
	if c.EventPartitionSpan < 0 {
		return fmt.Errorf("the partition span of events must be a positive number of ids, got %d", c.EventPartitionSpan)
	}
	if c.EventPartitionSpan == 0 {
		c.EventPartitionSpan = DefaultEventPartitionSpan
	}
	if c.DB != "" {
		if !strings.HasPrefix(c.DB, "postgres://") && !strings.HasPrefix(c.DB, "postgresql://") {
			return fmt.Errorf("--db must be a PostgreSQL URL such as postgres://user@host:5432/moments, got %q", c.DB)
		}
		return nil
	}
	if c.Data == "" {
		c.Data = "moments-data"
	}
	switch c.Synchronous {
	case "":
		c.Synchronous = "FULL"
	case "FULL", "NORMAL":
	default:
		return fmt.Errorf("synchronous must be FULL or NORMAL, got %q", c.Synchronous)
	}
	return nil
}

// Store is the database of one Moments installation.
type Store struct {
	dialect Dialect
	// write is the only connection that writes. SQLite allows one writer at a
	// time; funnelling every write through one connection (and one committer
	// goroutine, see writer.go) avoids "database is locked" and lets
	// concurrent requests share one commit.
	write *sql.DB
	// read serves queries; for SQLite a pool of WAL readers that never block
	// the writer, for PostgreSQL a pool apart from the writers' (Open).
	read   *sql.DB
	log    *slog.Logger
	dsn    string
	path   string
	writer *writer
	// stages runs the ingest hooks on committed events (stages.go).
	stages *stageRunner
	now    func() time.Time
	// mergeEvery is Config.DedupeMergeEvery, accountMergeEvery
	// Config.AccountMergeEvery.
	mergeEvery, accountMergeEvery int
	// synchronous is Config.Synchronous (SQLite).
	synchronous string
	// checkpointer copies SQLite's WAL into the database file.
	checkpointer *checkpointer
	// times are the committer's histograms (commit_times.go).
	times commitTimes
	// unlock releases the shared lock on the data directory, which keeps
	// `moments restore` from replacing the database under us.
	unlock func()
	// health holds the health statements' text and, on SQLite, their
	// prepared forms (health_statements.go).
	health healthStatements
	// partitionSpan is Config.EventPartitionSpan; partitionsUpper the end
	// of the last partition of events this process knows of, extending
	// whether a background goroutine is creating the next (partitions.go).
	partitionSpan   int64
	partitionsUpper atomic.Int64
	extending       atomic.Bool
	// background counts the goroutines Close waits for.
	background sync.WaitGroup
}

// pgReadConns bounds the PostgreSQL connections that serve reads outside
// a transaction (Store.read), besides the eight of the writing pool.
const pgReadConns = 8

// Open opens (creating if needed) the database, applies migrations and starts
// the group committer.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{log: log, now: func() time.Time { return time.Now().UTC() }, mergeEvery: cfg.DedupeMergeEvery,
		accountMergeEvery: cfg.AccountMergeEvery, partitionSpan: cfg.EventPartitionSpan, synchronous: cfg.Synchronous}
	var err error
	if cfg.DB != "" {
		s.dialect = Postgres
		s.dsn = cfg.DB
		if s.write, err = sql.Open("pgx", cfg.DB); err != nil {
			return nil, err
		}
		s.write.SetMaxOpenConns(8)
		// Kept open when idle: the committers (pgCommitters), the stage
		// runner and readers take turns, and a connection closed when
		// more than two were idle cost a new backend and its prepared
		// statements the next time.
		s.write.SetMaxIdleConns(8)
		// Reads have a pool of their own: a plain SELECT never waits for a
		// row lock, so readers always get a connection in turn. Shared with
		// the writers, the pool could be all taken by transactions waiting
		// for rows that a stage round holds (a playbook step inserting a
		// task updates its account's health row, which the round's health
		// hook has locked) while the round itself waits for a connection to
		// read a cache's refresh (the live map, personal rules): neither
		// could go on until a step's 30 s deadline gave its connection up.
		if s.read, err = sql.Open("pgx", cfg.DB); err != nil {
			s.write.Close()
			return nil, err
		}
		s.read.SetMaxOpenConns(pgReadConns)
		s.read.SetMaxIdleConns(2)
	} else {
		s.dialect = SQLite
		if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
		if s.unlock, err = lockData(cfg.Data, false); err != nil {
			return nil, err
		}
		s.path = filepath.Join(cfg.Data, "moments.db")
		if s.write, err = sql.Open("sqlite", sqliteDSN(s.path, true, cfg.Synchronous)); err != nil {
			return nil, err
		}
		s.write.SetMaxOpenConns(1)
		s.write.SetConnMaxIdleTime(0)
		if s.read, err = sql.Open("sqlite", sqliteDSN(s.path, false, cfg.Synchronous)); err != nil {
			return nil, err
		}
		s.read.SetMaxOpenConns(8)
		// Four kept open when idle: the backtest reads on four at once
		// (the day of history, the accounts' traits, their group calls,
		// the positives' days), and a connection closed because more than
		// two were idle took its page cache with it: the next report read
		// those pages again from the file. Each connection's cache is at
		// most 64 MiB (cache_size).
		s.read.SetMaxIdleConns(4)
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.write.PingContext(pctx); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("connect to %s database: %w", s.dialect, err)
	}
	if err := s.migrate(ctx); err != nil {
		s.closeDBs()
		return nil, err
	}
	if err := s.ensurePartitions(ctx, s.partitionSpan/2); err != nil {
		s.closeDBs()
		return nil, err
	}
	if s.dialect.embedded() {
		if s.checkpointer, err = startCheckpointer(s.path, s.write, log, checkpointEvery, &s.times); err != nil {
			s.closeDBs()
			return nil, err
		}
	}
	s.writer = newWriter(s)
	s.stages = newStageRunner(s)
	if err := s.writer.prepare(ctx); err != nil {
		s.closeDBs()
		return nil, err
	}
	go s.writer.loop()
	return s, nil
}

// sqliteDSN builds the connection string. The pragmas, in order:
//   - busy_timeout first, so that every later pragma waits for a lock
//     instead of failing with "database is locked";
//   - journal_mode WAL, so readers never block the writer;
//   - synchronous FULL: in WAL mode NORMAL may lose the last commits on power
//     loss (not on a process crash); FULL fsyncs the WAL at every commit, so
//     an acknowledged event survives a power cut. Group commit makes that one
//     fsync per batch of requests, not per event (docs/operations.md);
//   - foreign_keys on; a larger page cache for the dedupe index.
func sqliteDSN(path string, write bool, synchronous string) string {
	q := "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(" + synchronous + ")" +
		"&_pragma=foreign_keys(ON)&_pragma=cache_size(-65536)&_time_format=sqlite"
	if write {
		// BEGIN IMMEDIATE takes the write lock at the start of a transaction,
		// so a read-then-write transaction cannot fail half way on a lock.
		q += "&_txlock=immediate"
		// Statement journals (each multi-row upsert may need undoing on
		// its own) go to memory, not a temporary file: on disk they cost
		// a fifth of ingestion time.
		q += "&_pragma=temp_store(MEMORY)"
		// The writer never checkpoints: copying the WAL back into the
		// database would stall every request waiting for a commit. The
		// checkpointer (checkpoint.go) does it on its own connection. A
		// WAL that grew past walSizeLimit (a long read held its old
		// frames) is cut back when it starts over.
		q += "&_pragma=wal_autocheckpoint(0)&_pragma=journal_size_limit(" + strconv.Itoa(walSizeLimit) + ")"
	} else {
		q += "&_pragma=query_only(ON)"
	}
	return "file:" + path + "?" + q
}

func (s *Store) migrate(ctx context.Context) error {
	dir, d := s.dialect.migrations()
	fsys, err := fs.Sub(migrations, dir)
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(d, s.write, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	for _, r := range res {
		s.log.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path)
	}
	return nil
}

// Dialect reports which database the store runs on.
func (s *Store) Dialect() Dialect { return s.dialect }

// DB returns the write handle, for components that share the database
// (the job queue) and for tests.
func (s *Store) DB() *sql.DB { return s.write }

// URL is the PostgreSQL URL, or "" on SQLite.
func (s *Store) URL() string { return s.dsn }

// SetClock replaces the store's clock; for tests.
func (s *Store) SetClock(now func() time.Time) { s.now = now }

// Close stops the committer after it has committed what it accepted and
// closes the database.
func (s *Store) Close() error {
	if s.writer != nil {
		s.writer.stop()
	}
	if s.stages != nil {
		s.stages.halt()
	}
	s.background.Wait()
	if s.checkpointer != nil {
		s.checkpointer.stop()
	}
	return s.closeDBs()
}

func (s *Store) closeDBs() error {
	if s.unlock != nil {
		defer s.unlock()
	}
	var errs []error
	if s.read != s.write && s.read != nil {
		errs = append(errs, s.read.Close())
	}
	if s.write != nil {
		errs = append(errs, s.write.Close())
	}
	return errors.Join(errs...)
}
