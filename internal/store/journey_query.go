package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// JourneyVersion is one applied journey map.
type JourneyVersion struct {
	Number    int       `json:"number"`
	Hash      string    `json:"hash"`
	Content   []byte    `json:"-"`
	Source    string    `json:"source"`
	AppliedBy string    `json:"applied_by"`
	AppliedAt time.Time `json:"applied_at"`
}

// ErrConflict means a concurrent change won; retry.
var ErrConflict = errors.New("another change was saved at the same time; retry")

// SaveJourneyVersion stores v as the next version unless its hash equals the
// live version's, in which case it returns the live version and false.
func (s *Store) SaveJourneyVersion(ctx context.Context, v JourneyVersion) (JourneyVersion, bool, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return v, false, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	live, err := scanJourney(tx.QueryRowContext(ctx, "SELECT "+journeyCols+" FROM journey_versions ORDER BY number DESC LIMIT 1"), true)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		live = JourneyVersion{}
	case err != nil:
		return v, false, fmt.Errorf("read live journey map: %w", err)
	case live.Hash == v.Hash:
		return live, false, nil
	}
	v.Number = live.Number + 1
	_, err = tx.ExecContext(ctx, `INSERT INTO journey_versions (number, hash, content, source, applied_by, applied_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, v.Number, v.Hash, string(v.Content), v.Source, v.AppliedBy, micros(v.AppliedAt))
	if err != nil {
		// Two applies at once on PostgreSQL: the second hits the primary key.
		return v, false, fmt.Errorf("%w: %v", ErrConflict, err)
	}
	if err := tx.Commit(); err != nil {
		return v, false, err
	}
	return v, true, nil
}

const journeyCols = "number, hash, content, source, applied_by, applied_at"

func scanJourney(r scanner, withContent bool) (JourneyVersion, error) {
	var (
		v       JourneyVersion
		content string
		at      int64
	)
	err := r.Scan(&v.Number, &v.Hash, &content, &v.Source, &v.AppliedBy, &at)
	if withContent {
		v.Content = []byte(content)
	}
	v.AppliedAt = fromMicros(at)
	return v, err
}

// LiveJourneyVersion returns the live (latest) version, or ErrNotFound when
// no map was ever applied.
func (s *Store) LiveJourneyVersion(ctx context.Context) (JourneyVersion, error) {
	v, err := scanJourney(s.read.QueryRowContext(ctx, "SELECT "+journeyCols+" FROM journey_versions ORDER BY number DESC LIMIT 1"), true)
	if errors.Is(err, sql.ErrNoRows) {
		return v, ErrNotFound
	}
	return v, err
}

// LiveJourneyNumber returns the live version's number, 0 when none.
func (s *Store) LiveJourneyNumber(ctx context.Context) (int, error) {
	var n sql.NullInt64
	err := s.read.QueryRowContext(ctx, "SELECT MAX(number) FROM journey_versions").Scan(&n)
	return int(n.Int64), err
}

// JourneyVersionByNumber returns one version with its content.
func (s *Store) JourneyVersionByNumber(ctx context.Context, n int) (JourneyVersion, error) {
	v, err := scanJourney(s.read.QueryRowContext(ctx, "SELECT "+journeyCols+" FROM journey_versions WHERE number = $1", n), true)
	if errors.Is(err, sql.ErrNoRows) {
		return v, ErrNotFound
	}
	return v, err
}

// JourneyVersions lists every version, newest first, without content.
func (s *Store) JourneyVersions(ctx context.Context) ([]JourneyVersion, error) {
	rows, err := s.read.QueryContext(ctx, "SELECT "+journeyCols+" FROM journey_versions ORDER BY number DESC")
	if err != nil {
		return nil, fmt.Errorf("list journey versions: %w", err)
	}
	defer rows.Close()
	var out []JourneyVersion
	for rows.Next() {
		v, err := scanJourney(rows, false)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
