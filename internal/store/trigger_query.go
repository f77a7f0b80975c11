package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kinds of watched traits.
const (
	WatchValue = "value"
	WatchDate  = "date"
)

// WatchedTraitsTx returns the traits the trigger engine keeps, as
// "kind\x00trait" keys.
func (s *Store) WatchedTraitsTx(ctx context.Context, q Querier) (map[string]bool, error) {
	rows, err := q.QueryContext(ctx, "SELECT trait, kind FROM trigger_watched")
	if err != nil {
		return nil, fmt.Errorf("read watched traits: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var t, k string
		if err := rows.Scan(&t, &k); err != nil {
			return nil, err
		}
		out[k+"\x00"+t] = true
	}
	return out, rows.Err()
}

// WatchTraitTx starts keeping a trait: it records it and, when it was not
// watched yet, seeds its values from every account's traits with value
// (which returns ok=false for an account without a usable value). The
// accounts in skip are left unseeded: their traits already hold the values
// of the calls being handled, which must count as changes. It reports
// whether the trait was newly watched.
func (s *Store) WatchTraitTx(ctx context.Context, tx Querier, trait, kind string, skip map[string]bool,
	value func(traits map[string]any) (string, bool)) (bool, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO trigger_watched (trait, kind, since) VALUES ($1, $2, $3)
		ON CONFLICT (trait, kind) DO NOTHING`, trait, kind, micros(s.now()))
	if err != nil {
		return false, fmt.Errorf("watch trait %q: %w", trait, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	after := ""
	for {
		rows, err := tx.QueryContext(ctx, "SELECT id, traits FROM accounts WHERE id > $1 ORDER BY id LIMIT 1000", after)
		if err != nil {
			return false, fmt.Errorf("seed trait %q: %w", trait, err)
		}
		type kv struct{ id, v string }
		var vals []kv
		n := 0
		for rows.Next() {
			var id, raw string
			if err := rows.Scan(&id, &raw); err != nil {
				rows.Close()
				return false, err
			}
			n++
			after = id
			if skip[id] {
				continue
			}
			var traits map[string]any
			if json.Unmarshal([]byte(raw), &traits) != nil {
				continue
			}
			if v, ok := value(traits); ok {
				vals = append(vals, kv{id, v})
			}
		}
		if err := closeRows(rows); err != nil {
			return false, err
		}
		for _, x := range vals {
			if kind == WatchDate {
				err = s.SetDateTraitTx(ctx, tx, trait, x.id, x.v)
			} else {
				err = s.SetTraitValueTx(ctx, tx, x.id, trait, x.v)
			}
			if err != nil {
				return false, err
			}
		}
		if n < 1000 {
			return true, nil
		}
	}
}

// TraitValuesTx returns the last seen values of trait for accounts
// (absent: never seen).
func (s *Store) TraitValuesTx(ctx context.Context, q Querier, trait string, accounts []string) (map[string]string, error) {
	out := map[string]string{}
	err := s.eachRowIn(ctx, q, "SELECT account_id, value FROM trigger_trait_values WHERE trait = "+s.dialect.placeholders(1, 1)+
		" AND account_id IN ("+idsMarker+")", []any{trait}, accounts, func(r scanner) error {
		var a, v string
		err := r.Scan(&a, &v)
		out[a] = v
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read trait values: %w", err)
	}
	return out, nil
}

// SetTraitValueTx records the last seen value of a trait; "" removes it.
func (s *Store) SetTraitValueTx(ctx context.Context, q Querier, account, trait, value string) error {
	var err error
	if value == "" {
		_, err = q.ExecContext(ctx, "DELETE FROM trigger_trait_values WHERE account_id = $1 AND trait = $2", account, trait)
	} else {
		_, err = q.ExecContext(ctx, `INSERT INTO trigger_trait_values (account_id, trait, value) VALUES ($1, $2, $3)
			ON CONFLICT (account_id, trait) DO UPDATE SET value = excluded.value`, account, trait, value)
	}
	if err != nil {
		return fmt.Errorf("record trait value: %w", err)
	}
	return nil
}

// SetTraitValuesTx is SetTraitValueTx for several accounts of one trait
// (values by account, written in the order of accounts, each once): one
// statement for the values to remove and one per thousand to write,
// instead of one per account in a stage round.
func (s *Store) SetTraitValuesTx(ctx context.Context, q Querier, trait string, accounts []string, values map[string]string) error {
	return s.upsertKeyed(ctx, q, "record trait values", accounts, func(a string) ([]any, bool) { return []any{a, trait, values[a]}, values[a] != "" },
		"DELETE FROM trigger_trait_values WHERE trait = $1 AND account_id IN ", []any{trait},
		"INSERT INTO trigger_trait_values (account_id, trait, value) VALUES ", " ON CONFLICT (account_id, trait) DO UPDATE SET value = excluded.value")
}

// SetDateTraitsTx is SetDateTraitTx for several accounts of one trait, as
// SetTraitValuesTx.
func (s *Store) SetDateTraitsTx(ctx context.Context, q Querier, trait string, accounts []string, dates map[string]string) error {
	return s.upsertKeyed(ctx, q, "record date traits", accounts, func(a string) ([]any, bool) { return []any{trait, a, dates[a]}, dates[a] != "" },
		"DELETE FROM trigger_dates WHERE trait = $1 AND account_id IN ", []any{trait},
		"INSERT INTO trigger_dates (trait, account_id, date) VALUES ", " ON CONFLICT (trait, account_id) DO UPDATE SET date = excluded.date")
}

// SetKeyRolesTx records who holds a key role at which account, for
// several contacts (each once; a zero KeyRole removes the contact's), as
// SetTraitValuesTx.
func (s *Store) SetKeyRolesTx(ctx context.Context, q Querier, contacts []string, roles map[string]KeyRole) error {
	return s.upsertKeyed(ctx, q, "record key roles", contacts, func(c string) ([]any, bool) {
		k := roles[c]
		return []any{c, k.AccountID, k.Role}, k.Role != "" && k.AccountID != ""
	}, "DELETE FROM trigger_contact_roles WHERE contact_id IN ", nil,
		"INSERT INTO trigger_contact_roles (contact_id, account_id, role) VALUES ", " ON CONFLICT (contact_id) DO UPDATE SET account_id = excluded.account_id, role = excluded.role")
}

// upsertKeyed writes one row per key: row gives its three values and
// whether it is kept (upserted) or removed (deleted by key, after fixed).
func (s *Store) upsertKeyed(ctx context.Context, q Querier, what string, keys []string, row func(string) ([]any, bool),
	deleteSQL string, fixed []any, insertSQL, conflictSQL string) error {
	var gone []any
	var rows [][]any
	for _, k := range keys {
		if vals, keep := row(k); keep {
			rows = append(rows, vals)
		} else {
			gone = append(gone, k)
		}
	}
	if len(gone) > 0 {
		args := append(append([]any(nil), fixed...), gone...)
		if _, err := q.ExecContext(ctx, deleteSQL+"("+s.dialect.placeholders(len(fixed)+1, len(gone))+")", args...); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	for len(rows) > 0 {
		chunk := rows[:min(len(rows), 1000)]
		rows = rows[len(chunk):]
		var sb strings.Builder
		args := make([]any, 0, 3*len(chunk))
		for i, r := range chunk {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString("(" + s.dialect.placeholders(len(args)+1, 3) + ")")
			args = append(args, r...)
		}
		if _, err := q.ExecContext(ctx, insertSQL+sb.String()+conflictSQL, args...); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	return nil
}

// SetDateTraitTx records an account's date trait (YYYY-MM-DD); "" removes it.
func (s *Store) SetDateTraitTx(ctx context.Context, q Querier, trait, account, date string) error {
	var err error
	if date == "" {
		_, err = q.ExecContext(ctx, "DELETE FROM trigger_dates WHERE trait = $1 AND account_id = $2", trait, account)
	} else {
		_, err = q.ExecContext(ctx, `INSERT INTO trigger_dates (trait, account_id, date) VALUES ($1, $2, $3)
			ON CONFLICT (trait, account_id) DO UPDATE SET date = excluded.date`, trait, account, date)
	}
	if err != nil {
		return fmt.Errorf("record date trait: %w", err)
	}
	return nil
}

// DueDate is an account whose date trait falls in a window.
type DueDate struct {
	AccountID string
	Date      string
}

// DateTraitsBetween returns up to limit accounts whose date trait is in
// (from, to] (YYYY-MM-DD), ordered by (date, account), after the given
// position.
func (s *Store) DateTraitsBetween(ctx context.Context, trait, from, to string, after DueDate, limit int) ([]DueDate, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT account_id, date FROM trigger_dates
		WHERE trait = $1 AND date > $2 AND date <= $3 AND (date > $4 OR (date = $4 AND account_id > $5))
		ORDER BY date, account_id LIMIT `+fmt.Sprint(limit), trait, from, to, after.Date, after.AccountID)
	if err != nil {
		return nil, fmt.Errorf("find due dates: %w", err)
	}
	defer rows.Close()
	var out []DueDate
	for rows.Next() {
		var d DueDate
		if err := rows.Scan(&d.AccountID, &d.Date); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// DateTraitTx returns one account's date trait, "" when unknown.
func (s *Store) DateTraitTx(ctx context.Context, q Querier, trait, account string) (string, error) {
	var d string
	err := q.QueryRowContext(ctx, "SELECT date FROM trigger_dates WHERE trait = $1 AND account_id = $2", trait, account).Scan(&d)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return d, err
}

// KeyRole is a contact's remembered key role.
type KeyRole struct {
	AccountID string
	Role      string
}

// KeyRolesTx returns the remembered key roles of contacts.
func (s *Store) KeyRolesTx(ctx context.Context, q Querier, contacts []string) (map[string]KeyRole, error) {
	out := map[string]KeyRole{}
	err := s.eachRowIn(ctx, q, "SELECT contact_id, account_id, role FROM trigger_contact_roles WHERE contact_id IN ("+idsMarker+")", nil, contacts,
		func(r scanner) error {
			var c string
			var k KeyRole
			err := r.Scan(&c, &k.AccountID, &k.Role)
			out[c] = k
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("read key roles: %w", err)
	}
	return out, nil
}

// RuleWatermark returns the time through which a scheduled rule was
// evaluated; ok is false for a rule never evaluated.
func (s *Store) RuleWatermark(ctx context.Context, rule string) (t time.Time, ok bool, err error) {
	var v int64
	err = s.read.QueryRowContext(ctx, "SELECT through FROM trigger_watermarks WHERE rule = $1", rule).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read watermark: %w", err)
	}
	return fromMicros(v), true, nil
}

// AdvanceRuleWatermarkTx moves a rule's watermark forward to t (never back).
func (s *Store) AdvanceRuleWatermarkTx(ctx context.Context, q Querier, rule string, t time.Time) error {
	_, err := q.ExecContext(ctx, `INSERT INTO trigger_watermarks (rule, through) VALUES ($1, $2)
		ON CONFLICT (rule) DO UPDATE SET through = CASE WHEN excluded.through > trigger_watermarks.through
		THEN excluded.through ELSE trigger_watermarks.through END`, rule, micros(t))
	if err != nil {
		return fmt.Errorf("advance watermark: %w", err)
	}
	return nil
}

// SignalStateTx returns an account's recorded state of a derived signal.
func (s *Store) SignalStateTx(ctx context.Context, q Querier, account, signal string) (state string, since time.Time, err error) {
	var v int64
	err = q.QueryRowContext(ctx, "SELECT state, since FROM trigger_signals WHERE account_id = $1 AND signal = $2", account, signal).Scan(&state, &v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, nil
	}
	return state, fromMicros(v), err
}

// SetSignalStateTx records the state of a derived signal.
func (s *Store) SetSignalStateTx(ctx context.Context, q Querier, account, signal, state string, since time.Time) error {
	_, err := q.ExecContext(ctx, `INSERT INTO trigger_signals (account_id, signal, state, since) VALUES ($1, $2, $3, $4)
		ON CONFLICT (account_id, signal) DO UPDATE SET state = excluded.state, since = excluded.since`,
		account, signal, state, micros(since))
	if err != nil {
		return fmt.Errorf("record signal: %w", err)
	}
	return nil
}

// AccountRule is a personal rule a CSM attached to one account.
type AccountRule struct {
	ID         string    `json:"id"`
	AccountID  string    `json:"account_id"`
	MomentID   string    `json:"moment"`
	Events     []string  `json:"events,omitempty"`
	When       string    `json:"when,omitempty"`
	RelativeTo string    `json:"relative_to,omitempty"`
	Offset     string    `json:"offset,omitempty"`
	Every      string    `json:"every,omitempty"`
	Note       string    `json:"note,omitempty"`
	CreatedBy  string    `json:"created_by,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

const ruleCols = "id, account_id, moment_id, events, when_expr, relative_to, offset_text, every, note, created_by, created_at"

func scanRule(r scanner) (AccountRule, error) {
	var (
		a      AccountRule
		events string
		at     int64
	)
	if err := r.Scan(&a.ID, &a.AccountID, &a.MomentID, &events, &a.When, &a.RelativeTo, &a.Offset, &a.Every,
		&a.Note, &a.CreatedBy, &at); err != nil {
		return a, err
	}
	_ = json.Unmarshal([]byte(events), &a.Events)
	a.CreatedAt = fromMicros(at)
	return a, nil
}

// CreateAccountRule stores a personal rule.
func (s *Store) CreateAccountRule(ctx context.Context, r AccountRule) error {
	events, _ := json.Marshal(r.Events)
	if r.Events == nil {
		events = []byte("[]")
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := tx.ExecContext(ctx, "INSERT INTO trigger_account_rules ("+ruleCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
		r.ID, r.AccountID, r.MomentID, string(events), r.When, r.RelativeTo, r.Offset, r.Every, r.Note, r.CreatedBy,
		micros(r.CreatedAt)); err != nil {
		return fmt.Errorf("save rule: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE trigger_meta SET value = value + 1 WHERE name = 'rules_version'"); err != nil {
		return err
	}
	return tx.Commit()
}

// DeleteAccountRule removes a personal rule; ErrNotFound when it does not exist.
func (s *Store) DeleteAccountRule(ctx context.Context, account, id string) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	res, err := tx.ExecContext(ctx, "DELETE FROM trigger_account_rules WHERE account_id = $1 AND id = $2", account, id)
	if err != nil {
		return fmt.Errorf("delete rule: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	if _, err := tx.ExecContext(ctx, "UPDATE trigger_meta SET value = value + 1 WHERE name = 'rules_version'"); err != nil {
		return err
	}
	return tx.Commit()
}

// AccountRules lists the personal rules of one account, or of every
// account when account is "".
func (s *Store) AccountRules(ctx context.Context, account string) ([]AccountRule, error) {
	q, args := "SELECT "+ruleCols+" FROM trigger_account_rules ORDER BY account_id, id", []any{}
	if account != "" {
		q, args = "SELECT "+ruleCols+" FROM trigger_account_rules WHERE account_id = $1 ORDER BY id", []any{account}
	}
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	defer rows.Close()
	var out []AccountRule
	return appendRows(out, rows, scanRule)
}

// AccountRulesVersion changes whenever a personal rule is added or removed.
func (s *Store) AccountRulesVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.read.QueryRowContext(ctx, "SELECT value FROM trigger_meta WHERE name = 'rules_version'").Scan(&v)
	return v, err
}

// Broadcast is a vendor broadcast of a moment to a segment of accounts.
type Broadcast struct {
	ID             string     `json:"id"`
	IdempotencyKey string     `json:"-"`
	MomentID       string     `json:"moment"`
	Segment        string     `json:"segment"`
	MapVersion     int        `json:"map_version"`
	StartedBy      string     `json:"started_by,omitempty"`
	Status         string     `json:"status"`
	Cursor         string     `json:"-"`
	Matched        int        `json:"matched"`
	Reached        int        `json:"reached"`
	CreatedAt      time.Time  `json:"created_at"`
	FinishedAt     *time.Time `json:"finished_at"`
}

const broadcastCols = "id, idempotency_key, moment_id, segment, map_version, started_by, status, cursor, matched, reached, created_at, finished_at"

func scanBroadcast(r scanner) (Broadcast, error) {
	var (
		b        Broadcast
		at       int64
		finished sql.NullInt64
	)
	err := r.Scan(&b.ID, &b.IdempotencyKey, &b.MomentID, &b.Segment, &b.MapVersion, &b.StartedBy, &b.Status, &b.Cursor,
		&b.Matched, &b.Reached, &at, &finished)
	b.CreatedAt, b.FinishedAt = fromMicros(at), timePtr(finished)
	return b, err
}

// CreateBroadcast stores b unless a broadcast with its idempotency key
// exists, in which case it returns that one and false.
func (s *Store) CreateBroadcast(ctx context.Context, b Broadcast) (Broadcast, bool, error) {
	res, err := s.write.ExecContext(ctx, "INSERT INTO trigger_broadcasts ("+broadcastCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (idempotency_key) DO NOTHING`, b.ID, b.IdempotencyKey, b.MomentID, b.Segment, b.MapVersion, b.StartedBy,
		b.Status, b.Cursor, b.Matched, b.Reached, micros(b.CreatedAt), sql.NullInt64{})
	if err != nil {
		return b, false, fmt.Errorf("save broadcast: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return b, true, nil
	}
	existing, err := scanBroadcast(s.write.QueryRowContext(ctx, "SELECT "+broadcastCols+" FROM trigger_broadcasts WHERE idempotency_key = $1", b.IdempotencyKey))
	if err != nil {
		return b, false, fmt.Errorf("read broadcast: %w", err)
	}
	return existing, false, nil
}

// BroadcastTx returns one broadcast.
func (s *Store) BroadcastTx(ctx context.Context, q Querier, id string) (Broadcast, error) {
	if q == nil {
		q = s.read
	}
	b, err := scanBroadcast(q.QueryRowContext(ctx, "SELECT "+broadcastCols+" FROM trigger_broadcasts WHERE id = $1", id))
	if errors.Is(err, sql.ErrNoRows) {
		return b, ErrNotFound
	}
	return b, err
}

// LockBroadcastTx reads a broadcast in tx, locking its row on PostgreSQL so
// that server processes working on the same broadcast take turns chunk by
// chunk (SQLite's write transaction is lock enough).
func (s *Store) LockBroadcastTx(ctx context.Context, tx Querier, id string) (Broadcast, error) {
	q := "SELECT " + broadcastCols + " FROM trigger_broadcasts WHERE id = $1" + s.dialect.forUpdate()
	b, err := scanBroadcast(tx.QueryRowContext(ctx, q, id))
	if errors.Is(err, sql.ErrNoRows) {
		return b, ErrNotFound
	}
	return b, err
}

// UnfinishedBroadcasts lists broadcasts still running.
func (s *Store) UnfinishedBroadcasts(ctx context.Context) ([]Broadcast, error) {
	rows, err := s.read.QueryContext(ctx, "SELECT "+broadcastCols+" FROM trigger_broadcasts WHERE status = 'running' ORDER BY created_at LIMIT 100")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Broadcast
	return appendRows(out, rows, scanBroadcast)
}

// BroadcastChunk is one handled chunk of a broadcast: the cursor moves
// From → To, Matched accounts met the condition and Reached were started;
// Done marks the last chunk.
type BroadcastChunk struct {
	ID, From, To     string
	Matched, Reached int
	Done             bool
}

// AdvanceBroadcastTx records one handled chunk: it moves the cursor from
// `from` to `to` and adds the counts, only if the cursor is still at
// `from`; ok is false when another process handled the chunk first (the
// caller rolls back). done marks the broadcast finished.
func (s *Store) AdvanceBroadcastTx(ctx context.Context, tx Querier, c BroadcastChunk) (bool, error) {
	id, from, to, matched, reached := c.ID, c.From, c.To, c.Matched, c.Reached
	status, finished := "running", sql.NullInt64{}
	if c.Done {
		status, finished = "done", sql.NullInt64{Int64: micros(s.now()), Valid: true}
	}
	res, err := tx.ExecContext(ctx, `UPDATE trigger_broadcasts SET cursor = $1, matched = matched + $2, reached = reached + $3,
		status = $4, finished_at = $5 WHERE id = $6 AND cursor = $7 AND status = 'running'`, to, matched, reached, status, finished, id, from)
	if err != nil {
		return false, fmt.Errorf("advance broadcast: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// UsageDropsWithoutEpisode lists up to limit accounts that the health tracker flags
// with a usage drop and that have no recorded usage_drop episode yet.
func (s *Store) UsageDropsWithoutEpisode(ctx context.Context, limit int) ([]string, error) {
	out, err := queryStrings(ctx, s.read, `SELECT h.account_id FROM account_health h
		LEFT JOIN trigger_signals t ON t.account_id = h.account_id AND t.signal = 'usage_drop'
		WHERE h.usage_drop = 1 AND h.version > 0 AND t.account_id IS NULL ORDER BY h.account_id LIMIT `+fmt.Sprint(limit))
	if err != nil {
		return nil, fmt.Errorf("find usage drops: %w", err)
	}
	return out, nil
}

// EndUsageDropEpisodes forgets the usage_drop episodes of accounts whose
// usage recovered, so that their next drop is a new episode.
func (s *Store) EndUsageDropEpisodes(ctx context.Context) error {
	_, err := s.write.ExecContext(ctx, `DELETE FROM trigger_signals WHERE signal = 'usage_drop' AND NOT EXISTS
		(SELECT 1 FROM account_health h WHERE h.account_id = trigger_signals.account_id AND h.usage_drop = 1)`)
	if err != nil {
		return fmt.Errorf("end usage drop episodes: %w", err)
	}
	return nil
}

// QuadrantMove is an account whose health quadrant the current write moved.
type QuadrantMove struct {
	AccountID string
	From, To  string
	Version   int64
}

// QuadrantMovesTx returns, among accounts, those whose stored health was
// moved to another quadrant by the write that produced it (see
// AccountHealth.QuadrantMoved): read in the ingestion transaction after
// the health hook, the moves this batch caused. One query per 500 accounts.
func (s *Store) QuadrantMovesTx(ctx context.Context, tx Querier, accounts []string) ([]QuadrantMove, error) {
	var out []QuadrantMove
	err := s.eachRowIn(ctx, tx, `SELECT account_id, previous_quadrant, quadrant, version FROM account_health
		WHERE version > 0 AND quadrant_version = version AND previous_quadrant <> '' AND account_id IN (`+idsMarker+")", nil, accounts,
		func(r scanner) error {
			var m QuadrantMove
			err := r.Scan(&m.AccountID, &m.From, &m.To, &m.Version)
			out = append(out, m)
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("read quadrant moves: %w", err)
	}
	return out, nil
}
