-- +goose Up
-- behaviour_blocks keeps how many track, page and screen events each
-- account sent of each name on each UTC day, so the drivers report reads
-- small rows instead of every event. A row holds one account's counts for
-- one block of 32 days (block = day ÷ 32, day = days since 1970-01-01):
-- counts is a compact binary list of (day within the block, name id,
-- count), in that order (internal/store/behaviour_query.go). The ingest
-- stages add each batch's events in the transaction that records their
-- progress, and retention subtracts the events it drops in the transaction
-- that drops them; events the stages have not consumed yet are read from
-- the events table.
CREATE TABLE behaviour_blocks (
    block      INTEGER NOT NULL,
    account_id TEXT NOT NULL,
    counts     BLOB NOT NULL,
    PRIMARY KEY (block, account_id)
) WITHOUT ROWID;

CREATE INDEX behaviour_blocks_account ON behaviour_blocks (account_id, block);

-- behaviour_names numbers the event names the blocks count.
CREATE TABLE behaviour_names (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

-- behaviour_backfill is the filling of the blocks from the events stored
-- before this migration (ids up to boundary): the stage runner adds them in
-- chunks, in id order, up to through.
CREATE TABLE behaviour_backfill (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    through  INTEGER NOT NULL,
    boundary INTEGER NOT NULL
);
INSERT INTO behaviour_backfill (id, through, boundary) VALUES (1, 0, (SELECT COALESCE(MAX(id), 0) FROM events));

-- +goose Down
DROP TABLE behaviour_backfill;
DROP TABLE behaviour_names;
DROP TABLE behaviour_blocks;
