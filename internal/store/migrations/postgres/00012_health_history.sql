-- +goose Up
-- health_history is the compact daily history of every account's health,
-- kept for the backtest ("how did the score stand 60 days before the
-- churn?") and the trend charts. One row per account and UTC day (day =
-- Unix days): the health at the start of that day, from the events before
-- it. The daily recompute writes the day's row as it passes (rebuilt = 0);
-- when history is imported rather than lived, the rows of the past days
-- are rebuilt from the events (rebuilt = 1), and a later rebuild replaces
-- only rebuilt rows. An account with no event yet has no row.
-- components packs every component's value (internal/health, Day); warnings
-- is the bit set of the warnings raised (low_health, declining_usage,
-- sponsor_left).
CREATE TABLE health_history (
    account_id  TEXT NOT NULL,
    day         BIGINT NOT NULL,
    behavioural DOUBLE PRECISION,
    emotional   DOUBLE PRECISION,
    combined    DOUBLE PRECISION,
    quadrant    TEXT NOT NULL,
    warnings    SMALLINT NOT NULL DEFAULT 0,
    components  BYTEA NOT NULL,
    rebuilt     SMALLINT NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, day)
);
-- The backtest reads every account's row of one day.
CREATE INDEX health_history_day ON health_history (day);

-- health_history_rebuild is the rebuild's watermark, one row: the events
-- up to through_event have been looked at for days to rebuild (the
-- accounts that received events dated before yesterday since then are
-- rebuilt next), at is when (Unix microseconds).
CREATE TABLE health_history_rebuild (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    through_event BIGINT NOT NULL,
    at            BIGINT NOT NULL
);
INSERT INTO health_history_rebuild (id, through_event, at) VALUES (1, 0, 0);

-- +goose Down
DROP TABLE health_history_rebuild;
DROP TABLE health_history;
