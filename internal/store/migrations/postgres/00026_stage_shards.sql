-- +goose Up
-- The ingest stages are split into shards by account (stages.go): each
-- shard has its own progress row, 'stages/0' to 'stages/15', written in
-- the same transaction as the effects of its events, and leased to one
-- server at a time (owner, lease_until, in microseconds of the database's
-- clock), so several servers share the derived work. Every shard starts
-- where the single 'stages' row was. Stop every server of the previous
-- version before this migration runs: one still consuming through the
-- 'stages' row would find it gone and stop consuming (nothing repeats).
ALTER TABLE ingest_progress ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE ingest_progress ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;
INSERT INTO ingest_progress (name, last_event_id, updated_at)
SELECT 'stages/' || k, p.last_event_id, p.updated_at FROM ingest_progress p, generate_series(0, 15) k WHERE p.name = 'stages';
DELETE FROM ingest_progress WHERE name = 'stages';

-- stage_runners lists the servers running the ingest stages, each until
-- when it is seen alive: a server takes its share of the shards (their
-- count divided by the live servers) and no more.
CREATE TABLE stage_runners (
    runner     TEXT PRIMARY KEY,
    seen_until BIGINT NOT NULL
);

-- +goose Down
DROP TABLE stage_runners;
INSERT INTO ingest_progress (name, last_event_id, updated_at)
SELECT 'stages', MIN(last_event_id), MAX(updated_at) FROM ingest_progress WHERE name LIKE 'stages/%';
DELETE FROM ingest_progress WHERE name LIKE 'stages/%';
ALTER TABLE ingest_progress DROP COLUMN lease_until;
ALTER TABLE ingest_progress DROP COLUMN owner;
