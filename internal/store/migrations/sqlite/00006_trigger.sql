-- +goose Up
-- Tables of the trigger engine (internal/trigger). Times are INTEGER unix
-- microseconds, as everywhere.

-- trigger_watched lists the account traits whose last value the trigger
-- engine keeps: kind 'value' for lifecycle triggers (enter/leave), kind
-- 'date' for scheduled triggers (relative_to). A trait is seeded from the
-- accounts once, when it is first watched; lifecycle_stage and
-- renewal_date are watched from the start.
CREATE TABLE trigger_watched (
    trait TEXT NOT NULL,
    kind  TEXT NOT NULL CHECK (kind IN ('value', 'date')),
    since INTEGER NOT NULL,
    PRIMARY KEY (trait, kind)
);

-- trigger_trait_values holds the last value seen of each watched 'value'
-- trait per account, so that a group call can tell "entered onboarding"
-- from "sent onboarding again" (the accounts row is already merged when the
-- trigger engine sees the call).
CREATE TABLE trigger_trait_values (
    account_id TEXT NOT NULL,
    trait      TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (account_id, trait)
);

-- trigger_dates holds each watched date trait per account as YYYY-MM-DD;
-- the (trait, date) index finds the accounts due in a window without
-- reading every account.
CREATE TABLE trigger_dates (
    trait      TEXT NOT NULL,
    account_id TEXT NOT NULL,
    date       TEXT NOT NULL,
    PRIMARY KEY (trait, account_id)
);
CREATE INDEX trigger_dates_due ON trigger_dates (trait, date, account_id);

-- trigger_contact_roles remembers the contacts who hold a key role
-- (sponsor, champion) and their account, for the sponsor_change signal.
CREATE TABLE trigger_contact_roles (
    contact_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    role       TEXT NOT NULL
);

-- trigger_watermarks: each scheduled rule has been evaluated through
-- `through`; a tick evaluates (through, now] and then advances it, so a
-- missed day is caught up once.
CREATE TABLE trigger_watermarks (
    rule    TEXT PRIMARY KEY,
    through INTEGER NOT NULL
);

-- trigger_signals keeps the state of derived signals per account
-- (usage_drop episode, last quadrant), so each change fires once.
CREATE TABLE trigger_signals (
    account_id TEXT NOT NULL,
    signal     TEXT NOT NULL,
    state      TEXT NOT NULL,
    since      INTEGER NOT NULL,
    PRIMARY KEY (account_id, signal)
);

-- trigger_account_rules are personal rules a CSM attaches to one account.
CREATE TABLE trigger_account_rules (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL,
    moment_id   TEXT NOT NULL,
    events      TEXT NOT NULL DEFAULT '[]',
    when_expr   TEXT NOT NULL DEFAULT '',
    relative_to TEXT NOT NULL DEFAULT '',
    offset_text TEXT NOT NULL DEFAULT '',
    every       TEXT NOT NULL DEFAULT '',
    note        TEXT NOT NULL DEFAULT '',
    created_by  TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
);
CREATE INDEX trigger_account_rules_account ON trigger_account_rules (account_id, id);

-- trigger_broadcasts are vendor broadcasts; cursor is the last account id
-- handled, advanced chunk by chunk, so any server process can finish a
-- broadcast another one started.
CREATE TABLE trigger_broadcasts (
    id              TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    moment_id       TEXT NOT NULL,
    segment         TEXT NOT NULL DEFAULT '',
    map_version     INTEGER NOT NULL,
    started_by      TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL,
    cursor          TEXT NOT NULL DEFAULT '',
    matched         INTEGER NOT NULL DEFAULT 0,
    reached         INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    finished_at     INTEGER
);

-- trigger_meta holds counters: rules_version changes with every personal
-- rule change, so each server process reloads its rules.
CREATE TABLE trigger_meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO trigger_meta (name, value) VALUES ('rules_version', 0);

INSERT INTO trigger_watched (trait, kind, since) VALUES ('lifecycle_stage', 'value', 0), ('renewal_date', 'date', 0);
INSERT INTO trigger_trait_values (account_id, trait, value)
    SELECT id, 'lifecycle_stage', lifecycle_stage FROM accounts WHERE lifecycle_stage <> '';
INSERT INTO trigger_dates (trait, account_id, date)
    SELECT 'renewal_date', id, renewal_date FROM accounts WHERE renewal_date <> '';
INSERT INTO trigger_contact_roles (contact_id, account_id, role)
    SELECT id, account_id, lower(role) FROM contacts
    WHERE lower(role) IN ('sponsor', 'champion') AND account_id IS NOT NULL AND account_id <> '';

-- +goose Down
DROP TABLE trigger_meta;
DROP TABLE trigger_broadcasts;
DROP TABLE trigger_account_rules;
DROP TABLE trigger_signals;
DROP TABLE trigger_watermarks;
DROP TABLE trigger_contact_roles;
DROP TABLE trigger_dates;
DROP TABLE trigger_trait_values;
DROP TABLE trigger_watched;
