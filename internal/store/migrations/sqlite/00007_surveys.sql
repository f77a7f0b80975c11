-- +goose Up
-- Survey sends (internal/survey): one row per survey a contact was sent,
-- or would have been sent and was not (status 'skipped' with the reason,
-- so no send is silently dropped). Times are unix microseconds.
--
-- token_hash and reminder_hash are SHA-256 hashes of the personal links'
-- tokens (the first email's and the reminder's); the tokens themselves are
-- never stored. Skipped sends have none (NULL, which UNIQUE allows twice).
-- score is set once and never changed; comment may be replaced.
-- event_at is when the answer's "Survey Responded" event was ingested.
CREATE TABLE survey_sends (
    id            TEXT PRIMARY KEY,
    key           TEXT NOT NULL UNIQUE,
    token_hash    BLOB UNIQUE,
    reminder_hash BLOB UNIQUE,
    survey_id     TEXT NOT NULL,
    kind          TEXT NOT NULL,
    account_id    TEXT NOT NULL,
    contact_id    TEXT NOT NULL,
    email         TEXT NOT NULL DEFAULT '',
    role          TEXT NOT NULL DEFAULT '',
    language      TEXT NOT NULL DEFAULT '',
    moment_id     TEXT NOT NULL DEFAULT '',
    run_id        TEXT NOT NULL DEFAULT '',
    step_index    INTEGER NOT NULL DEFAULT -1,
    map_version   INTEGER NOT NULL DEFAULT 0,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'skipped', 'withdrawn')),
    reason        TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    sent_at       INTEGER,
    expires_at    INTEGER,
    reminded_at   INTEGER,
    score         INTEGER,
    answered_at   INTEGER,
    comment       TEXT NOT NULL DEFAULT '',
    commented_at  INTEGER,
    event_at      INTEGER
);
-- Fatigue budget: recent sends per contact and per account.
CREATE INDEX survey_sends_contact ON survey_sends (contact_id, created_at);
CREATE INDEX survey_sends_account ON survey_sends (account_id, created_at);
-- Reminders due and answers whose event is still to be ingested.
CREATE INDEX survey_sends_open ON survey_sends (status, sent_at);

-- Survey answers from every source (the answer page and other tools
-- through the tracking API) for the survey reports, without an index
-- entry for any other event.
CREATE INDEX events_survey_responded ON events (timestamp) WHERE name = 'Survey Responded';

-- +goose Down
DROP INDEX events_survey_responded;
DROP TABLE survey_sends;
