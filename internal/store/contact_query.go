package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// ContactRolesTx returns the role of each of the contacts that has one.
func (s *Store) ContactRolesTx(ctx context.Context, q Querier, ids []string) (map[string]string, error) {
	ids = sortedUnique(ids)
	out := make(map[string]string, len(ids))
	err := s.eachRowIn(ctx, q, "SELECT id, role FROM contacts WHERE role <> '' AND id IN ("+idsMarker+")", nil, ids, func(r scanner) error {
		var id, role string
		err := r.Scan(&id, &role)
		out[id] = role
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read contact roles: %w", err)
	}
	return out, nil
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

// ContactsByIDTx reads contacts (id, account, traits) in q.
func (s *Store) ContactsByIDTx(ctx context.Context, q Querier, ids []string) (map[string]Contact, error) {
	out, err := mapRowsIn(ctx, s, q, "SELECT "+contactCols+" FROM contacts WHERE id IN ("+idsMarker+")", ids, scanContact,
		func(c Contact) string { return c.ID })
	if err != nil {
		return nil, fmt.Errorf("read contacts: %w", err)
	}
	return out, nil
}
