-- +goose Up
-- account_milestones keeps, per account, every milestone it has reached
-- with when it first reached it, in one column: "<milestone id>:<Unix
-- microseconds>" entries joined by commas (milestone ids are lowercase
-- letters, digits, _ and -). It is health_milestones gathered by account,
-- rewritten for an account whenever one of its milestones is recorded
-- (RecordMilestonesTx, in the same transaction), so a milestone funnel or
-- time to value reads one row per account instead of one per milestone
-- reached (a funnel on 100,000 accounts read some 400,000 rows).
CREATE TABLE account_milestones (
    account_id TEXT NOT NULL PRIMARY KEY,
    reaches    TEXT NOT NULL
);
INSERT INTO account_milestones (account_id, reaches)
    SELECT account_id, string_agg(milestone_id || ':' || reached_at, ',')
    FROM health_milestones GROUP BY account_id;

-- +goose Down
DROP TABLE account_milestones;
