package store

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

// claimSQL inserts n message keys and returns those that were new.
func (s *Store) claimSQL(n int) string {
	return s.dialect.rows("INSERT INTO message_keys (key) VALUES ", n, 1, " ON CONFLICT DO NOTHING RETURNING key")
}

// insertEventsSQL inserts n events and returns their ids in row order.
func (s *Store) insertEventsSQL(n int) string {
	return s.dialect.rows(`INSERT INTO events (message_id, dedupe_key, write_key_id, type, name, user_id, anonymous_id, account_id,
		timestamp, original_timestamp, sent_at, received_at, properties, context, integrations) VALUES `,
		n, eventColumns, " RETURNING id")
}

// touchSQL upserts n rows of (id, created_at, updated_at, last_seen_at),
// only ever moving last_seen_at forward.
func (s *Store) touchSQL(table string, n int) string {
	return s.dialect.rows("INSERT INTO "+table+" (id, created_at, updated_at, last_seen_at) VALUES ", n, 4,
		" ON CONFLICT (id) DO UPDATE SET last_seen_at = CASE WHEN "+table+".last_seen_at IS NULL OR "+
			table+".last_seen_at < excluded.last_seen_at THEN excluded.last_seen_at ELSE "+table+".last_seen_at END")
}

// lookupKeysSQL selects which of n message keys are stored.
func (s *Store) lookupKeysSQL(n int) string {
	return "SELECT key FROM message_keys WHERE key IN (" + s.dialect.placeholders(1, n) + ")"
}

// mergeKeysSQL inserts n message keys, ignoring those already present.
func (s *Store) mergeKeysSQL(n int) string {
	return s.dialect.rows("INSERT INTO message_keys (key) VALUES ", n, 1, " ON CONFLICT DO NOTHING")
}
