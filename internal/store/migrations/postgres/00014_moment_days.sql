-- +goose Up
-- moment_days keeps, per moment and UTC day of occurrence, the facts of
-- that day's occurrences (internal/report): when each measured event and
-- playbook step happened, the time metric's ends, status, escalation and
-- effort, in a compact binary form. A scorecard reads one row per moment
-- and day of its period instead of looking up every occurrence's runs,
-- tasks, escalations and marks; every figure is computed from the same
-- facts as before, so medians and p90s stay exact.
--
-- A cell is valid while facts is not NULL and spec names what its moment
-- measures now. Any write that can change a day's facts (a run started or
-- finished, a step or task done, an escalation, effort, an event of a
-- measured name on the account) bumps gen and clears facts in the same
-- transaction; a report rebuilds a cleared or missing cell from the runs
-- and analytics_marks and stores it only if gen has not moved meanwhile.
-- There is nothing to backfill: the first report builds the cells it needs.
CREATE TABLE moment_days (
    moment_id TEXT NOT NULL,
    day       BIGINT NOT NULL,
    gen       BIGINT NOT NULL DEFAULT 0,
    spec      TEXT NOT NULL DEFAULT '',
    facts     BYTEA,
    PRIMARY KEY (moment_id, day)
);

-- +goose Down
DROP TABLE moment_days;
