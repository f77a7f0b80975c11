-- +goose Up
-- Health keeps per-account state that ingestion updates incrementally (in
-- the ingestion transaction) and a scheduled recompute rebuilds from the
-- events. Reports read these tables, never the events.

-- health_aggregates holds each account's health aggregate (the bounded
-- summary of its events that scores are computed from, internal/health)
-- and its recent daily combined scores, which give the 14-day change. It
-- is kept apart from account_health so that reports scanning that table
-- do not read kilobytes of aggregate per account.
CREATE TABLE health_aggregates (
    account_id TEXT PRIMARY KEY,
    aggregate  TEXT NOT NULL,
    recent     TEXT NOT NULL DEFAULT '[]'
);

-- account_health is each account's current health and success path state.
-- Scores are NULL when unknown. version grows with every write and lets a
-- recompute detect that ingestion changed the account while it was
-- rebuilding; quadrant_version is the version at which the quadrant last
-- moved (so the move happened in the current write when they are equal).
-- Durations are microseconds; times are Unix microseconds.
CREATE TABLE account_health (
    account_id             TEXT PRIMARY KEY,
    behavioural            DOUBLE PRECISION,
    emotional              DOUBLE PRECISION,
    combined               DOUBLE PRECISION,
    quadrant               TEXT NOT NULL DEFAULT 'unknown',
    previous_quadrant      TEXT NOT NULL DEFAULT '',
    quadrant_changed_at    BIGINT,
    quadrant_version       BIGINT NOT NULL DEFAULT 0,
    combined_baseline      DOUBLE PRECISION,
    usage_drop             BIGINT NOT NULL DEFAULT 0,
    usage_last             BIGINT NOT NULL DEFAULT 0,
    usage_previous         BIGINT NOT NULL DEFAULT 0,
    last_activity_at       BIGINT,
    path_id                TEXT NOT NULL DEFAULT '',
    path_progress          DOUBLE PRECISION,
    milestones_reached     BIGINT NOT NULL DEFAULT 0,
    milestones_total       BIGINT NOT NULL DEFAULT 0,
    next_milestone         TEXT NOT NULL DEFAULT '',
    next_milestone_name    TEXT NOT NULL DEFAULT '',
    next_due_at            BIGINT,
    contract_start         BIGINT,
    time_to_value          BIGINT,
    time_to_implementation BIGINT,
    version                BIGINT NOT NULL DEFAULT 0,
    updated_at             BIGINT NOT NULL
);

-- health_trend is one row per account and UTC day (day = Unix days): the
-- scores as last computed that day. The daily refresh writes a row for
-- every account, events or not, and prunes rows past the retention.
CREATE TABLE health_trend (
    account_id  TEXT NOT NULL,
    day         BIGINT NOT NULL,
    behavioural DOUBLE PRECISION,
    emotional   DOUBLE PRECISION,
    combined    DOUBLE PRECISION,
    quadrant    TEXT NOT NULL,
    PRIMARY KEY (account_id, day)
);
CREATE INDEX health_trend_day ON health_trend (day);

-- health_milestones records when each account first reached each success
-- path milestone (also stored as a "Milestone Reached" event, so that a
-- recompute from events finds it).
CREATE TABLE health_milestones (
    account_id   TEXT NOT NULL,
    milestone_id TEXT NOT NULL,
    path_id      TEXT NOT NULL,
    reached_at   BIGINT NOT NULL,
    PRIMARY KEY (account_id, milestone_id)
);

-- health_runs records the last day each scheduled health job ran, so that
-- one process (of several on PostgreSQL) runs it once a day.
CREATE TABLE health_runs (
    name TEXT PRIMARY KEY,
    day  BIGINT NOT NULL,
    at   BIGINT NOT NULL
);

-- +goose Down
DROP TABLE health_runs;
DROP TABLE health_milestones;
DROP TABLE health_trend;
DROP TABLE account_health;
DROP TABLE health_aggregates;
