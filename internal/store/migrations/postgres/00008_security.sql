-- +goose Up
-- Security hardening (issue 15): back-off for repeated lock-outs, server
-- write keys, and the audit trail of who did what and when.

-- lockouts counts the lock-outs of a sign-in failure key in a row; each one
-- lasts twice as long as the last (internal/auth). It starts again a day
-- after the last lock-out ended.
ALTER TABLE sign_in_failures ADD COLUMN lockouts INTEGER NOT NULL DEFAULT 0;
CREATE INDEX sign_in_failures_first ON sign_in_failures (first_at);

-- server marks a write key kept on a server (never in a browser): only such
-- a key may set the traits that steer email and rights (contact email and
-- names, an account's owner).
ALTER TABLE api_keys ADD COLUMN server INTEGER NOT NULL DEFAULT 0;

-- audit_log: one row per action that changes who may do what, or what the
-- installation does for customers. actor is "user:<email>", "key:<id>",
-- "cli" or "system"; target names what was acted on; detail is a short
-- human-readable sentence; ip is the address the request came from.
CREATE TABLE audit_log (
    id     BIGSERIAL PRIMARY KEY,
    at     BIGINT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '',
    ip     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log (at, id);
CREATE INDEX audit_log_action ON audit_log (action, at);

-- +goose Down
DROP TABLE audit_log;
ALTER TABLE api_keys DROP COLUMN server;
DROP INDEX sign_in_failures_first;
ALTER TABLE sign_in_failures DROP COLUMN lockouts;
