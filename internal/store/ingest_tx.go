package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// resolveAccounts gives every event without context.groupId the account of
// its contact: linked earlier in this batch, or already stored.
func (b *ingestBatch) resolveAccounts(ctx context.Context) error {
	var missing []string
	asked := map[string]bool{}
	for i := range b.rows {
		e := &b.rows[i]
		if e.AccountID != "" || e.UserID == "" {
			continue
		}
		if c, ok := b.contacts[e.UserID]; ok && c.accountID != "" {
			e.AccountID = c.accountID
			continue
		}
		if !asked[e.UserID] {
			asked[e.UserID] = true
			missing = append(missing, e.UserID)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	found := map[string]string{}
	err := b.s.eachRowIn(ctx, b.tx, "SELECT id, account_id FROM contacts WHERE account_id IS NOT NULL AND id IN ("+idsMarker+")", nil, missing,
		func(r scanner) error {
			var id, acct string
			err := r.Scan(&id, &acct)
			found[id] = acct
			return err
		})
	if err != nil {
		return fmt.Errorf("look up contacts' accounts: %w", err)
	}
	for i := range b.rows {
		e := &b.rows[i]
		if e.AccountID == "" && e.UserID != "" {
			if acct, ok := found[e.UserID]; ok {
				e.AccountID = acct
				a := b.account(acct)
				a.lastSeen = later(a.lastSeen, e.Timestamp)
			}
		}
	}
	return nil
}

// mergeTraits applies Segment's rule: top-level traits in a later call
// replace earlier ones, traits not mentioned are kept, and a null removes
// a trait.
func mergeTraits(dst map[string]any, patches []map[string]any) map[string]any {
	if dst == nil {
		dst = map[string]any{}
	}
	for _, p := range patches {
		for k, v := range p {
			if v == nil {
				delete(dst, k)
				continue
			}
			dst[k] = v
		}
	}
	return dst
}

// touch records activity of accounts or contacts that the batch changed in
// no other way, in multi-row upserts: most of a batch is track calls, and a
// read-merge-write per row would cost more than the events themselves.
func (b *ingestBatch) touch(ctx context.Context, table string, ids []string, patches map[string]*patch) error {
	if b.seenWritten == nil {
		b.seenWritten = map[string]int64{}
	}
	// Skip rows whose committed last_seen_at is recent enough.
	due := ids[:0:0]
	b.w.mu.Lock()
	for _, id := range ids {
		at := micros(patches[id].lastSeen)
		if prev, ok := b.w.seen[table+"\x00"+id]; ok && at-prev < seenPrecision.Microseconds() {
			continue
		}
		due = append(due, id)
	}
	b.w.mu.Unlock()
	sort.Strings(due) // a stable lock order, so concurrent PostgreSQL writers cannot deadlock
	now := micros(b.now)
	if !b.s.dialect.embedded() {
		return b.touchSkippingLocked(ctx, table, due, patches)
	}
	for start := 0; start < len(due); start += touchChunk {
		end := min(start+touchChunk, len(due))
		args := make([]any, 0, 4*(end-start))
		for _, id := range due[start:end] {
			args = append(args, id, now, now, nullMicros(patches[id].lastSeen))
		}
		if _, err := b.exec(ctx, b.s.touchSQL(table, end-start), args...); err != nil {
			return fmt.Errorf("record activity of %s: %w", table, err)
		}
	}
	b.noteSeen(table, due, patches)
	return nil
}

// noteSeen records the last_seen_at written for ids, for the writer's
// cache once the transaction commits.
func (b *ingestBatch) noteSeen(table string, ids []string, patches map[string]*patch) {
	for _, id := range ids {
		b.seenWritten[table+"\x00"+id] = micros(patches[id].lastSeen)
	}
}

// touchSkippingLocked is touch on PostgreSQL. A row that another
// transaction holds (a batch of another committer or server touching the
// same account or contact, or changing it) is passed over rather than
// waited for: waiting held this transaction's own row locks through the
// other's COPY and commit, and with several servers, each with its own
// cache of what it wrote (seen), their transactions queued behind each
// other on those rows (docs/benchmarks.md, branch pgscale). A row passed
// over is owed: the server's next transactions touch it again, among their
// own rows, until it is written (writer.owed). Rows not yet stored are
// created as before.
func (b *ingestBatch) touchSkippingLocked(ctx context.Context, table string, due []string, patches map[string]*patch) error {
	type touchRow struct {
		seen   *int64
		create bool
	}
	rows := make(map[string]touchRow, len(due))
	for _, id := range due {
		r := touchRow{create: true}
		if t := patches[id].lastSeen; !t.IsZero() {
			us := micros(t)
			r.seen = &us
		}
		rows[id] = r
	}
	b.w.mu.Lock()
	for k, at := range b.w.owed {
		id, ok := strings.CutPrefix(k, table+"\x00")
		if !ok {
			continue
		}
		r, ok := rows[id]
		if !ok {
			due = append(due, id)
		}
		if r.seen == nil || *r.seen < at {
			r.seen = &at
		}
		rows[id] = r
	}
	b.w.mu.Unlock()
	if len(due) == 0 {
		return nil
	}
	sort.Strings(due)
	now := micros(b.now)
	ids, created, seen, create := make([]string, len(due)), make([]int64, len(due)), make([]*int64, len(due)), make([]bool, len(due))
	for i, id := range due {
		ids[i], created[i], seen[i], create[i] = id, now, rows[id].seen, rows[id].create
	}
	res, err := b.query(ctx, pgTouchSQL(table), ids, created, created, seen, create)
	if err != nil {
		return fmt.Errorf("record activity of %s: %w", table, err)
	}
	written := make(map[string]bool, len(due))
	for res.Next() {
		var id string
		if err := res.Scan(&id); err != nil {
			res.Close()
			return fmt.Errorf("record activity of %s: %w", table, err)
		}
		written[id] = true
	}
	if err := closeRows(res); err != nil {
		return fmt.Errorf("record activity of %s: %w", table, err)
	}
	if b.owed == nil {
		b.owed = map[string]int64{}
	}
	for _, id := range due {
		k := table + "\x00" + id
		switch r := rows[id]; {
		case written[id] && r.seen != nil:
			b.seenWritten[k] = *r.seen
		case written[id]:
			b.seenWritten[k] = 0
		case r.seen != nil:
			b.owed[k] = *r.seen
		}
	}
	return nil
}

func (b *ingestBatch) flushAccounts(ctx context.Context) error {
	var touched, changed []string
	for _, id := range b.order {
		if len(b.accounts[id].traits) == 0 {
			touched = append(touched, id)
		} else {
			changed = append(changed, id)
		}
	}
	if err := b.touch(ctx, "accounts", touched, b.accounts); err != nil {
		return err
	}
	sort.Strings(changed)
	type stored struct {
		traits   string
		created  int64
		lastSeen sql.NullInt64
	}
	existing := make(map[string]stored, len(changed))
	err := b.s.eachRowIn(ctx, b.tx, "SELECT id, traits, created_at, last_seen_at FROM accounts WHERE id IN ("+idsMarker+") ORDER BY id"+
		b.s.dialect.forUpdate(), nil, changed, func(r scanner) error {
		var (
			id string
			st stored
		)
		err := r.Scan(&id, &st.traits, &st.created, &st.lastSeen)
		existing[id] = st
		return err
	})
	if err != nil {
		return fmt.Errorf("read accounts: %w", err)
	}
	var w accountWrites
	for _, id := range changed {
		p := b.accounts[id]
		old, exists := existing[id]
		created, lastSeen := old.created, old.lastSeen
		if !exists {
			created = micros(b.now)
		}
		traits := map[string]any{}
		if exists {
			if err := json.Unmarshal([]byte(old.traits), &traits); err != nil {
				return fmt.Errorf("account %q has unreadable traits: %w", id, err)
			}
		}
		traits = mergeTraits(traits, p.traits)
		a := accountColumns(traits)
		tj, err := json.Marshal(traits)
		if err != nil {
			return err
		}
		seen := lastSeen
		if !p.lastSeen.IsZero() && (!seen.Valid || micros(p.lastSeen) > seen.Int64) {
			seen = sql.NullInt64{Int64: micros(p.lastSeen), Valid: true}
		}
		w.add(id, a, string(tj), created, micros(b.now), seen)
	}
	return b.writeAccounts(ctx, &w)
}

// accountWrites are the accounts rows a batch writes, by column.
type accountWrites struct {
	ids, names, plans, segments, owners, stages, renewals, traits []string
	arrs                                                          []float64
	created, updated                                              []int64
	seen                                                          []*int64
}

func (w *accountWrites) add(id string, a Account, traits string, created, updated int64, seen sql.NullInt64) {
	w.ids, w.names, w.plans, w.segments = append(w.ids, id), append(w.names, a.Name), append(w.plans, a.Plan), append(w.segments, a.Segment)
	w.owners, w.stages, w.renewals = append(w.owners, a.Owner), append(w.stages, a.LifecycleStage), append(w.renewals, a.RenewalDate)
	w.traits, w.arrs = append(w.traits, traits), append(w.arrs, a.ARR)
	w.created, w.updated, w.seen = append(w.created, created), append(w.updated, updated), append(w.seen, nullPtr(seen))
}

func nullPtr(v sql.NullInt64) *int64 {
	if !v.Valid {
		return nil
	}
	return &v.Int64
}

const accountsUpsert = ` ON CONFLICT (id) DO UPDATE SET name = excluded.name, plan = excluded.plan, segment = excluded.segment,
	owner = excluded.owner, lifecycle_stage = excluded.lifecycle_stage, arr = excluded.arr,
	renewal_date = excluded.renewal_date, traits = excluded.traits, updated_at = excluded.updated_at,
	last_seen_at = excluded.last_seen_at`

// writeAccounts upserts the accounts: in one statement of column arrays on
// PostgreSQL (a round trip per account made a batch of identify and group
// calls slow there), a statement per account on SQLite.
func (b *ingestBatch) writeAccounts(ctx context.Context, w *accountWrites) error {
	if len(w.ids) == 0 {
		return nil
	}
	if !b.s.dialect.embedded() {
		_, err := b.tx.ExecContext(ctx, `INSERT INTO accounts
			(id, name, plan, segment, owner, lifecycle_stage, arr, renewal_date, traits, created_at, updated_at, last_seen_at)
			SELECT i, n, p, s, o, l, a, r, t::jsonb, c, u, ls FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
				$6::text[], $7::float8[], $8::text[], $9::text[], $10::bigint[], $11::bigint[], $12::bigint[]) AS x(i, n, p, s, o, l, a, r, t, c, u, ls)`+
			accountsUpsert, w.ids, w.names, w.plans, w.segments, w.owners, w.stages, w.arrs, w.renewals, w.traits, w.created, w.updated, w.seen)
		if err != nil {
			return fmt.Errorf("write accounts: %w", err)
		}
		return nil
	}
	for i, id := range w.ids {
		_, err := b.tx.ExecContext(ctx, `INSERT INTO accounts
			(id, name, plan, segment, owner, lifecycle_stage, arr, renewal_date, traits, created_at, updated_at, last_seen_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`+accountsUpsert,
			id, w.names[i], w.plans[i], w.segments[i], w.owners[i], w.stages[i], w.arrs[i], w.renewals[i], w.traits[i],
			w.created[i], w.updated[i], w.seen[i])
		if err != nil {
			return fmt.Errorf("write account %q: %w", id, err)
		}
	}
	return nil
}

// accountColumns promotes the traits that lists filter and sort on.
func accountColumns(t map[string]any) Account {
	return Account{
		Name:           traitString(t, "name"),
		Plan:           traitString(t, "plan"),
		Segment:        traitString(t, "segment"),
		Owner:          traitString(t, "owner"),
		LifecycleStage: traitString(t, "lifecycle_stage"),
		ARR:            traitNumber(t, "arr"),
		RenewalDate:    traitDate(t, "renewal_date"),
	}
}

func traitString(t map[string]any, k string) string {
	switch v := t[k].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

func traitNumber(t map[string]any, k string) float64 {
	switch v := t[k].(type) {
	case float64:
		return v
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err == nil {
			return f
		}
	}
	return 0
}

// traitDate normalises a date trait to YYYY-MM-DD (so it sorts and compares
// as text); a value that is not a date is left out of the column but kept in
// the traits.
func traitDate(t map[string]any, k string) string {
	s, ok := t[k].(string)
	if !ok {
		return ""
	}
	if d, ok := ParseDate(s); ok {
		return d.Format(time.DateOnly)
	}
	return ""
}

// ParseDate reads a date trait: YYYY-MM-DD or an RFC 3339 time.
func ParseDate(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		return d, true
	}
	if d, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return d.UTC(), true
	}
	return time.Time{}, false
}

func (b *ingestBatch) flushContacts(ctx context.Context) error {
	var touched, changed []string
	for _, id := range b.corder {
		if p := b.contacts[id]; len(p.traits) == 0 && p.accountID == "" {
			touched = append(touched, id)
		} else {
			changed = append(changed, id)
		}
	}
	if err := b.touch(ctx, "contacts", touched, b.contacts); err != nil {
		return err
	}
	sort.Strings(changed)
	type stored struct {
		traits   string
		created  int64
		acct     sql.NullString
		lastSeen sql.NullInt64
	}
	existing := make(map[string]stored, len(changed))
	err := b.s.eachRowIn(ctx, b.tx, "SELECT id, traits, created_at, account_id, last_seen_at FROM contacts WHERE id IN ("+idsMarker+") ORDER BY id"+
		b.s.dialect.forUpdate(), nil, changed, func(r scanner) error {
		var (
			id string
			st stored
		)
		err := r.Scan(&id, &st.traits, &st.created, &st.acct, &st.lastSeen)
		existing[id] = st
		return err
	})
	if err != nil {
		return fmt.Errorf("read contacts: %w", err)
	}
	var w contactWrites
	var links []link
	for _, id := range changed {
		p := b.contacts[id]
		old, exists := existing[id]
		created, acct, lastSeen := old.created, old.acct, old.lastSeen
		if !exists {
			created = micros(b.now)
		}
		traits := map[string]any{}
		if exists {
			if err := json.Unmarshal([]byte(old.traits), &traits); err != nil {
				return fmt.Errorf("contact %q has unreadable traits: %w", id, err)
			}
		}
		traits = mergeTraits(traits, p.traits)
		if p.accountID != "" {
			if !acct.Valid || acct.String == "" {
				// Events can arrive before the call that links their contact
				// to an account (SDKs send batches concurrently); once the
				// link arrives, the contact's events without an account join
				// it.
				links = append(links, link{contact: id, account: p.accountID})
			}
			acct = sql.NullString{String: p.accountID, Valid: true}
			// The account must exist for the contact to be listed under it.
			if _, ok := b.accounts[p.accountID]; !ok {
				if err := b.ensureAccount(ctx, p.accountID); err != nil {
					return err
				}
			}
		}
		tj, err := json.Marshal(traits)
		if err != nil {
			return err
		}
		seen := lastSeen
		if !p.lastSeen.IsZero() && (!seen.Valid || micros(p.lastSeen) > seen.Int64) {
			seen = sql.NullInt64{Int64: micros(p.lastSeen), Valid: true}
		}
		w.ids, w.emails, w.roles, w.traits = append(w.ids, id), append(w.emails, traitString(traits, "email")),
			append(w.roles, traitString(traits, "role")), append(w.traits, string(tj))
		var a *string
		if acct.Valid {
			a = &acct.String
		}
		w.accts, w.created, w.seen = append(w.accts, a), append(w.created, created), append(w.seen, nullPtr(seen))
	}
	if err := b.reattribute(ctx, links); err != nil {
		return err
	}
	return b.writeContacts(ctx, &w)
}

// link is a contact linked to an account for the first time.
type link struct{ contact, account string }

// contactWrites are the contacts rows a batch writes, by column.
type contactWrites struct {
	ids, emails, roles, traits []string
	accts                      []*string
	created                    []int64
	seen                       []*int64
}

const contactsUpsert = ` ON CONFLICT (id) DO UPDATE SET account_id = excluded.account_id, email = excluded.email,
	role = excluded.role, traits = excluded.traits, updated_at = excluded.updated_at,
	last_seen_at = excluded.last_seen_at`

// writeContacts is writeAccounts for contacts.
func (b *ingestBatch) writeContacts(ctx context.Context, w *contactWrites) error {
	if len(w.ids) == 0 {
		return nil
	}
	now := micros(b.now)
	if !b.s.dialect.embedded() {
		_, err := b.tx.ExecContext(ctx, `INSERT INTO contacts (id, account_id, email, role, traits, created_at, updated_at, last_seen_at)
			SELECT i, a, e, r, t::jsonb, c, $7, ls FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $8::bigint[])
				AS x(i, a, e, r, t, c, ls)`+contactsUpsert,
			w.ids, w.accts, w.emails, w.roles, w.traits, w.created, now, w.seen)
		if err != nil {
			return fmt.Errorf("write contacts: %w", err)
		}
		return nil
	}
	for i, id := range w.ids {
		_, err := b.tx.ExecContext(ctx, `INSERT INTO contacts
			(id, account_id, email, role, traits, created_at, updated_at, last_seen_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`+contactsUpsert,
			id, w.accts[i], w.emails[i], w.roles[i], w.traits[i], w.created[i], now, w.seen[i])
		if err != nil {
			return fmt.Errorf("write contact %q: %w", id, err)
		}
	}
	return nil
}

// ensureAccount creates an empty account for an id seen before its group call.
func (b *ingestBatch) ensureAccount(ctx context.Context, id string) error {
	_, err := b.tx.ExecContext(ctx, `INSERT INTO accounts (id, created_at, updated_at) VALUES ($1, $2, $2)
		ON CONFLICT (id) DO NOTHING`, id, micros(b.now))
	if err != nil {
		return fmt.Errorf("create account %q: %w", id, err)
	}
	return nil
}

func (b *ingestBatch) insertEvents(ctx context.Context) error {
	if !b.s.dialect.embedded() {
		return b.insertEventsCopy(ctx)
	}
	if len(b.rows) == 0 {
		return nil
	}
	// SQLite numbers new rows from the largest rowid stored; the chunk's
	// last id, which SQLite reports, confirms it.
	var last int64
	if err := b.tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) FROM events").Scan(&last); err != nil {
		return fmt.Errorf("write events: %w", err)
	}
	args := make([]any, 0, min(len(b.rows), eventChunk)*eventColumns)
	for start := 0; start < len(b.rows); {
		// Chunks of the prepared sizes only (eventChunkSizes): an insert
		// of another size would be parsed anew in every commit.
		n := eventChunkSizes[len(eventChunkSizes)-1]
		for _, size := range eventChunkSizes {
			if size <= len(b.rows)-start {
				n = size
				break
			}
		}
		end := start + n
		args = args[:0]
		query := b.w.eventsSQL[n]
		if b.shareColumns(start, end) {
			query = b.w.sharedEventsSQL[n]
			e := &b.rows[start]
			args = append(args, b.writeKeys[start], e.Type, bytesText(e.Integrations))
		}
		shared := len(args) > 0
		for i := start; i < end; i++ {
			e := &b.rows[i]
			last++
			e.ID = last
			// The JSON columns are bound as text without copying them
			// first: the driver copies a string's bytes into SQLite's
			// memory when it binds it, and nothing changes them meanwhile.
			if shared {
				args = append(args, e.MessageID, b.keys[i], e.Name, e.UserID, e.AnonymousID, e.AccountID,
					micros(e.Timestamp), nullTime(e.OriginalTimestamp), nullTime(e.SentAt), micros(e.ReceivedAt),
					bytesText(e.Properties), bytesText(e.Context))
				continue
			}
			args = append(args, e.MessageID, b.keys[i], b.writeKeys[i], e.Type, e.Name, e.UserID, e.AnonymousID, e.AccountID,
				micros(e.Timestamp), nullTime(e.OriginalTimestamp), nullTime(e.SentAt), micros(e.ReceivedAt),
				bytesText(e.Properties), bytesText(e.Context), bytesText(e.Integrations))
		}
		res, err := b.exec(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("write events: %w", err)
		}
		start = end
		if got, err := res.LastInsertId(); err != nil || got != last {
			return fmt.Errorf("write events: ids up to %d expected, SQLite gave up to %d (%v)", last, got, err)
		}
	}
	return nil
}

