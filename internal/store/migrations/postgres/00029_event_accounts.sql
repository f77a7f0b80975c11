-- +goose Up
-- SQLite only: its events_account index becomes the event_accounts table,
-- written in bulk behind the commits (internal/store/account_index.go).
-- PostgreSQL's index is written per event, by several committers side by
-- side; nothing changes here.
SELECT 1;

-- +goose Down
SELECT 1;
