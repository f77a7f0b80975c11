-- +goose Up
-- Moment analytics (internal/report): the occurrence time of every run and
-- the aggregates that ingestion keeps so that scorecards, ideal-against-
-- actual, funnels and time to value read small indexed tables, never a scan
-- of the events. Times are unix microseconds, as everywhere.

-- runs.occurred_at is when the occurrence happened: the time of the event
-- that started it (its own timestamp, not when it arrived), or when a
-- schedule, a CSM or a broadcast started it. Runs from before this
-- migration take their event's timestamp, or their creation time.
ALTER TABLE runs ADD COLUMN occurred_at INTEGER;
UPDATE runs SET occurred_at = COALESCE((SELECT e.timestamp FROM events e WHERE e.id = runs.event_id AND runs.event_id > 0), created_at);
CREATE INDEX runs_moment_occurred ON runs (moment_id, occurred_at);

-- Whether an occurrence was escalated is one seek per run.
CREATE INDEX escalations_run ON escalations (run_id);

-- tasks.effort_minutes is the effort someone recorded on a task, added to
-- the moment's cost; NULL when nobody recorded any.
ALTER TABLE tasks ADD COLUMN effort_minutes INTEGER;

-- analytics_names are the event names whose events ingestion copies into
-- analytics_marks: the names the live journey map measures (ideal steps,
-- metrics.time, milestones), added by the ingest stage as soon as a map
-- names them, and those asked for by funnels. Ingestion copies the events
-- from id watched_from on; backfilled_at is set once the events below it
-- have been copied too (on a fresh installation there are none).
CREATE TABLE analytics_names (
    name          TEXT PRIMARY KEY,
    since         INTEGER NOT NULL,
    watched_from  INTEGER NOT NULL,
    backfilled_at INTEGER
);

-- analytics_marks holds one row per event of a watched name on an account:
-- the event's own time, so "the first such event at or after" is one index
-- seek.
CREATE TABLE analytics_marks (
    account_id TEXT NOT NULL,
    name       TEXT NOT NULL,
    at         INTEGER NOT NULL,
    event_id   INTEGER NOT NULL,
    PRIMARY KEY (account_id, name, at, event_id)
) WITHOUT ROWID;

-- Funnels read one name's marks over a period.
CREATE INDEX analytics_marks_name ON analytics_marks (name, at);

-- analytics_survey_scores holds every answer of a "Survey Responded"
-- event that names its survey and carries a numeric score, from any
-- source, by survey and time: a moment's quality metric.
CREATE TABLE analytics_survey_scores (
    survey     TEXT NOT NULL,
    at         INTEGER NOT NULL,
    event_id   INTEGER NOT NULL,
    account_id TEXT NOT NULL,
    score      REAL NOT NULL,
    PRIMARY KEY (survey, at, event_id)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE analytics_survey_scores;
DROP TABLE analytics_marks;
DROP TABLE analytics_names;
DROP INDEX escalations_run;
DROP INDEX runs_moment_occurred;
ALTER TABLE tasks DROP COLUMN effort_minutes;
ALTER TABLE runs DROP COLUMN occurred_at;
