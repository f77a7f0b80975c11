-- +goose Up
-- On PostgreSQL the indexes a funnel reads by (analytics_marks by name and
-- time, health_milestones by milestone and time) now carry the account, so
-- they are read alone. On SQLite both tables are WITHOUT ROWID: their
-- indexes already hold the primary key, account included, so nothing
-- changes here; the migration keeps both dialects' versions in step.
SELECT 1;

-- +goose Down
SELECT 1;
