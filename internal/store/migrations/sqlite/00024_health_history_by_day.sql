-- +goose Up
-- health_history is kept by day, then account: the backtest reads the
-- scores of every account as they stood on one day (now − horizon) and a
-- few accounts on each of the positives' days, which in a table kept by
-- account, then day touched one page per account (100,000 pages for one
-- day at 100,000 accounts). Kept by day, one day is one range of the
-- table; the daily recompute, which writes one day of every account,
-- appends to its end. health_history_account (account_id, day) serves the
-- reads of one account (the trend charts, where an account's history
-- begins). The rows are copied, not changed.
CREATE TABLE health_history_by_day (
    account_id  TEXT NOT NULL,
    day         INTEGER NOT NULL,
    behavioural REAL,
    emotional   REAL,
    combined    REAL,
    quadrant    TEXT NOT NULL,
    warnings    INTEGER NOT NULL DEFAULT 0,
    components  BLOB NOT NULL,
    rebuilt     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, account_id)
) WITHOUT ROWID;
INSERT INTO health_history_by_day (account_id, day, behavioural, emotional, combined, quadrant, warnings, components, rebuilt)
SELECT account_id, day, behavioural, emotional, combined, quadrant, warnings, components, rebuilt FROM health_history;
DROP TABLE health_history;
ALTER TABLE health_history_by_day RENAME TO health_history;
CREATE INDEX health_history_account ON health_history (account_id, day);

-- +goose Down
CREATE TABLE health_history_by_account (
    account_id  TEXT NOT NULL,
    day         INTEGER NOT NULL,
    behavioural REAL,
    emotional   REAL,
    combined    REAL,
    quadrant    TEXT NOT NULL,
    warnings    INTEGER NOT NULL DEFAULT 0,
    components  BLOB NOT NULL,
    rebuilt     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, day)
) WITHOUT ROWID;
INSERT INTO health_history_by_account (account_id, day, behavioural, emotional, combined, quadrant, warnings, components, rebuilt)
SELECT account_id, day, behavioural, emotional, combined, quadrant, warnings, components, rebuilt FROM health_history;
DROP TABLE health_history;
ALTER TABLE health_history_by_account RENAME TO health_history;
CREATE INDEX health_history_day ON health_history (day);
