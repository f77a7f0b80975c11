-- +goose Up
-- SQLite only (its dedupe keys move to sorted runs, dedupe_runs);
-- PostgreSQL keeps the unique index message_keys, shared by every server.
SELECT 1;

-- +goose Down
SELECT 1;
