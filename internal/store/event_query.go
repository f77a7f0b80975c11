package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

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
	var w where
	if f.User != "" && f.Account == "" {
		// Events are indexed by account, not by user (an index on random
		// user ids would cost a page write per event): a contact's events
		// are found under their account, or among the events of no account.
		var acct sql.NullString
		err := s.read.QueryRowContext(ctx, "SELECT account_id FROM contacts WHERE id = $1", f.User).Scan(&acct)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, "", fmt.Errorf("list events: %w", err)
		}
		acctID := w.arg(acct.String)
		w.conds = append(w.conds, s.dialect.byAccount("account_id = "+acctID))
	} else if f.Account != "" {
		acctID := w.arg(f.Account)
		w.conds = append(w.conds, s.dialect.byAccount("account_id = "+acctID))
	}
	w.eq("user_id", f.User)
	w.eq("name", f.Name)
	w.eq("type", f.Type)
	if p.Cursor != "" {
		id, err := strconv.ParseInt(p.Cursor, 10, 64)
		if err != nil {
			return nil, "", ErrBadCursor
		}
		w.add("id < ?", id)
	}
	return queryPage(ctx, s.read, "events", "SELECT "+eventCols+" FROM events", w, "id DESC", p, scanEvent,
		func(e Event) string { return strconv.FormatInt(e.ID, 10) })
}

// CountEvents counts stored events.
func (s *Store) CountEvents(ctx context.Context) (int64, error) {
	var n int64
	err := s.read.QueryRowContext(ctx, "SELECT COUNT(*) FROM events").Scan(&n)
	return n, err
}

// LatestEventSinceTx returns the id of the account's latest event named name
// received at or after since, or 0 when there is none.
func (s *Store) LatestEventSinceTx(ctx context.Context, q Querier, accountID, name string, since time.Time) (int64, error) {
	var id sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT MAX(id) FROM events WHERE `+s.dialect.byAccount("account_id = $1")+` AND name = $2 AND received_at >= $3`,
		accountID, name, micros(since)).Scan(&id)
	return id.Int64, err
}

// Event returns one stored event.
func (s *Store) Event(ctx context.Context, id int64) (Event, error) {
	e, err := scanEvent(s.read.QueryRowContext(ctx, "SELECT "+eventCols+" FROM events WHERE id = $1", id))
	if errors.Is(err, sql.ErrNoRows) {
		return e, ErrNotFound
	}
	return e, err
}
