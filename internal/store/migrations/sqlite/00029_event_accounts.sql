-- +goose Up
-- event_accounts replaces the events_account (account_id, id) index on
-- SQLite: the same entries, written in bulk behind the commits instead of
-- one per event inside them (see internal/store/account_index.go). With
-- more than a page of entries per account, the index written per event
-- dirtied one 4 KiB leaf page per event in the WAL.
--
-- store_meta.accounts_indexed_through is the last event id whose entry is
-- here for certain; the events after it (the tail, at most a merge's worth)
-- are found by their rowids. Entries past it may exist (a merge cut short)
-- and are always right: the triggers keep every entry in step with its
-- event when ingestion reattributes it or retention deletes it.
CREATE TABLE event_accounts (
    account_id TEXT NOT NULL,
    id         INTEGER NOT NULL,
    PRIMARY KEY (account_id, id)
) WITHOUT ROWID;
INSERT INTO event_accounts (account_id, id) SELECT account_id, id FROM events ORDER BY account_id, id;
INSERT INTO store_meta (name, value) SELECT 'accounts_indexed_through', COALESCE(MAX(id), 0) FROM events;
DROP INDEX events_account;

-- +goose StatementBegin
CREATE TRIGGER event_accounts_moved AFTER UPDATE OF account_id ON events BEGIN
    UPDATE event_accounts SET account_id = NEW.account_id WHERE account_id = OLD.account_id AND id = OLD.id;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER event_accounts_dropped AFTER DELETE ON events BEGIN
    DELETE FROM event_accounts WHERE account_id = OLD.account_id AND id = OLD.id;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER event_accounts_dropped;
DROP TRIGGER event_accounts_moved;
CREATE INDEX events_account ON events (account_id, id);
DELETE FROM store_meta WHERE name = 'accounts_indexed_through';
DROP TABLE event_accounts;
