-- +goose Up
-- Times are stored as BIGINT microseconds since the Unix epoch (UTC) in both
-- dialects, so comparisons, ordering and Go code are identical everywhere.

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    scope        TEXT NOT NULL CHECK (scope IN ('write', 'admin')),
    hash         BYTEA NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);

CREATE TABLE accounts (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL DEFAULT '',
    plan            TEXT NOT NULL DEFAULT '',
    segment         TEXT NOT NULL DEFAULT '',
    owner           TEXT NOT NULL DEFAULT '',
    lifecycle_stage TEXT NOT NULL DEFAULT '',
    arr             DOUBLE PRECISION NOT NULL DEFAULT 0,
    renewal_date    TEXT NOT NULL DEFAULT '',
    traits          JSONB NOT NULL DEFAULT '{}',
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    last_seen_at    BIGINT
);
CREATE INDEX accounts_segment ON accounts (segment, id);
CREATE INDEX accounts_owner ON accounts (owner, id);
CREATE INDEX accounts_stage ON accounts (lifecycle_stage, id);

CREATE TABLE contacts (
    id           TEXT PRIMARY KEY,
    account_id   TEXT,
    email        TEXT NOT NULL DEFAULT '',
    role         TEXT NOT NULL DEFAULT '',
    traits       JSONB NOT NULL DEFAULT '{}',
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    last_seen_at BIGINT
);
CREATE INDEX contacts_account ON contacts (account_id, id);

CREATE TABLE events (
    id                 BIGSERIAL PRIMARY KEY,
    message_id         TEXT NOT NULL,
    dedupe_key         BYTEA NOT NULL,
    write_key_id       TEXT NOT NULL,
    type               TEXT NOT NULL,
    name               TEXT NOT NULL DEFAULT '',
    user_id            TEXT NOT NULL DEFAULT '',
    anonymous_id       TEXT NOT NULL DEFAULT '',
    account_id         TEXT NOT NULL DEFAULT '',
    timestamp          BIGINT NOT NULL,
    original_timestamp BIGINT,
    sent_at            BIGINT,
    received_at        BIGINT NOT NULL,
    properties         JSONB NOT NULL DEFAULT '{}',
    context            JSONB NOT NULL DEFAULT '{}',
    integrations       JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX events_account ON events (account_id, id);

CREATE TABLE message_keys (
    key BYTEA PRIMARY KEY
);

-- +goose Down
DROP TABLE message_keys;
DROP TABLE events;
DROP TABLE contacts;
DROP TABLE accounts;
DROP TABLE api_keys;
