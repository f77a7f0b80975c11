-- +goose Up
-- health_bases holds, per account, the health aggregate of its events up to
-- an event id (through), built by the daily recompute under one health
-- model (model, a fingerprint of the model's settings that the aggregate
-- depends on). The next recompute starts from it and reads only the
-- events after through, so it does not read the whole events table every
-- day; first holds the earliest time of each event name a success path
-- milestone listens to, as a JSON object.
CREATE TABLE health_bases (
    account_id TEXT PRIMARY KEY,
    model      TEXT NOT NULL,
    through    BIGINT NOT NULL,
    aggregate  TEXT NOT NULL,
    first      TEXT NOT NULL DEFAULT '{}'
);

-- health_base_mark holds the largest event id when the last recompute
-- began. On PostgreSQL, where ids are taken before commit and a smaller id
-- may become visible after a larger one, the bases are brought only up to
-- it (events a day old), never up to the largest id visible now.
CREATE TABLE health_base_mark (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seen BIGINT NOT NULL
);

-- +goose Down
DROP TABLE health_base_mark;
DROP TABLE health_bases;
