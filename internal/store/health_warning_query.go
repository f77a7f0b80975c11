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

// warningChunk bounds the rows of one warnings upsert (4 values a row).
const warningChunk = 500

// SaveHealthWarningsTx records the warnings of the accounts just scored,
// replacing what each had; an account without warnings is recorded with
// none, so that the exception report drops it.
func (s *Store) SaveHealthWarningsTx(ctx context.Context, tx *sql.Tx, ws []HealthWarnings, now time.Time) error {
	sort.Slice(ws, func(i, j int) bool { return ws[i].AccountID < ws[j].AccountID }) // lock rows in one order
	for start := 0; start < len(ws); start += warningChunk {
		chunk := ws[start:min(start+warningChunk, len(ws))]
		args := make([]any, 0, 4*len(chunk))
		for _, w := range chunk {
			texts, err := json.Marshal(orEmptyStrings(w.Texts))
			if err != nil {
				return err
			}
			args = append(args, w.AccountID, strings.Join(w.Codes, ","), string(texts), micros(now))
		}
		q := s.rowsSQL("INSERT INTO health_warnings (account_id, codes, texts, updated_at) VALUES ", len(chunk), 4,
			" ON CONFLICT (account_id) DO UPDATE SET codes = excluded.codes, texts = excluded.texts, updated_at = excluded.updated_at")
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
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

// WarnedAccount is an account whose health raised warnings, with what the
// exception report shows of it.
type WarnedAccount struct {
	Account  Account
	Quadrant string
	Combined *float64
	Warnings HealthWarnings
}

// WarnedAccounts returns the accounts that match the filter and whose
// health raised a warning when last scored, by id.
func (s *Store) WarnedAccounts(ctx context.Context, f HealthFilter) ([]WarnedAccount, error) {
	var args []any
	where := f.where(&args)
	rows, err := s.read.QueryContext(ctx, `SELECT `+prefixed("a.", accountCols)+`, COALESCE(h.quadrant, ''), h.combined, w.codes, w.texts
		FROM health_warnings w JOIN accounts a ON a.id = w.account_id LEFT JOIN account_health h ON h.account_id = w.account_id
		WHERE w.codes <> ''`+where+` ORDER BY a.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("read health warnings: %w", err)
	}
	defer rows.Close()
	var out []WarnedAccount
	for rows.Next() {
		var (
			w        WarnedAccount
			combined sql.NullFloat64
			codes    string
			texts    string
		)
		a, err := scanAccount(scanFunc(func(dest ...any) error {
			return rows.Scan(append(dest, &w.Quadrant, &combined, &codes, &texts)...)
		}))
		if err != nil {
			return nil, fmt.Errorf("read health warnings: %w", err)
		}
		w.Account = a
		w.Combined = floatPtr(combined)
		w.Warnings = HealthWarnings{AccountID: a.ID, Codes: strings.Split(codes, ",")}
		if err := json.Unmarshal([]byte(texts), &w.Warnings.Texts); err != nil {
			return nil, fmt.Errorf("health warnings of %q: %w", a.ID, err)
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// scanFunc adapts a function to the scanner interface.
type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// prefixed qualifies each column of a comma-separated list.
func prefixed(prefix, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = prefix + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}
