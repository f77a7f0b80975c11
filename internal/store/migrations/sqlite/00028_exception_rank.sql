-- +goose Up
-- The exception report ranks every scored account by what account_health
-- and accounts hold, with its overdue tasks and raised warnings. Joining
-- accounts, health_warnings and the open tasks for each of 100,000 accounts
-- was most of its time, so account_health keeps copies of what the ranking
-- reads, maintained by the triggers below whatever writes the sources:
--   arr, renewal_day, owner, segment, lifecycle_stage: the account's (arr
--     is NULL while the account has no row in accounts; renewal_day is the
--     renewal date as Unix days, NULL without one);
--   warned: 1 when health_warnings holds a warning raised (codes <> '');
--   overdue_from: the earliest time (Unix microseconds) at which one of
--     the account's open tasks with a due time counts as overdue (due
--     before it and not snoozed past it), NULL without such a task.
ALTER TABLE account_health ADD COLUMN arr REAL;
ALTER TABLE account_health ADD COLUMN renewal_day INTEGER;
ALTER TABLE account_health ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE account_health ADD COLUMN segment TEXT NOT NULL DEFAULT '';
ALTER TABLE account_health ADD COLUMN lifecycle_stage TEXT NOT NULL DEFAULT '';
ALTER TABLE account_health ADD COLUMN warned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE account_health ADD COLUMN overdue_from INTEGER;

UPDATE account_health SET (arr, renewal_day, owner, segment, lifecycle_stage) = (SELECT a.arr,
        CASE WHEN a.renewal_date = '' THEN NULL ELSE CAST(julianday(a.renewal_date) - 2440587.5 AS INTEGER) END,
        a.owner, a.segment, a.lifecycle_stage FROM accounts a WHERE a.id = account_health.account_id)
    WHERE account_id IN (SELECT id FROM accounts);
UPDATE account_health SET warned = 1 WHERE account_id IN (SELECT account_id FROM health_warnings WHERE codes <> '');
UPDATE account_health SET overdue_from = (SELECT MIN(MAX(t.due_at + 1, COALESCE(t.snoozed_until, 0))) FROM tasks t
        WHERE t.account_id = account_health.account_id AND t.status NOT IN ('done', 'cancelled', 'canceled') AND t.due_at IS NOT NULL)
    WHERE account_id IN (SELECT account_id FROM tasks);

-- +goose StatementBegin
CREATE TRIGGER account_health_rank_insert AFTER INSERT ON account_health BEGIN
    UPDATE account_health SET (arr, renewal_day, owner, segment, lifecycle_stage) = (SELECT a.arr,
            CASE WHEN a.renewal_date = '' THEN NULL ELSE CAST(julianday(a.renewal_date) - 2440587.5 AS INTEGER) END,
            a.owner, a.segment, a.lifecycle_stage FROM accounts a WHERE a.id = NEW.account_id)
    WHERE account_id = NEW.account_id AND NEW.account_id IN (SELECT id FROM accounts);
    UPDATE account_health SET
        warned = EXISTS (SELECT 1 FROM health_warnings w WHERE w.account_id = NEW.account_id AND w.codes <> ''),
        overdue_from = (SELECT MIN(MAX(t.due_at + 1, COALESCE(t.snoozed_until, 0))) FROM tasks t
            WHERE t.account_id = NEW.account_id AND t.status NOT IN ('done', 'cancelled', 'canceled') AND t.due_at IS NOT NULL)
    WHERE account_id = NEW.account_id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER accounts_rank_insert AFTER INSERT ON accounts BEGIN
    UPDATE account_health SET arr = NEW.arr,
        renewal_day = CASE WHEN NEW.renewal_date = '' THEN NULL ELSE CAST(julianday(NEW.renewal_date) - 2440587.5 AS INTEGER) END,
        owner = NEW.owner, segment = NEW.segment, lifecycle_stage = NEW.lifecycle_stage
    WHERE account_id = NEW.id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER accounts_rank_update AFTER UPDATE OF id, arr, renewal_date, owner, segment, lifecycle_stage ON accounts
