-- +goose Up
-- ingest_fast_lane holds the events the ingest stages consumed ahead of
-- their progress (ingest_progress.last_event_id): events a trigger or a
-- wait listens to, handed to the stages as soon as they are committed
-- instead of after the background traffic before them (fastlane.go). The
-- row commits with the event's effects; the stages' ordinary round skips
-- the event when it reaches it and deletes the row, in one transaction.
CREATE TABLE ingest_fast_lane (
    event_id BIGINT PRIMARY KEY
);

-- +goose Down
DROP TABLE ingest_fast_lane;
