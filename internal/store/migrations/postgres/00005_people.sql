-- +goose Up
-- People who sign in to the UI, their sessions and the sign-in failures
-- that lock an account or an address out for a while (internal/auth).

-- users: email is stored lower-case and is the sign-in name. password is an
-- argon2id hash in PHC form ($argon2id$v=19$m=…,t=…,p=…$salt$hash).
CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    email           TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL DEFAULT '',
    role            TEXT NOT NULL CHECK (role IN ('admin', 'ops', 'csm', 'viewer')),
    password        TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    last_sign_in_at BIGINT,
    disabled_at     BIGINT
);

-- sessions: only the SHA-256 of the session id is kept, so a copy of the
-- database does not let anyone sign in as someone else. expires_at slides
-- forward with use up to absolute_at.
CREATE TABLE sessions (
    id_hash      BYTEA PRIMARY KEY,
    user_id      TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    absolute_at  BIGINT NOT NULL,
    ip           TEXT NOT NULL DEFAULT '',
    user_agent   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- sign_in_failures counts failed sign-ins per key ("email:<address>" or
-- "ip:<address>") within a window; locked_until is set when the count
-- reaches the limit.
CREATE TABLE sign_in_failures (
    key          TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    first_at     BIGINT NOT NULL,
    locked_until BIGINT
);

-- +goose Down
DROP TABLE sign_in_failures;
DROP TABLE sessions;
DROP TABLE users;
