package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// AccountFilter narrows ListAccounts. Empty fields match everything.
type AccountFilter struct {
	Segment string
	Owner   string
	Stage   string
}

const accountCols = `id, name, plan, segment, owner, lifecycle_stage, arr, renewal_date, traits, created_at, updated_at, last_seen_at`

type scanner interface{ Scan(dest ...any) error }

func scanAccount(r scanner) (Account, error) {
	a, traits, err := scanAccountRaw(r)
	if err != nil {
		return a, err
	}
	return a, decodeTraits(&a, traits)
}

// scanAccountRaw reads an account row, leaving its traits (JSON) to
// decodeTraits.
func scanAccountRaw(r scanner) (Account, string, error) {
	var (
		a               Account
		traits          string
		created, update int64
		seen            sql.NullInt64
	)
	if err := r.Scan(&a.ID, &a.Name, &a.Plan, &a.Segment, &a.Owner, &a.LifecycleStage, &a.ARR, &a.RenewalDate,
		&traits, &created, &update, &seen); err != nil {
		return a, "", err
	}
	a.CreatedAt, a.UpdatedAt, a.LastSeenAt = fromMicros(created), fromMicros(update), timePtr(seen)
	return a, traits, nil
}

// decodeTraits decodes an account's stored traits into a.Traits.
func decodeTraits(a *Account, traits string) error {
	if err := json.Unmarshal([]byte(traits), &a.Traits); err != nil {
		return fmt.Errorf("account %q traits: %w", a.ID, err)
	}
	return nil
}

// ListAccounts returns one page of accounts ordered by name then id, and the
// cursor of the next page ("" on the last).
func (s *Store) ListAccounts(ctx context.Context, f AccountFilter, p Page) ([]Account, string, error) {
	var w where
	w.eq("segment", f.Segment)
	w.eq("owner", f.Owner)
	w.eq("lifecycle_stage", f.Stage)
	if p.Cursor != "" {
		name, id, err := decodeCursor(p.Cursor)
		if err != nil {
			return nil, "", err
		}
		n, i := w.arg(name), w.arg(id)
		w.add("(name > " + n + " OR (name = " + n + " AND id > " + i + "))")
	}
	return queryPage(ctx, s.read, "accounts", "SELECT "+accountCols+" FROM accounts", w, "name, id", p, scanAccount,
		func(a Account) string { return encodeCursor(a.Name, a.ID) })
}

// ErrBadCursor is returned for a cursor this server did not issue.
var ErrBadCursor = errors.New("cursor is not one this server issued")

func encodeCursor(parts ...string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strings.Join(parts, "\x00")))
}

// decodeNumCursor reads a cursor whose first part is a number (a time in
// microseconds, a sort key) and whose second is an id.
func decodeNumCursor(c string) (int64, string, error) {
	k, id, err := decodeCursor(c)
	if err != nil {
		return 0, "", err
	}
	n, err := strconv.ParseInt(k, 10, 64)
	if err != nil {
		return 0, "", ErrBadCursor
	}
	return n, id, nil
}

// queryPage runs one keyset-paginated list query: from (a SELECT … FROM)
// with every condition of where, in order, asking for one row more than
// the page so it knows whether another page follows. It returns the page
// (never nil) and the cursor of the next page, made by cursor from the
// page's last row ("" on the last page).
func queryPage[T any](ctx context.Context, db *sql.DB, what, from string, w where, order string, p Page,
	scan func(scanner) (T, error), cursor func(T) string) ([]T, string, error) {
	limit := p.limit()
	q := from + w.and(" WHERE ") + " ORDER BY " + order + " LIMIT " + strconv.Itoa(limit+1)
	rows, err := db.QueryContext(ctx, q, w.args...)
	if err != nil {
		return nil, "", fmt.Errorf("list %s: %w", what, err)
	}
	defer rows.Close()
	out, err := appendRows(make([]T, 0, limit+1), rows, scan)
	if err != nil {
		return nil, "", err
	}
	if len(out) <= limit {
		return out, "", nil
	}
	out = out[:limit]
	return out, cursor(out[limit-1]), nil
}

func decodeCursor(c string) (string, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", "", ErrBadCursor
	}
	a, z, ok := strings.Cut(string(b), "\x00")
	if !ok {
		return "", "", ErrBadCursor
	}
	return a, z, nil
}

// Account returns one account.
func (s *Store) Account(ctx context.Context, id string) (Account, error) {
	a, err := scanAccount(s.read.QueryRowContext(ctx, "SELECT "+accountCols+" FROM accounts WHERE id = $1", id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, ErrNotFound
	}
	return a, err
}

// CountAccounts counts every account.
func (s *Store) CountAccounts(ctx context.Context) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, "SELECT COUNT(*) FROM accounts").Scan(&n)
	return n, err
}

// AccountsByIDTx reads accounts in q.
func (s *Store) AccountsByIDTx(ctx context.Context, q Querier, ids []string) (map[string]Account, error) {
	out, err := mapRowsIn(ctx, s, q, "SELECT "+accountCols+" FROM accounts WHERE id IN ("+idsMarker+")", ids, scanAccount,
		func(a Account) string { return a.ID })
	if err != nil {
		return nil, fmt.Errorf("read accounts: %w", err)
	}
	return out, nil
}

// AccountsAfterTx returns up to limit accounts with an id greater than after,
// in id order: the way to page through every account.
func (s *Store) AccountsAfterTx(ctx context.Context, q Querier, after string, limit int) ([]Account, error) {
	if q == nil {
		q = s.read
	}
	rows, err := q.QueryContext(ctx, "SELECT "+accountCols+" FROM accounts WHERE id > $1 ORDER BY id LIMIT "+fmt.Sprint(limit), after)
	if err != nil {
		return nil, fmt.Errorf("page through accounts: %w", err)
	}
	defer rows.Close()
	var out []Account
	return appendRows(out, rows, scanAccount)
}
