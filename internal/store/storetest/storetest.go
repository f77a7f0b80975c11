// Package storetest opens fresh stores for tests: SQLite always, and
// PostgreSQL too when MOMENTS_TEST_POSTGRES_URL is set (.ci/run sets it), so
// one suite proves both dialects behave the same.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
)

// EnvPostgres names the variable holding the PostgreSQL URL for tests.
const EnvPostgres = "MOMENTS_TEST_POSTGRES_URL"

// Dialects lists the dialects this test run covers.
func Dialects() []store.Dialect {
	if os.Getenv(EnvPostgres) != "" {
		return []store.Dialect{store.SQLite, store.Postgres}
	}
	return []store.Dialect{store.SQLite}
}

// Config returns a configuration for a fresh, empty database of dialect d:
// a temporary directory for SQLite, a new schema for PostgreSQL (dropped when
// the test ends).
func Config(t testing.TB, d store.Dialect) store.Config {
	t.Helper()
	if d == store.SQLite {
		// MOMENTS_TEST_SQLITE_SYNCHRONOUS=NORMAL lets a benchmark measure
		// what the default FULL costs (docs/benchmarks.md).
		cfg := store.Config{Data: t.TempDir(), Synchronous: os.Getenv("MOMENTS_TEST_SQLITE_SYNCHRONOUS")}
		if _, bench := t.(*testing.B); !bench {
			// Tests merge the index of events by account every few events,
			// so that their reads by account meet both the index and its
			// unmerged tail (store/account_index.go); benchmarks keep the
			// default.
			cfg.AccountMergeEvery = 7
		}
		return cfg
	}
	base := os.Getenv(EnvPostgres)
	if base == "" {
		t.Skip(EnvPostgres + " is not set")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	db, err := sql.Open("pgx", base)
	require.NoError(t, err)
	_, err = db.Exec("CREATE SCHEMA " + schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = db.Exec("DROP SCHEMA " + schema + " CASCADE")
		db.Close()
	})
	u, err := url.Parse(base)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	// MOMENTS_TEST_EVENT_PARTITION_SPAN runs the suite (or a benchmark)
	// with partitions of events of that many ids, so that ingestion
	// crosses partition boundaries.
	span, _ := strconv.ParseInt(os.Getenv("MOMENTS_TEST_EVENT_PARTITION_SPAN"), 10, 64)
	return store.Config{DB: u.String(), EventPartitionSpan: span}
}

// Open opens a fresh store of dialect d, closed when the test ends.
func Open(t testing.TB, d store.Dialect) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), Config(t, d))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// Each runs f as a subtest against a fresh store of every covered dialect.
func Each(t *testing.T, f func(t *testing.T, s *store.Store)) {
	t.Helper()
	EachConfig(t, func(*store.Config) {}, f)
}

// EachConfig is Each with the configuration adjusted before each store
// opens (a small span of event partitions, for example).
func EachConfig(t *testing.T, adjust func(*store.Config), f func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, d := range Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			cfg := Config(t, d)
			adjust(&cfg)
			s, err := store.Open(context.Background(), cfg)
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			f(t, s)
		})
	}
}
