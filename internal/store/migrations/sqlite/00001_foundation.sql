-- +goose Up
-- Times are stored as INTEGER microseconds since the Unix epoch (UTC) in both
-- dialects, so comparisons, ordering and Go code are identical everywhere.

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    scope        TEXT NOT NULL CHECK (scope IN ('write', 'admin')),
    hash         BLOB NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);

CREATE TABLE accounts (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL DEFAULT '',
    plan            TEXT NOT NULL DEFAULT '',
    segment         TEXT NOT NULL DEFAULT '',
    owner           TEXT NOT NULL DEFAULT '',
    lifecycle_stage TEXT NOT NULL DEFAULT '',
    arr             REAL NOT NULL DEFAULT 0,
    renewal_date    TEXT NOT NULL DEFAULT '',
    traits          TEXT NOT NULL DEFAULT '{}',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    last_seen_at    INTEGER
);
CREATE INDEX accounts_segment ON accounts (segment, id);
CREATE INDEX accounts_owner ON accounts (owner, id);
CREATE INDEX accounts_stage ON accounts (lifecycle_stage, id);

CREATE TABLE contacts (
    id           TEXT PRIMARY KEY,
    account_id   TEXT,
    email        TEXT NOT NULL DEFAULT '',
    role         TEXT NOT NULL DEFAULT '',
    traits       TEXT NOT NULL DEFAULT '{}',
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    last_seen_at INTEGER
);
CREATE INDEX contacts_account ON contacts (account_id, id);

-- events is append-only; id follows arrival order so inserts append to the
-- right edge of the table's B-tree.
CREATE TABLE events (
    id                 INTEGER PRIMARY KEY,
    message_id         TEXT NOT NULL,
    dedupe_key         BLOB NOT NULL,
    write_key_id       TEXT NOT NULL,
    type               TEXT NOT NULL,
    name               TEXT NOT NULL DEFAULT '',
    user_id            TEXT NOT NULL DEFAULT '',
    anonymous_id       TEXT NOT NULL DEFAULT '',
    account_id         TEXT NOT NULL DEFAULT '',
    timestamp          INTEGER NOT NULL,
    original_timestamp INTEGER,
    sent_at            INTEGER,
    received_at        INTEGER NOT NULL,
    properties         TEXT NOT NULL DEFAULT '{}',
    context            TEXT NOT NULL DEFAULT '{}',
    integrations       TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX events_account ON events (account_id, id);

-- message_keys holds one 16-byte key per (write key, messageId): the exact
-- deduplication set, kept for as long as events are kept. On SQLite the keys
-- of the newest events live in memory and in events.dedupe_key, and are
-- merged here in sorted runs (see internal/store/dedupe.go).
CREATE TABLE message_keys (
    key BLOB PRIMARY KEY
) WITHOUT ROWID;

-- store_meta holds the store's own counters: dedupe_merged_through is the
-- last event id whose dedupe key is in message_keys.
CREATE TABLE store_meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO store_meta (name, value) VALUES ('dedupe_merged_through', 0);

-- +goose Down
DROP TABLE store_meta;
DROP TABLE message_keys;
DROP TABLE events;
DROP TABLE contacts;
DROP TABLE accounts;
DROP TABLE api_keys;
