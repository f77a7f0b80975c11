-- +goose Up
-- moment_day_summaries keeps, beside each day cell of moment analytics
-- (moment_days), the summary a scorecard reads (internal/report): that
-- day's counts (occurrences, delivered, finished, escalated, effort, steps
-- done, on time and out of order) and the durations whose medians it
-- shows, so a scorecard adds up about 180 small rows per moment instead of
-- decoding and scoring every occurrence. It is a table of its own so that
-- reading a summary never reads the cell's facts (SQLite would walk their
-- overflow pages to reach a column stored after them).
--
-- A summary is valid while gen equals its cell's gen (every write that
-- clears a cell bumps it), the cell's spec is the live one, and spec
-- names what the summary depends on in the live map (the moment's ideal
-- steps, their targets, its SLA). Nothing to backfill: the first report
-- builds them.
CREATE TABLE moment_day_summaries (
    moment_id TEXT NOT NULL,
    day       INTEGER NOT NULL,
    gen       INTEGER NOT NULL,
    spec      TEXT NOT NULL,
    summary   BLOB NOT NULL,
    PRIMARY KEY (moment_id, day)
);

-- +goose Down
DROP TABLE moment_day_summaries;
