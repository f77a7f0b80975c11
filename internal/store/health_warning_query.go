package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// HealthWarnings are the warnings an account's health raised when last
// scored: codes such as low_health, with a text each.
type HealthWarnings struct {
	AccountID string
	Codes     []string
	Texts     []string
}

// SaveHealthWarningsTx records the warnings of the accounts just scored,
// replacing what each had; an account without warnings is recorded with
// none, so that the exception report drops it. A row whose warnings are
// unchanged is left as it is (its updated_at is when they last changed):
// most accounts raise the same warnings day after day, and not rewriting
// them spares the daily recompute a row write per account. The statements
// have the sizes of healthChunks, kept prepared.
func (s *Store) SaveHealthWarningsTx(ctx context.Context, tx *sql.Tx, ws []HealthWarnings, now time.Time) error {
	sort.Slice(ws, func(i, j int) bool { return ws[i].AccountID < ws[j].AccountID }) // lock rows in one order
	args := make([]any, 0, 4*min(len(ws), healthSizes[0]))
	start := 0
	for _, n := range healthChunks(len(ws)) {
		args = args[:0]
		for _, w := range ws[start : start+n] {
			codes, texts, err := encodeWarnings(w)
			if err != nil {
				return err
			}
			args = append(args, w.AccountID, codes, texts, micros(now))
		}
		start += n
		if _, err := s.healthExec(ctx, tx, s.healthSQL(saveWarnings, n), args...); err != nil {
			return fmt.Errorf("save health warnings: %w", err)
		}
	}
	return nil
}

func orEmptyStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// decodeWarnings reads the codes and texts of a health_warnings row.
func decodeWarnings(accountID, codes, texts string) (HealthWarnings, error) {
	w := HealthWarnings{AccountID: accountID}
	if codes == "" {
		return w, nil
	}
	w.Codes = strings.Split(codes, ",")
	if err := json.Unmarshal([]byte(texts), &w.Texts); err != nil {
		return w, fmt.Errorf("health warnings of %q: %w", accountID, err)
	}
	return w, nil
}

// SegmentFeatures returns the features the broad users of each segment
// use, as the last health recompute saved them (SaveSegmentFeatures);
// empty before the first. With q nil it reads from the read pool.
func (s *Store) SegmentFeatures(ctx context.Context, q Querier) (map[string]int, error) {
	if q == nil {
		q = s.read
	}
	rows, err := q.QueryContext(ctx, "SELECT segment, features FROM health_segment_features")
	if err != nil {
		return nil, fmt.Errorf("read segment features: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var (
			seg string
			n   int
		)
		if err := rows.Scan(&seg, &n); err != nil {
			return nil, err
		}
		out[seg] = n
	}
	return out, rows.Err()
}

// SaveSegmentFeatures replaces the features per segment.
func (s *Store) SaveSegmentFeatures(ctx context.Context, refs map[string]int, now time.Time) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := tx.ExecContext(ctx, "DELETE FROM health_segment_features"); err != nil {
		return fmt.Errorf("save segment features: %w", err)
	}
	for seg, n := range refs {
		if _, err := tx.ExecContext(ctx, "INSERT INTO health_segment_features (segment, features, at) VALUES ($1, $2, $3)",
			seg, n, micros(now)); err != nil {
			return fmt.Errorf("save segment features: %w", err)
		}
	}
	return tx.Commit()
}

// AccountSegments returns every account's segment by id.
func (s *Store) AccountSegments(ctx context.Context) (map[string]string, error) {
	rows, err := s.read.QueryContext(ctx, "SELECT id, segment FROM accounts")
	if err != nil {
		return nil, fmt.Errorf("read account segments: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, seg string
		if err := rows.Scan(&id, &seg); err != nil {
			return nil, err
		}
		out[id] = seg
	}
	return out, rows.Err()
}
