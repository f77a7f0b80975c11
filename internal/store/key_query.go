package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// CreateKey stores a new API key by its hash.
func (s *Store) CreateKey(ctx context.Context, k APIKey, hash []byte) error {
	_, err := s.write.ExecContext(ctx,
		"INSERT INTO api_keys (id, name, scope, hash, created_at, server) VALUES ($1, $2, $3, $4, $5, $6)",
		k.ID, k.Name, k.Scope, hash, micros(k.CreatedAt), boolInt(k.Server))
	if err != nil {
		return fmt.Errorf("store key: %w", err)
	}
	return nil
}

func scanKey(r scanner) (APIKey, error) {
	var (
		k             APIKey
		created       int64
		used, revoked sql.NullInt64
		server        int
	)
	err := r.Scan(&k.ID, &k.Name, &k.Scope, &created, &used, &revoked, &server)
	k.CreatedAt, k.LastUsedAt, k.RevokedAt, k.Server = fromMicros(created), timePtr(used), timePtr(revoked), server != 0
	return k, err
}

// keyCols are the columns scanKey reads.
const keyCols = "id, name, scope, created_at, last_used_at, revoked_at, server"

// ListKeys returns every key, revoked ones included, oldest first.
func (s *Store) ListKeys(ctx context.Context) ([]APIKey, error) {
	rows, err := s.read.QueryContext(ctx,
		"SELECT "+keyCols+" FROM api_keys ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	defer rows.Close()
	var out []APIKey
	return appendRows(out, rows, scanKey)
}

// KeyByHash finds a key that is not revoked by the hash of its secret.
func (s *Store) KeyByHash(ctx context.Context, hash []byte) (APIKey, error) {
	k, err := scanKey(s.read.QueryRowContext(ctx,
		"SELECT "+keyCols+" FROM api_keys WHERE hash = $1 AND revoked_at IS NULL", hash))
	if errors.Is(err, sql.ErrNoRows) {
		return k, ErrNotFound
	}
	return k, err
}

// RevokeKey revokes a key; revoking twice is not an error.
func (s *Store) RevokeKey(ctx context.Context, id string, at time.Time) error {
	res, err := s.write.ExecContext(ctx,
		"UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1", id, micros(at))
	if err != nil {
		return fmt.Errorf("revoke key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// TouchKey records when a key was last used.
func (s *Store) TouchKey(ctx context.Context, id string, at time.Time) error {
	_, err := s.write.ExecContext(ctx, "UPDATE api_keys SET last_used_at = $2 WHERE id = $1", id, micros(at))
	return err
}

// CountKeys counts keys that are not revoked.
func (s *Store) CountKeys(ctx context.Context) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, "SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL").Scan(&n)
	return n, err
}