WHEN OLD.id IS NOT NEW.id OR OLD.arr IS NOT NEW.arr OR OLD.renewal_date IS NOT NEW.renewal_date OR OLD.owner IS NOT NEW.owner
    OR OLD.segment IS NOT NEW.segment OR OLD.lifecycle_stage IS NOT NEW.lifecycle_stage BEGIN
    UPDATE account_health SET arr = NULL WHERE account_id = OLD.id AND OLD.id IS NOT NEW.id;
    UPDATE account_health SET arr = NEW.arr,
        renewal_day = CASE WHEN NEW.renewal_date = '' THEN NULL ELSE CAST(julianday(NEW.renewal_date) - 2440587.5 AS INTEGER) END,
        owner = NEW.owner, segment = NEW.segment, lifecycle_stage = NEW.lifecycle_stage
    WHERE account_id = NEW.id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER accounts_rank_delete AFTER DELETE ON accounts BEGIN
    UPDATE account_health SET arr = NULL WHERE account_id = OLD.id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER health_warnings_rank_insert AFTER INSERT ON health_warnings BEGIN
    UPDATE account_health SET warned = (NEW.codes <> '') WHERE account_id = NEW.account_id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER health_warnings_rank_update AFTER UPDATE OF account_id, codes ON health_warnings
WHEN OLD.account_id IS NOT NEW.account_id OR OLD.codes IS NOT NEW.codes BEGIN
    UPDATE account_health SET warned = 0 WHERE account_id = OLD.account_id AND OLD.account_id IS NOT NEW.account_id;
    UPDATE account_health SET warned = (NEW.codes <> '') WHERE account_id = NEW.account_id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER health_warnings_rank_delete AFTER DELETE ON health_warnings BEGIN
    UPDATE account_health SET warned = 0 WHERE account_id = OLD.account_id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER tasks_rank_insert AFTER INSERT ON tasks BEGIN
    UPDATE account_health SET overdue_from = (SELECT MIN(MAX(t.due_at + 1, COALESCE(t.snoozed_until, 0))) FROM tasks t
            WHERE t.account_id = NEW.account_id AND t.status NOT IN ('done', 'cancelled', 'canceled') AND t.due_at IS NOT NULL)
    WHERE account_id = NEW.account_id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER tasks_rank_update AFTER UPDATE OF account_id, status, due_at, snoozed_until ON tasks
WHEN OLD.account_id IS NOT NEW.account_id OR OLD.status IS NOT NEW.status OR OLD.due_at IS NOT NEW.due_at
    OR OLD.snoozed_until IS NOT NEW.snoozed_until BEGIN
    UPDATE account_health SET overdue_from = (SELECT MIN(MAX(t.due_at + 1, COALESCE(t.snoozed_until, 0))) FROM tasks t
            WHERE t.account_id = account_health.account_id AND t.status NOT IN ('done', 'cancelled', 'canceled') AND t.due_at IS NOT NULL)
    WHERE account_id IN (OLD.account_id, NEW.account_id);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER tasks_rank_delete AFTER DELETE ON tasks BEGIN
    UPDATE account_health SET overdue_from = (SELECT MIN(MAX(t.due_at + 1, COALESCE(t.snoozed_until, 0))) FROM tasks t
            WHERE t.account_id = OLD.account_id AND t.status NOT IN ('done', 'cancelled', 'canceled') AND t.due_at IS NOT NULL)
    WHERE account_id = OLD.account_id;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER tasks_rank_delete;
DROP TRIGGER tasks_rank_update;
DROP TRIGGER tasks_rank_insert;
DROP TRIGGER health_warnings_rank_delete;
DROP TRIGGER health_warnings_rank_update;
DROP TRIGGER health_warnings_rank_insert;
DROP TRIGGER accounts_rank_delete;
DROP TRIGGER accounts_rank_update;
DROP TRIGGER accounts_rank_insert;
DROP TRIGGER account_health_rank_insert;
ALTER TABLE account_health DROP COLUMN overdue_from;
ALTER TABLE account_health DROP COLUMN warned;
ALTER TABLE account_health DROP COLUMN lifecycle_stage;
ALTER TABLE account_health DROP COLUMN segment;
ALTER TABLE account_health DROP COLUMN owner;
ALTER TABLE account_health DROP COLUMN renewal_day;
ALTER TABLE account_health DROP COLUMN arr;
