-- +goose Up
-- dedupe_runs holds SQLite's merged dedupe keys as sorted runs (see
-- internal/store/dedupe.go): run is the last event id whose key the run
-- holds, each row a block of up to 250 sorted 16-byte keys, last_key its
-- largest (the bound of the keys the block may hold). A merge appends a
-- run; it never rewrites earlier ones. The keys already in message_keys
-- are moved into one run when the store opens, and message_keys stays
-- empty on SQLite.
CREATE TABLE dedupe_runs (
    run      INTEGER NOT NULL,
    last_key BLOB NOT NULL,
    keys     BLOB NOT NULL,
    PRIMARY KEY (run, last_key)
);

-- +goose Down
DROP TABLE dedupe_runs;
