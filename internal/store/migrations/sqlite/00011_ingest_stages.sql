-- +goose Up
-- ingest_progress records how far the ingest stages (health, triggers,
-- playbook wake-ups) have consumed the committed events: the last event id
-- whose effects are stored. It is written in the same transaction as those
-- effects, so after a crash no event's effects are skipped or repeated.
-- Events stored before this migration had their effects applied inside
-- their own ingestion transaction, so the stages start after them.
CREATE TABLE ingest_progress (
    name          TEXT PRIMARY KEY,
    last_event_id INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
INSERT INTO ingest_progress (name, last_event_id, updated_at)
SELECT 'stages', COALESCE(MAX(id), 0), 0 FROM events;

-- reattributed_events lists events that joined an account after they were
-- stored (the call linking their contact to the account came later): to
-- the ingest stages they are news for that account. An event whose
-- stages have not run yet when the link arrives is simply consumed with
-- its new account; its row here is then dropped.
CREATE TABLE reattributed_events (
    id         INTEGER PRIMARY KEY,
    event_id   INTEGER NOT NULL,
    account_id TEXT NOT NULL,
    -- after_event_id is the last event of the batch that linked the
    -- contact: the stages see the reattribution right after it.
    after_event_id INTEGER NOT NULL
);
CREATE INDEX reattributed_events_event ON reattributed_events (event_id);

-- ingest_commits marks where each ingestion transaction's events end (its
-- largest event id). The stages hand the hooks one transaction's events at
-- a time, as when they ran inside it, so what depends on a batch's extent
-- (a milestone reached by a condition is dated by the account's latest
-- event in it) does not depend on how far behind the stages were. Rows are
-- deleted once the stages are past them.
CREATE TABLE ingest_commits (
    last_event_id INTEGER PRIMARY KEY
);

-- +goose Down
DROP TABLE ingest_commits;
DROP TABLE reattributed_events;
DROP TABLE ingest_progress;
