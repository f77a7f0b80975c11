package store

import "strings"

// The ingestion path's multi-row statements. Each is built for n rows; the
// committer prepares the full-chunk variants once (writer.prepare).

const (
	// keyChunk, eventChunk and touchChunk keep multi-row statements under
	// both dialects' parameter limits.
	keyChunk     = 500
	eventChunk   = 200
	touchChunk   = 200
	eventColumns = 15
)

// insertEventsSQL inserts n events and returns their ids in row order.
func (s *Store) insertEventsSQL(n int) string {
	return s.dialect.rows(`INSERT INTO events (message_id, dedupe_key, write_key_id, type, name, user_id, anonymous_id, account_id,
		timestamp, original_timestamp, sent_at, received_at, properties, context, integrations) VALUES `,
		n, eventColumns, " RETURNING id")
}

// ingestEventsSQL is the committer's insert of n events on SQLite. It
// returns no ids: with RETURNING, SQLite stores every returned row in a
// temporary table before handing it over; SQLite gives each new row the
// largest rowid plus one, so the committer knows the ids (insertEvents).
// OR ROLLBACK because a failed insert fails the whole transaction anyway;
// without it SQLite keeps a statement journal, copying every page the
// statement first touches so that it could undo that statement alone, a
// quarter of the insert's time. (Giving the ids in the statement would
// bring the journal back: SQLite must be able to reject an id that is not
// an integer.)
func (s *Store) ingestEventsSQL(n int) string {
	return s.dialect.rows(`INSERT OR ROLLBACK INTO events (message_id, dedupe_key, write_key_id, type, name, user_id, anonymous_id,
		account_id, timestamp, original_timestamp, sent_at, received_at, properties, context, integrations) VALUES `,
		n, eventColumns, "")
}

// ingestSharedEventsSQL is ingestEventsSQL for n events that share their
// write key, type and integrations, as the events of a batch from one
// source usually do: those three are bound once for the whole statement
// (?1 to ?3, which every row repeats; each plain ? after them takes the
// next number) and each event binds the other twelve. modernc's driver
// copies every bound string into SQLite's memory and frees it after the
// statement, so each value bound costs an allocation, a copy and two calls
// into SQLite: binding was half the committer's insert of events.
func (s *Store) ingestSharedEventsSQL(n int) string {
	row := "(?1,?2,?3," + s.dialect.placeholders(1, eventColumns-3) + ")"
	return `INSERT OR ROLLBACK INTO events (write_key_id, type, integrations, message_id, dedupe_key, name, user_id, anonymous_id,
		account_id, timestamp, original_timestamp, sent_at, received_at, properties, context) VALUES ` +
		strings.TrimSuffix(strings.Repeat(row+",", n), ",")
}

// eventChunkSizes are the row counts of the committer's prepared event
// inserts on SQLite, largest first: a group's events go in chunks of these
// sizes (192 events: 100 + 50 + 20 + 20 + 2), so that no insert is parsed
// in a commit (parsing one of a few hundred rows cost a twentieth of the
// committer's time).
var eventChunkSizes = []int{eventChunk, 100, 50, 20, 10, 5, 2, 1}

// touchSQL upserts n rows of (id, created_at, updated_at, last_seen_at),
// only ever moving last_seen_at forward.
func (s *Store) touchSQL(table string, n int) string {
	return s.dialect.rows("INSERT INTO "+table+" (id, created_at, updated_at, last_seen_at) VALUES ", n, 4,
		" ON CONFLICT (id) DO UPDATE SET last_seen_at = CASE WHEN "+table+".last_seen_at IS NULL OR "+
			table+".last_seen_at < excluded.last_seen_at THEN excluded.last_seen_at ELSE "+table+".last_seen_at END")
}

// On PostgreSQL the ingestion statements take one array per column and
// unnest them: a single statement text whatever the number of rows, so it
// is parsed and planned once per connection (a multi-row VALUES list has a
// new text, a new prepare round trip and a plan of thousands of parameters
// for every row count), and one round trip carries every row. The events
// themselves go by COPY (insertEventsCopy).
const (
	// pgClaimSQL inserts message keys, draws an event id for each key that
	// was new and returns them, and marks where the transaction's events
	// end (ingest_commits, markCommit on SQLite): the claim, the ids and
	// the mark in one round trip, so that the events can be copied in with
	// their ids. A key is claimed only if its event is stored in the same
	// transaction, so every new key is one event and one id.
	//
	// The keys are inserted by claim_message_keys (migration 00031):
	// plainly, and again with ON CONFLICT DO NOTHING only when one of them
	// is stored already, the unique violation caught inside the function so
	// that PostgreSQL neither fails the transaction nor logs an error.
	// ON CONFLICT alone looked each key up in the index before inserting
	// it (a second descent of a tree of every stored key) and confirmed
	// each insertion in a WAL record of its own.
	pgClaimSQL = `WITH k AS (SELECT key FROM claim_message_keys($1::bytea[]) AS c(key)),
		ids AS (SELECT key, nextval('events_id_seq') AS id FROM k),
		mark AS (INSERT INTO ingest_commits (last_event_id) SELECT max(id) FROM ids HAVING count(*) > 0)
		SELECT key, id FROM ids`
)

// pgEventColumns are the columns COPY fills, in the order of
// eventCopySource.Values.
var pgEventColumns = []string{"id", "message_id", "dedupe_key", "write_key_id", "type", "name", "user_id", "anonymous_id", "account_id",
	"timestamp", "original_timestamp", "sent_at", "received_at", "properties", "context", "integrations"}

// pgTouchSQL is touchSQL for arrays of ids, created_at, updated_at,
// last_seen_at and whether a missing row may be created, skipping the rows
// another transaction has locked (touchSkippingLocked). It returns the ids
// it wrote or found current: the rows it locked and those it created; the
// others were skipped. Only a row that did not exist in the statement's
// snapshot is inserted; one that another transaction is creating is waited
// for, as any insert of a key in flight, and one that another transaction
// committed meanwhile is skipped (DO NOTHING), not locked: locking it
// waited for the server whose touch held it, while that server could be
// waiting for a row this transaction was creating (a deadlock, found with
// three servers receiving new contacts).
func pgTouchSQL(table string) string {
	return `WITH x AS (SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bool[]) AS x(id, c, u, ls, ins)),
		l AS (SELECT t.id FROM ` + table + ` t WHERE t.id = ANY($1::text[]) ORDER BY t.id FOR NO KEY UPDATE SKIP LOCKED),
		u AS (UPDATE ` + table + ` t SET last_seen_at = x.ls FROM x WHERE t.id = x.id AND t.id IN (SELECT id FROM l)
			AND x.ls IS NOT NULL AND (t.last_seen_at IS NULL OR t.last_seen_at < x.ls) RETURNING t.id),
		i AS (INSERT INTO ` + table + ` (id, created_at, updated_at, last_seen_at)
			SELECT x.id, x.c, x.u, x.ls FROM x WHERE x.ins AND NOT EXISTS (SELECT 1 FROM ` + table + ` t WHERE t.id = x.id) ORDER BY x.id
			ON CONFLICT (id) DO NOTHING RETURNING id)
		SELECT id FROM l UNION ALL SELECT id FROM i`
}