// shareColumns reports whether the rows from start to end share their
// write key, type and integrations (ingestSharedEventsSQL).
func (b *ingestBatch) shareColumns(start, end int) bool {
	first := &b.rows[start]
	for i := start + 1; i < end; i++ {
		e := &b.rows[i]
		if b.writeKeys[i] != b.writeKeys[start] || e.Type != first.Type || !bytes.Equal(e.Integrations, first.Integrations) {
			return false
		}
	}
	return true
}

// bytesText is b as a string sharing its bytes, for binding: b must not
// change while the statement runs.
func bytesText(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func nullTime(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return nullMicros(*t)
}

// reattribute moves the events that belong to no account of each newly
// linked contact onto the account it was just linked to, and notes them
// to queue for the ingest stages (reattributed_events): to health and
// triggers they are news for that account. One statement moves the events
// of every link (a round trip per contact made batches of identify and
// group calls slow on PostgreSQL, and on SQLite each would scan the
// account index's unmerged tail again), the links passed as two arrays;
// the moved events are queued in the order of the links (contact ids,
// sorted) and of their ids.
func (b *ingestBatch) reattribute(ctx context.Context, links []link) error {
	if len(links) == 0 {
		return nil
	}
	contacts, accounts := make([]string, len(links)), make([]string, len(links))
	at := make(map[string]int, len(links))
	for i, l := range links {
		contacts[i], accounts[i] = l.contact, l.account
		at[l.contact] = i
	}
	query := `UPDATE events e SET account_id = x.a FROM unnest($1::text[], $2::text[]) AS x(u, a)
		WHERE e.account_id = '' AND e.user_id = x.u RETURNING e.id, e.user_id`
	args := []any{contacts, accounts}
	if b.s.dialect.embedded() {
		// SQLite's RETURNING may not name the FROM clause's tables; the
		// user id is the link's contact.
		query = `UPDATE events SET account_id = x.a FROM (SELECT c.value AS u, a.value AS a FROM json_each($1) c
			JOIN json_each($2) a ON a.key = c.key) AS x
			WHERE ` + b.s.dialect.byAccount("account_id = ''") + ` AND events.user_id = x.u RETURNING id, user_id`
		cs, err := json.Marshal(contacts)
		if err != nil {
			return err
		}
		as, err := json.Marshal(accounts)
		if err != nil {
			return err
		}
		args = []any{string(cs), string(as)}
	}
	rows, err := b.tx.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("attribute contacts' earlier events: %w", err)
	}
	type moved struct {
		link int
		id   int64
	}
	var ms []moved
	for rows.Next() {
		var (
			id int64
			u  string
		)
		if err := rows.Scan(&id, &u); err != nil {
			rows.Close()
			return err
		}
		ms = append(ms, moved{at[u], id})
	}
	if err := closeRows(rows); err != nil {
		return err
	}
	sort.Slice(ms, func(i, j int) bool {
		if ms[i].link != ms[j].link {
			return ms[i].link < ms[j].link
		}
		return ms[i].id < ms[j].id
	})
	for _, m := range ms {
		b.reattributed = append(b.reattributed, reattribution{eventID: m.id, account: links[m.link].account})
	}
	// The account's recompute base may already cover these events' ids:
	// the stages forget it when they hand the events over (round).
	return nil
}

