-- +goose Up
-- A funnel (reports) reads each step's marks or milestone reaches of a
-- period with their accounts: on PostgreSQL the indexes by name and time
-- now carry the account too, so the server reads them by index alone
-- instead of fetching one table row per mark, scattered over the table.
-- (On SQLite both tables are WITHOUT ROWID: their indexes already hold the
-- primary key, account included.)
DROP INDEX analytics_marks_name;
CREATE INDEX analytics_marks_name ON analytics_marks (name, at) INCLUDE (account_id);
DROP INDEX health_milestones_reached;
CREATE INDEX health_milestones_reached ON health_milestones (milestone_id, reached_at) INCLUDE (account_id);

-- +goose Down
DROP INDEX health_milestones_reached;
CREATE INDEX health_milestones_reached ON health_milestones (milestone_id, reached_at);
DROP INDEX analytics_marks_name;
CREATE INDEX analytics_marks_name ON analytics_marks (name, at);
