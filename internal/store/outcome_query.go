package store

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"time"
)

// AllAccounts calls fn with every account, in id order. The drivers,
// backtest and calibration reports read every account once. Decoding the
// traits (JSON) is most of the cost at 100,000 accounts, so the rows are
// read in batches while earlier batches are decoded on the other CPUs;
// fn is still called on one goroutine, in order.
func (s *Store) AllAccounts(ctx context.Context, fn func(Account) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rows, err := s.read.QueryContext(ctx, "SELECT "+accountCols+" FROM accounts ORDER BY id")
	if err != nil {
		return fmt.Errorf("read accounts: %w", err)
	}
	type batch struct {
		accounts []Account
		traits   []string
		err      error
		done     chan struct{}
	}
	const batchSize = 256
	workers := max(runtime.GOMAXPROCS(0)-1, 1)
	work := make(chan *batch, workers)
	ordered := make(chan *batch, 2*workers)
	var readErr error
	go func() {
		defer close(ordered)
		defer close(work)
		defer rows.Close()
		b := &batch{done: make(chan struct{})}
		flush := func() bool {
			select {
			case ordered <- b:
			case <-ctx.Done():
				return false
			}
			work <- b
			b = &batch{done: make(chan struct{})}
			return true
		}
		for rows.Next() {
			a, traits, err := scanAccountRaw(rows)
			if err != nil {
				readErr = err
				return
			}
			b.accounts, b.traits = append(b.accounts, a), append(b.traits, traits)
			if len(b.accounts) == batchSize && !flush() {
				return
			}
		}
		if readErr = rows.Err(); readErr == nil && len(b.accounts) > 0 {
			flush()
		}
	}()
	for range workers {
		go func() {
			for b := range work {
				for i := range b.accounts {
					if err := decodeTraits(&b.accounts[i], b.traits[i]); err != nil {
						b.err = err
						break
					}
				}
				close(b.done)
			}
		}()
	}
	for b := range ordered {
		<-b.done
		if b.err != nil {
			return b.err
		}
		for _, a := range b.accounts {
			if err := fn(a); err != nil {
				return err
			}
		}
	}
	if readErr != nil {
		return fmt.Errorf("read accounts: %w", readErr)
	}
	return ctx.Err()
}

// AccountTraits is an account as the drivers report reads it: its id,
// name, when it was last updated, and its traits as stored (a JSON
// object), left for the caller to decode.
type AccountTraits struct {
	ID, Name  string
	UpdatedAt time.Time
	Traits    string
}

// AllAccountTraits calls fn with every account's id, name, update time and
// traits as stored, in id order: the drivers report decodes only what it
// uses.
func (s *Store) AllAccountTraits(ctx context.Context, fn func(AccountTraits) error) error {
	rows, err := s.read.QueryContext(ctx, "SELECT id, name, traits, updated_at FROM accounts ORDER BY id")
	if err != nil {
		return fmt.Errorf("read accounts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			a  AccountTraits
			up int64
		)
		if err := rows.Scan(&a.ID, &a.Name, &a.Traits, &up); err != nil {
			return fmt.Errorf("read accounts: %w", err)
		}
		a.UpdatedAt = fromMicros(up)
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
	return s.AccountTraitHistoryRaw(ctx, accountIDs, func(r RawTraitChange) error {
		c := TraitChange{AccountID: r.AccountID, At: r.At}
		if err := json.Unmarshal([]byte(r.Traits), &c.Traits); err != nil {
			return nil // a group call's traits are always an object; skip what is not
		}
		return fn(c)
	})
}

// RawTraitChange is one group call with its traits as stored: JSON text.
type RawTraitChange struct {
	AccountID string
	At        time.Time
	Traits    string
}

// AccountTraitHistoryRaw is AccountTraitHistory without decoding the
// traits, for callers that read only some of them.
func (s *Store) AccountTraitHistoryRaw(ctx context.Context, accountIDs []string, fn func(RawTraitChange) error) error {
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
					c  RawTraitChange
					ts int64
				)
				if err := rows.Scan(&c.AccountID, &ts, &c.Traits); err != nil {
					return fmt.Errorf("read account trait history: %w", err)
				}
				c.At = fromMicros(ts)
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
