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
	var (
		a               Account
		traits          string
		created, update int64
		seen            sql.NullInt64
	)
	if err := r.Scan(&a.ID, &a.Name, &a.Plan, &a.Segment, &a.Owner, &a.LifecycleStage, &a.ARR, &a.RenewalDate,
		&traits, &created, &update, &seen); err != nil {
		return a, err
	}
	if err := json.Unmarshal([]byte(traits), &a.Traits); err != nil {
		return a, fmt.Errorf("account %q traits: %w", a.ID, err)
	}
	a.CreatedAt, a.UpdatedAt, a.LastSeenAt = fromMicros(created), fromMicros(update), timePtr(seen)
	return a, nil
}

// ListAccounts returns one page of accounts ordered by name then id, and the
// cursor of the next page ("" on the last).
func (s *Store) ListAccounts(ctx context.Context, f AccountFilter, p Page) ([]Account, string, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.Segment != "" {
		add("segment = ?", f.Segment)
	}
	if f.Owner != "" {
		add("owner = ?", f.Owner)
	}
	if f.Stage != "" {
		add("lifecycle_stage = ?", f.Stage)
	}
	if p.Cursor != "" {
		name, id, err := decodeCursor(p.Cursor)
		if err != nil {
			return nil, "", err
		}
		args = append(args, name, id)
		n, i := "$"+strconv.Itoa(len(args)-1), "$"+strconv.Itoa(len(args))
		where = append(where, "(name > "+n+" OR (name = "+n+" AND id > "+i+"))")
	}
	return queryPage(ctx, s.read, "accounts", "SELECT "+accountCols+" FROM accounts", where, "name, id", args, p, scanAccount,
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
func queryPage[T any](ctx context.Context, db *sql.DB, what, from string, where []string, order string, args []any, p Page,
	scan func(scanner) (T, error), cursor func(T) string) ([]T, string, error) {
	q := from
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := p.limit()
	q += " ORDER BY " + order + " LIMIT " + strconv.Itoa(limit+1)
	rows, err := db.QueryContext(ctx, q, args...)
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

const contactCols = `id, account_id, email, role, traits, created_at, updated_at, last_seen_at`

func scanContact(r scanner) (Contact, error) {
	var (
		c               Contact
		acct            sql.NullString
		traits          string
		created, update int64
		seen            sql.NullInt64
	)
	if err := r.Scan(&c.ID, &acct, &c.Email, &c.Role, &traits, &created, &update, &seen); err != nil {
		return c, err
	}
	if err := json.Unmarshal([]byte(traits), &c.Traits); err != nil {
		return c, fmt.Errorf("contact %q traits: %w", c.ID, err)
	}
	c.AccountID = acct.String
	c.CreatedAt, c.UpdatedAt, c.LastSeenAt = fromMicros(created), fromMicros(update), timePtr(seen)
	return c, nil
}

// Contact returns one contact.
func (s *Store) Contact(ctx context.Context, id string) (Contact, error) {
	c, err := scanContact(s.read.QueryRowContext(ctx, "SELECT "+contactCols+" FROM contacts WHERE id = $1", id))
	if errors.Is(err, sql.ErrNoRows) {
		return c, ErrNotFound
	}
	return c, err
}

// AccountContacts returns the contacts of an account, at most 500.
func (s *Store) AccountContacts(ctx context.Context, accountID string) ([]Contact, error) {
	rows, err := s.read.QueryContext(ctx,
		"SELECT "+contactCols+" FROM contacts WHERE account_id = $1 ORDER BY id LIMIT 500", accountID)
	if err != nil {
		return nil, fmt.Errorf("list contacts: %w", err)
	}
	defer rows.Close()
	var out []Contact
	return appendRows(out, rows, scanContact)
}

// EventFilter narrows ListEvents. Empty fields match everything.
type EventFilter struct {
	Account string
	User    string
	Name    string
	Type    string
}

const eventCols = `id, message_id, type, name, user_id, anonymous_id, account_id, timestamp, original_timestamp, sent_at, received_at, properties, context, integrations`

func scanEvent(r scanner) (Event, error) {
	var (
		e              Event
		ts, recv       int64
		orig, sent     sql.NullInt64
		props, context string
		integrations   string
	)
	if err := r.Scan(&e.ID, &e.MessageID, &e.Type, &e.Name, &e.UserID, &e.AnonymousID, &e.AccountID,
		&ts, &orig, &sent, &recv, &props, &context, &integrations); err != nil {
		return e, err
	}
	e.Timestamp, e.ReceivedAt = fromMicros(ts), fromMicros(recv)
	e.OriginalTimestamp, e.SentAt = timePtr(orig), timePtr(sent)
	e.Properties, e.Context, e.Integrations = json.RawMessage(props), json.RawMessage(context), json.RawMessage(integrations)
	return e, nil
}

// ListEvents returns one page of events, newest first (in the order they
// were received), and the cursor of the next page.
func (s *Store) ListEvents(ctx context.Context, f EventFilter, p Page) ([]Event, string, error) {
	var (
		where []string
		args  []any
	)
	add := func(col string, v any, op string) {
		args = append(args, v)
		where = append(where, col+" "+op+" $"+strconv.Itoa(len(args)))
	}
	if f.User != "" && f.Account == "" {
		// Events are indexed by account, not by user (an index on random
		// user ids would cost a page write per event): a contact's events
		// are found under their account, or among the events of no account.
		var acct sql.NullString
		err := s.read.QueryRowContext(ctx, "SELECT account_id FROM contacts WHERE id = $1", f.User).Scan(&acct)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, "", fmt.Errorf("list events: %w", err)
		}
		add("account_id", acct.String, "=")
	} else if f.Account != "" {
		add("account_id", f.Account, "=")
	}
	if f.User != "" {
		add("user_id", f.User, "=")
	}
	if f.Name != "" {
		add("name", f.Name, "=")
	}
	if f.Type != "" {
		add("type", f.Type, "=")
	}
	if p.Cursor != "" {
		id, err := strconv.ParseInt(p.Cursor, 10, 64)
		if err != nil {
			return nil, "", ErrBadCursor
		}
		add("id", id, "<")
	}
	return queryPage(ctx, s.read, "events", "SELECT "+eventCols+" FROM events", where, "id DESC", args, p, scanEvent,
		func(e Event) string { return strconv.FormatInt(e.ID, 10) })
}

// CountEvents counts stored events.
func (s *Store) CountEvents(ctx context.Context) (int64, error) {
	var n int64
	err := s.read.QueryRowContext(ctx, "SELECT COUNT(*) FROM events").Scan(&n)
	return n, err
}
