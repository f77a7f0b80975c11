package store_test

import (
	"context"
	"database/sql"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// claimKeys claims keys in tx as the ingestion claim does
// (claim_message_keys, migration 00031) and returns the new ones, sorted.
func claimKeys(t *testing.T, tx *sql.Tx, keys ...string) []string {
	t.Helper()
	out, err := tryClaimKeys(tx, keys...)
	require.NoError(t, err)
	return out
}

// tryClaimKeys is claimKeys for a goroutine other than the test's.
func tryClaimKeys(tx *sql.Tx, keys ...string) ([]string, error) {
	arr := make([][]byte, len(keys))
	for i, k := range keys {
		arr[i] = []byte(k)
	}
	rows, err := tx.Query("SELECT key FROM claim_message_keys($1::bytea[]) AS c(key)", arr)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k []byte
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		out = append(out, string(k))
	}
	sort.Strings(out)
	return out, rows.Err()
}

// openWithPool opens a fresh store on PostgreSQL and a pool of its own on
// the same database, for the transactions a test holds open beside the
// store's.
func openWithPool(t *testing.T) (*store.Store, *sql.DB) {
	t.Helper()
	cfg := storetest.Config(t, store.Postgres)
	s, err := store.Open(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	db, err := sql.Open("pgx", cfg.DB)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return s, db
}

// TestClaimMessageKeys checks the claim of message keys on PostgreSQL: new
// keys are inserted plainly, a key stored already neither fails the
// transaction nor is claimed again, and a key claimed by a transaction in
// flight is waited for — not new if that transaction commits, new if it
// rolls back. Before migration 00031 there was no such function (the claim
// was an INSERT … ON CONFLICT that looked every key up first).
func TestClaimMessageKeys(t *testing.T) {
	t.Parallel()
	_, db := openWithPool(t) // the store migrates the database

	begin := func() *sql.Tx {
		tx, err := db.Begin()
		require.NoError(t, err)
		return tx
	}
	tx := begin()
	require.Equal(t, []string{"a", "b"}, claimKeys(t, tx, "a", "b"))
	require.NoError(t, tx.Commit())

	// A retry carrying a stored key beside a new one: the transaction
	// goes on and commits the new key alone.
	tx = begin()
	require.Equal(t, []string{"c"}, claimKeys(t, tx, "a", "c"))
	require.Nil(t, claimKeys(t, tx, "b"))
	var n int
	require.NoError(t, tx.QueryRow("SELECT count(*) FROM message_keys").Scan(&n))
	require.Equal(t, 3, n)
	require.NoError(t, tx.Commit())

	// In flight: the second claim waits for the first transaction.
	inFlight := func(end func(*sql.Tx) error, key string) []string {
		first := begin()
		require.Equal(t, []string{key}, claimKeys(t, first, key))
		type claimed struct {
			keys []string
			err  error
		}
		got := make(chan claimed, 1)
		second := begin()
		go func() {
			keys, err := tryClaimKeys(second, key, key+"'")
			got <- claimed{keys, err}
		}()
		select {
		case g := <-got:
			t.Fatalf("the second claim did not wait for the first transaction: %v %v", g.keys, g.err)
		case <-time.After(200 * time.Millisecond):
		}
		require.NoError(t, end(first))
		g := <-got
		require.NoError(t, g.err)
		require.NoError(t, second.Commit())
		return g.keys
	}
	require.Equal(t, []string{"d'"}, inFlight((*sql.Tx).Commit, "d"), "claimed by a transaction that committed")
	require.Equal(t, []string{"e", "e'"}, inFlight((*sql.Tx).Rollback, "e"), "claimed by a transaction that rolled back")
}

// TestTouchPassesOverALockedRow checks that on PostgreSQL an ingestion
// transaction does not wait for a contact row that another transaction
// holds just to move its last activity (another server's batch touching
// the same contact): it passes the row over, and one of the server's next
// transactions writes it. Before, the transaction waited for the other to
// commit, and with three servers on one database their transactions
// queued behind each other on these rows.
func TestTouchPassesOverALockedRow(t *testing.T) {
	t.Parallel()
	s, db := openWithPool(t)
	ctx := context.Background()

	at := func(id, user string, ts time.Time) store.Message {
		m := track(id, user, "acme", "Login")
		m.Timestamp, m.ReceivedAt = ts, ts
		return m
	}
	lastSeen := func(id string) time.Time {
		var us int64
		require.NoError(t, db.QueryRow("SELECT last_seen_at FROM contacts WHERE id = $1", id).Scan(&us))
		return time.UnixMicro(us).UTC()
	}
	_, err := s.Ingest(ctx, "wk", []store.Message{at("m1", "u1", t0)})
	require.NoError(t, err)
	require.Equal(t, t0, lastSeen("u1"))

	// Another transaction holds u1's row.
	other, err := db.Begin()
	require.NoError(t, err)
	defer other.Rollback() //nolint:errcheck
	_, err = other.Exec("SELECT 1 FROM contacts WHERE id = 'u1' FOR UPDATE")
	require.NoError(t, err)

	later := t0.Add(2 * time.Hour) // past the hour within which activity is not written again
	done := make(chan error, 1)
	go func() {
		_, err := s.Ingest(ctx, "wk", []store.Message{at("m2", "u1", later)})
		done <- err
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		require.NoError(t, other.Rollback())
		<-done
		t.Fatal("the ingestion waited for the transaction holding the contact's row")
	}
	require.Equal(t, t0, lastSeen("u1"), "passed over while held")
	require.NoError(t, other.Rollback())

	// The server's next transaction, about another contact, writes it.
	_, err = s.Ingest(ctx, "wk", []store.Message{at("m3", "u2", later)})
	require.NoError(t, err)
	require.Equal(t, later, lastSeen("u1"), "written by the next transaction")
	require.Equal(t, later, lastSeen("u2"))
	n, err := s.CountEvents(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 3, n)
}
