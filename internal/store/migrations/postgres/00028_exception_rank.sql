-- +goose Up
-- The exception report ranks every scored account by what account_health
-- and accounts hold, with its overdue tasks and raised warnings. Joining
-- accounts, health_warnings and the open tasks for each of 100,000 accounts
-- was most of its time, so account_health keeps copies of what the ranking
-- reads, maintained by the triggers below whatever writes the sources
-- (see the SQLite migration of the same number for the columns).
ALTER TABLE account_health ADD COLUMN arr DOUBLE PRECISION;
ALTER TABLE account_health ADD COLUMN renewal_day INTEGER;
ALTER TABLE account_health ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE account_health ADD COLUMN segment TEXT NOT NULL DEFAULT '';
ALTER TABLE account_health ADD COLUMN lifecycle_stage TEXT NOT NULL DEFAULT '';
ALTER TABLE account_health ADD COLUMN warned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE account_health ADD COLUMN overdue_from BIGINT;

-- +goose StatementBegin
CREATE FUNCTION rank_account_copy(aid TEXT) RETURNS void LANGUAGE sql AS $$
    UPDATE account_health h SET arr = a.arr,
        renewal_day = CASE WHEN a.renewal_date = '' THEN NULL ELSE a.renewal_date::date - DATE '1970-01-01' END,
        owner = a.owner, segment = a.segment, lifecycle_stage = a.lifecycle_stage
    FROM accounts a WHERE a.id = aid AND h.account_id = aid;
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION rank_overdue(aid TEXT) RETURNS void LANGUAGE sql AS $$
    UPDATE account_health SET overdue_from = (SELECT MIN(GREATEST(t.due_at + 1, COALESCE(t.snoozed_until, 0))) FROM tasks t
        WHERE t.account_id = aid AND t.status NOT IN ('done', 'cancelled', 'canceled') AND t.due_at IS NOT NULL)
    WHERE account_id = aid;
$$;
-- +goose StatementEnd

UPDATE account_health h SET arr = a.arr,
        renewal_day = CASE WHEN a.renewal_date = '' THEN NULL ELSE a.renewal_date::date - DATE '1970-01-01' END,
        owner = a.owner, segment = a.segment, lifecycle_stage = a.lifecycle_stage
    FROM accounts a WHERE a.id = h.account_id;
UPDATE account_health SET warned = 1 WHERE account_id IN (SELECT account_id FROM health_warnings WHERE codes <> '');
SELECT rank_overdue(account_id) FROM (SELECT DISTINCT account_id FROM tasks) t;

-- +goose StatementBegin
CREATE FUNCTION account_health_rank_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM rank_account_copy(NEW.account_id);
    UPDATE account_health SET
        warned = CASE WHEN EXISTS (SELECT 1 FROM health_warnings w WHERE w.account_id = NEW.account_id AND w.codes <> '') THEN 1 ELSE 0 END
    WHERE account_id = NEW.account_id;
    PERFORM rank_overdue(NEW.account_id);
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER account_health_rank_insert AFTER INSERT ON account_health
    FOR EACH ROW EXECUTE FUNCTION account_health_rank_insert();

-- +goose StatementBegin
CREATE FUNCTION accounts_rank() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND (TG_OP = 'DELETE' OR OLD.id IS DISTINCT FROM NEW.id) THEN
        UPDATE account_health SET arr = NULL WHERE account_id = OLD.id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM rank_account_copy(NEW.id);
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER accounts_rank_insert AFTER INSERT ON accounts FOR EACH ROW EXECUTE FUNCTION accounts_rank();
CREATE TRIGGER accounts_rank_update AFTER UPDATE OF id, arr, renewal_date, owner, segment, lifecycle_stage ON accounts
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id OR OLD.arr IS DISTINCT FROM NEW.arr
        OR OLD.renewal_date IS DISTINCT FROM NEW.renewal_date OR OLD.owner IS DISTINCT FROM NEW.owner
        OR OLD.segment IS DISTINCT FROM NEW.segment OR OLD.lifecycle_stage IS DISTINCT FROM NEW.lifecycle_stage)
    EXECUTE FUNCTION accounts_rank();
CREATE TRIGGER accounts_rank_delete AFTER DELETE ON accounts FOR EACH ROW EXECUTE FUNCTION accounts_rank();

-- +goose StatementBegin
CREATE FUNCTION health_warnings_rank() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND (TG_OP = 'DELETE' OR OLD.account_id IS DISTINCT FROM NEW.account_id) THEN
        UPDATE account_health SET warned = 0 WHERE account_id = OLD.account_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE account_health SET warned = CASE WHEN NEW.codes <> '' THEN 1 ELSE 0 END WHERE account_id = NEW.account_id;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER health_warnings_rank_insert AFTER INSERT ON health_warnings FOR EACH ROW EXECUTE FUNCTION health_warnings_rank();
CREATE TRIGGER health_warnings_rank_update AFTER UPDATE OF account_id, codes ON health_warnings
    FOR EACH ROW WHEN (OLD.account_id IS DISTINCT FROM NEW.account_id OR OLD.codes IS DISTINCT FROM NEW.codes)
    EXECUTE FUNCTION health_warnings_rank();
CREATE TRIGGER health_warnings_rank_delete AFTER DELETE ON health_warnings FOR EACH ROW EXECUTE FUNCTION health_warnings_rank();

-- +goose StatementBegin
CREATE FUNCTION tasks_rank() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM rank_overdue(OLD.account_id);
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND OLD.account_id IS DISTINCT FROM NEW.account_id) THEN
        PERFORM rank_overdue(NEW.account_id);
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER tasks_rank_insert AFTER INSERT ON tasks FOR EACH ROW EXECUTE FUNCTION tasks_rank();
CREATE TRIGGER tasks_rank_update AFTER UPDATE OF account_id, status, due_at, snoozed_until ON tasks
    FOR EACH ROW WHEN (OLD.account_id IS DISTINCT FROM NEW.account_id OR OLD.status IS DISTINCT FROM NEW.status
        OR OLD.due_at IS DISTINCT FROM NEW.due_at OR OLD.snoozed_until IS DISTINCT FROM NEW.snoozed_until)
    EXECUTE FUNCTION tasks_rank();
CREATE TRIGGER tasks_rank_delete AFTER DELETE ON tasks FOR EACH ROW EXECUTE FUNCTION tasks_rank();

-- +goose Down
DROP TRIGGER tasks_rank_delete ON tasks;
DROP TRIGGER tasks_rank_update ON tasks;
DROP TRIGGER tasks_rank_insert ON tasks;
DROP FUNCTION tasks_rank();
DROP TRIGGER health_warnings_rank_delete ON health_warnings;
DROP TRIGGER health_warnings_rank_update ON health_warnings;
DROP TRIGGER health_warnings_rank_insert ON health_warnings;
DROP FUNCTION health_warnings_rank();
DROP TRIGGER accounts_rank_delete ON accounts;
DROP TRIGGER accounts_rank_update ON accounts;
DROP TRIGGER accounts_rank_insert ON accounts;
DROP FUNCTION accounts_rank();
DROP TRIGGER account_health_rank_insert ON account_health;
DROP FUNCTION account_health_rank_insert();
DROP FUNCTION rank_overdue(TEXT);
DROP FUNCTION rank_account_copy(TEXT);
ALTER TABLE account_health DROP COLUMN overdue_from, DROP COLUMN warned, DROP COLUMN lifecycle_stage, DROP COLUMN segment,
    DROP COLUMN owner, DROP COLUMN renewal_day, DROP COLUMN arr;
