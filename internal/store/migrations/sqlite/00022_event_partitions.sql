-- +goose Up
-- PostgreSQL only: its events table becomes partitioned by ranges of ids,
-- so that retention drops whole partitions. SQLite's events.id is the rowid
-- and retention deletes ranges of rowids (retention.go); nothing changes here.
SELECT 1;

-- +goose Down
SELECT 1;
