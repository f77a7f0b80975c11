-- +goose Up
-- health_milestones_reached finds who reached a milestone in a period,
-- in time order: each step of a milestone funnel (reports) read it by a
-- scan of the whole table before. Milestones are written once per account
-- and milestone, so the index costs ingestion next to nothing.
CREATE INDEX health_milestones_reached ON health_milestones (milestone_id, reached_at);

-- +goose Down
DROP INDEX health_milestones_reached;