// queueReattributed queues the batch's reattributed events for the ingest
// stages, after the batch's own events (whose ids are known by now): on
// PostgreSQL in one statement, in the order they were moved.
func (b *ingestBatch) queueReattributed(ctx context.Context) error {
	if len(b.reattributed) == 0 {
		return nil
	}
	after := b.lastID()
	if !b.s.dialect.embedded() {
		ids, accounts := make([]int64, len(b.reattributed)), make([]string, len(b.reattributed))
		for i, r := range b.reattributed {
			ids[i], accounts[i] = r.eventID, r.account
		}
		if _, err := b.tx.ExecContext(ctx, `INSERT INTO reattributed_events (event_id, account_id, after_event_id)
			SELECT e, a, $3 FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS x(e, a, n) ORDER BY n`, ids, accounts, after); err != nil {
			return fmt.Errorf("queue reattributed events: %w", err)
		}
		return nil
	}
	for _, r := range b.reattributed {
		if _, err := b.tx.ExecContext(ctx, "INSERT INTO reattributed_events (event_id, account_id, after_event_id) VALUES ($1, $2, $3)",
			r.eventID, r.account, after); err != nil {
			return fmt.Errorf("queue reattributed events: %w", err)
		}
	}
	return nil
}

// insertEventsCopy is insertEvents on PostgreSQL: the events, with the ids
// the claim drew for them (given in row order, so the ids follow the order
// of the calls), by binary COPY on the transaction's connection. Against
// one INSERT … SELECT FROM unnest of column arrays, COPY spares the
// server decoding the arrays, the unnest's materialised rows and a heap
// WAL record per row (it writes several rows per record), and the client
// the ids returned.
func (b *ingestBatch) insertEventsCopy(ctx context.Context) error {
	n := len(b.rows)
	if n == 0 {
		return nil
	}
	if len(b.ids) != n {
		return fmt.Errorf("write events: %d ids drawn for %d events", len(b.ids), n)
	}
	slices.Sort(b.ids)
	for i := range b.rows {
		b.rows[i].ID = b.ids[i]
	}
	err := b.conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("not a pgx connection: %T", dc)
		}
		copied, err := c.Conn().CopyFrom(ctx, pgx.Identifier{"events"}, pgEventColumns, &eventCopySource{b: b, i: -1})
		if err == nil && copied != int64(n) {
			err = fmt.Errorf("%d of %d events copied", copied, n)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("write events: %w", err)
	}
	return nil
}

// eventCopySource hands a batch's rows to COPY, one at a time, in the
// order of pgEventColumns.
type eventCopySource struct {
	b      *ingestBatch
	i      int
	values [16]any
}

func (s *eventCopySource) Next() bool {
	s.i++
	return s.i < len(s.b.rows)
}

// Values reuses one slice: pgx encodes a row before asking for the next.
func (s *eventCopySource) Values() ([]any, error) {
	e := &s.b.rows[s.i]
	s.values = [16]any{e.ID, e.MessageID, s.b.keys[s.i], s.b.writeKeys[s.i], e.Type, e.Name, e.UserID, e.AnonymousID, e.AccountID,
		micros(e.Timestamp), microsPtr(e.OriginalTimestamp), microsPtr(e.SentAt), micros(e.ReceivedAt),
		[]byte(e.Properties), []byte(e.Context), []byte(e.Integrations)}
	return s.values[:], nil
}

func (s *eventCopySource) Err() error { return nil }

func microsPtr(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	us := micros(*t)
	return &us
}
