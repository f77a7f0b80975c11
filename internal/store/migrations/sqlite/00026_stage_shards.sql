-- +goose Up
-- On PostgreSQL the ingest stages are split into shards leased to the
-- servers (see the PostgreSQL migration). SQLite has one writer and one
-- stage runner, which keeps the single 'stages' progress row; the columns
-- and table exist here only so both schemas have the same shape.
ALTER TABLE ingest_progress ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE ingest_progress ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;
CREATE TABLE stage_runners (
    runner     TEXT PRIMARY KEY,
    seen_until BIGINT NOT NULL
);

-- +goose Down
DROP TABLE stage_runners;
ALTER TABLE ingest_progress DROP COLUMN lease_until;
ALTER TABLE ingest_progress DROP COLUMN owner;
