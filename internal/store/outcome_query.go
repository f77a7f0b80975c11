package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// AllAccounts calls fn with every account, in id order. The drivers,
// backtest and calibration reports read every account once.
func (s *Store) AllAccounts(ctx context.Context, fn func(Account) error) error {
	rows, err := s.read.QueryContext(ctx, "SELECT "+accountCols+" FROM accounts ORDER BY id")
	if err != nil {
		return fmt.Errorf("read accounts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return err
		}
		if err := fn(a); err != nil {
			return err
		}
	}
	return rows.Err()
}

// TraitChange is one group call: the traits it set on an account, and
// when.
type TraitChange struct {
	AccountID string
	At        time.Time
	Traits    map[string]any
}

// AccountTraitHistory calls fn with every group call of the accounts, by
// account (in id order) and in time order within each, so that a caller
// can replay how the traits changed and find when a condition first held.
func (s *Store) AccountTraitHistory(ctx context.Context, accountIDs []string, fn func(TraitChange) error) error {
	ids := sortedUnique(accountIDs)
	for start := 0; start < len(ids); start += keyChunk {
		chunk := ids[start:min(start+keyChunk, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := s.read.QueryContext(ctx, `SELECT account_id, timestamp, properties FROM events
			WHERE account_id IN (`+s.dialect.placeholders(1, len(chunk))+`) AND type = 'group'
			ORDER BY account_id, timestamp, id`, args...)
		if err != nil {
			return fmt.Errorf("read account trait history: %w", err)
		}
		err = func() error {
			defer rows.Close()
			for rows.Next() {
				var (
					c     TraitChange
					ts    int64
					props string
				)
				if err := rows.Scan(&c.AccountID, &ts, &props); err != nil {
					return fmt.Errorf("read account trait history: %w", err)
				}
				c.At = fromMicros(ts)
				if err := json.Unmarshal([]byte(props), &c.Traits); err != nil {
					continue // a group call's traits are always an object; skip what is not
				}
				if err := fn(c); err != nil {
					return err
				}
			}
			return rows.Err()
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

// BehaviourCount is how many events of one name an account sent in a
// window.
type BehaviourCount struct {
	AccountID string
	Name      string
	Count     int
}

// BehaviourCounts returns, for the accounts given (every account when ids
// is nil), how many track, page and screen events of each name each sent
// from from (inclusive) to to (exclusive).
func (s *Store) BehaviourCounts(ctx context.Context, ids []string, from, to time.Time) ([]BehaviourCount, error) {
	var out []BehaviourCount
	run := func(where string, args ...any) error {
		rows, err := s.read.QueryContext(ctx, `SELECT account_id, name, COUNT(*) FROM events
			WHERE account_id <> '' AND type IN ('track', 'page', 'screen') AND timestamp >= `+s.dialect.placeholders(1, 1)+
			` AND timestamp < `+s.dialect.placeholders(2, 1)+where+`
			GROUP BY account_id, name`, args...)
		if err != nil {
			return fmt.Errorf("count behaviours: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var b BehaviourCount
			if err := rows.Scan(&b.AccountID, &b.Name, &b.Count); err != nil {
				return fmt.Errorf("count behaviours: %w", err)
			}
			out = append(out, b)
		}
		return rows.Err()
	}
	if ids == nil {
		return out, run("", micros(from), micros(to))
	}
	list := sortedUnique(ids)
	for start := 0; start < len(list); start += keyChunk {
		chunk := list[start:min(start+keyChunk, len(list))]
		args := []any{micros(from), micros(to)}
		for _, id := range chunk {
			args = append(args, id)
		}
		if err := run(" AND account_id IN ("+s.dialect.placeholders(3, len(chunk))+")", args...); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// BehaviourWindow is one account's window of behaviour: from (inclusive)
// to to (exclusive).
type BehaviourWindow struct {
	AccountID string
	From, To  time.Time
}

// windowChunk is the accounts per BehaviourCountsWithin statement (three
// parameters each).
const windowChunk = 300

// BehaviourCountsWithin is BehaviourCounts with a window of its own for
// each account: one statement per few hundred accounts rather than one
// per account (the drivers report measures every positive before its own
// outcome).
func (s *Store) BehaviourCountsWithin(ctx context.Context, windows []BehaviourWindow) ([]BehaviourCount, error) {
	var out []BehaviourCount
	args := make([]any, 0, 3*windowChunk)
	for start := 0; start < len(windows); start += windowChunk {
		chunk := windows[start:min(start+windowChunk, len(windows))]
		args = args[:0]
		var q strings.Builder
		q.WriteString("WITH w(a, f, t) AS (VALUES ")
		for i, w := range chunk {
			if i > 0 {
				q.WriteByte(',')
			}
			fmt.Fprintf(&q, "(CAST($%d AS TEXT), CAST($%d AS BIGINT), CAST($%d AS BIGINT))", 3*i+1, 3*i+2, 3*i+3)
			args = append(args, w.AccountID, micros(w.From), micros(w.To))
		}
		q.WriteString(`) SELECT e.account_id, e.name, COUNT(*) FROM w JOIN events e ON e.account_id = w.a
			AND e.timestamp >= w.f AND e.timestamp < w.t
			WHERE e.type IN ('track', 'page', 'screen') GROUP BY e.account_id, e.name`)
		rows, err := s.read.QueryContext(ctx, q.String(), args...)
		if err != nil {
			return nil, fmt.Errorf("count behaviours: %w", err)
		}
		for rows.Next() {
			var b BehaviourCount
			if err := rows.Scan(&b.AccountID, &b.Name, &b.Count); err != nil {
				rows.Close()
				return nil, fmt.Errorf("count behaviours: %w", err)
			}
			out = append(out, b)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("count behaviours: %w", err)
		}
	}
	return out, nil
}
