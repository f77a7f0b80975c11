-- +goose Up
-- Playbook runs and their durable state. The state of every run lives here;
-- River jobs only carry (run, step, generation) and are a delivery
-- mechanism, so a lost or repeated job never loses or repeats a step.

-- runs: one per (account, moment, occurrence) — the UNIQUE key is what makes
-- a trigger start a run exactly once, whatever the retries and replicas.
CREATE TABLE runs (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL,
    moment_id    TEXT NOT NULL,
    occurrence   TEXT NOT NULL,
    map_version  INTEGER NOT NULL,
    category     TEXT NOT NULL,
    contact_id   TEXT NOT NULL DEFAULT '',
    event_id     INTEGER NOT NULL DEFAULT 0,
    started_by   TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL,
    current_step TEXT NOT NULL DEFAULT '',
    error        TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    UNIQUE (account_id, moment_id, occurrence)
);
CREATE INDEX runs_moment ON runs (moment_id, created_at);
CREATE INDEX runs_account ON runs (account_id, created_at);

-- run_steps: one row per step a run reached (jumps only go forward, so a
-- step runs at most once per run). gen counts the step's activations (a
-- wait woken, a retry); dispatched_gen is the last one handed to the job
-- queue.
CREATE TABLE run_steps (
    id             TEXT PRIMARY KEY,
    run_id         TEXT NOT NULL,
    step_index     INTEGER NOT NULL,
    step_key       TEXT NOT NULL DEFAULT '',
    kind           TEXT NOT NULL DEFAULT '',
    account_id     TEXT NOT NULL,
    status         TEXT NOT NULL,
    gen            INTEGER NOT NULL DEFAULT 1,
    dispatched_gen INTEGER NOT NULL DEFAULT 0,
    dispatched_at  INTEGER,
    due_at         INTEGER,
    wait_event     TEXT NOT NULL DEFAULT '',
    wake           TEXT NOT NULL DEFAULT '',
    wake_event_id  INTEGER NOT NULL DEFAULT 0,
    attempts       INTEGER NOT NULL DEFAULT 0,
    error          TEXT NOT NULL DEFAULT '',
    outcome        TEXT NOT NULL DEFAULT '',
    next_step      TEXT NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    started_at     INTEGER,
    finished_at    INTEGER,
    updated_at     INTEGER NOT NULL,
    UNIQUE (run_id, step_index)
);
CREATE INDEX run_steps_due ON run_steps (status, due_at);
CREATE INDEX run_steps_waiting ON run_steps (wait_event, account_id) WHERE status = 'waiting' AND wait_event <> '';

CREATE TABLE tasks (
    id               TEXT PRIMARY KEY,
    run_id           TEXT NOT NULL,
    step_index       INTEGER NOT NULL,
    account_id       TEXT NOT NULL,
    moment_id        TEXT NOT NULL,
    title            TEXT NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    team             TEXT NOT NULL DEFAULT '',
    assignee         TEXT NOT NULL DEFAULT '',
    status           TEXT NOT NULL,
    due_at           INTEGER,
    snoozed_until    INTEGER,
    escalation_level INTEGER NOT NULL DEFAULT 0,
    severity         TEXT NOT NULL DEFAULT '',
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    completed_at     INTEGER,
    completed_by     TEXT NOT NULL DEFAULT '',
    UNIQUE (run_id, step_index)
);
CREATE INDEX tasks_assignee ON tasks (assignee, status, due_at);
CREATE INDEX tasks_account ON tasks (account_id, created_at);
CREATE INDEX tasks_open_due ON tasks (status, due_at);

-- sends: every email and webhook a playbook sent or tried, for the account's
-- timeline. key is the stable identity of one message to one recipient.
CREATE TABLE sends (
    id          TEXT PRIMARY KEY,
    key         TEXT NOT NULL UNIQUE,
    run_id      TEXT NOT NULL DEFAULT '',
    step_index  INTEGER NOT NULL DEFAULT -1,
    account_id  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    recipient   TEXT NOT NULL,
    subject     TEXT NOT NULL DEFAULT '',
    message_id  TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '',
    error       TEXT NOT NULL DEFAULT '',
    attempts    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    sent_at     INTEGER
);
CREATE INDEX sends_account ON sends (account_id, created_at);
CREATE INDEX sends_run ON sends (run_id, step_index);

-- escalations: service recovery, one row per (task or run step, level).
CREATE TABLE escalations (
    id           TEXT PRIMARY KEY,
    key          TEXT NOT NULL UNIQUE,
    task_id      TEXT NOT NULL DEFAULT '',
    run_id       TEXT NOT NULL DEFAULT '',
    account_id   TEXT NOT NULL,
    moment_id    TEXT NOT NULL,
    level        INTEGER NOT NULL,
    severity     TEXT NOT NULL,
    reason       TEXT NOT NULL,
    notify       TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL,
    error        TEXT NOT NULL DEFAULT '',
    lease_until  INTEGER,
    created_at   INTEGER NOT NULL,
    notified_at  INTEGER
);
CREATE INDEX escalations_pending ON escalations (status, created_at);
CREATE INDEX escalations_task ON escalations (task_id);

-- +goose Down
DROP TABLE escalations;
DROP TABLE sends;
DROP TABLE tasks;
DROP TABLE run_steps;
DROP TABLE runs;
