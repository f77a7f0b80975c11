-- +goose Up
-- A task's insert, update or delete recomputes its account's overdue_from
-- (tasks_rank, migration 00028) and used to write the account_health row
-- even when the value stayed the same, as it mostly does (a new task due
-- after an open one). Writing it locks the row until the transaction
-- commits: a playbook step inserting a task then waited for the ingest
-- stages' round, which holds the account's health row, and the round for
-- the step. The row is now written only when the value changes.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION rank_overdue(aid TEXT) RETURNS void LANGUAGE sql AS $$
    UPDATE account_health h SET overdue_from = o.v
    FROM (SELECT MIN(GREATEST(t.due_at + 1, COALESCE(t.snoozed_until, 0))) AS v FROM tasks t
        WHERE t.account_id = aid AND t.status NOT IN ('done', 'cancelled', 'canceled') AND t.due_at IS NOT NULL) o
    WHERE h.account_id = aid AND h.overdue_from IS DISTINCT FROM o.v;
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION rank_overdue(aid TEXT) RETURNS void LANGUAGE sql AS $$
    UPDATE account_health SET overdue_from = (SELECT MIN(GREATEST(t.due_at + 1, COALESCE(t.snoozed_until, 0))) FROM tasks t
        WHERE t.account_id = aid AND t.status NOT IN ('done', 'cancelled', 'canceled') AND t.due_at IS NOT NULL)
    WHERE account_id = aid;
$$;
-- +goose StatementEnd
