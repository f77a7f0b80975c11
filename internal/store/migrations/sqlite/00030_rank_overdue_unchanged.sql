-- +goose Up
-- PostgreSQL's migration of this number writes account_health's
-- overdue_from only when it changes, so that a task's insert does not lock
-- the row; SQLite has one writer and no row locks: nothing to do.
SELECT 1;

-- +goose Down
SELECT 1;
