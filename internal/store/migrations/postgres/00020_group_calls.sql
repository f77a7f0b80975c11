-- +goose Up
-- events_group finds an account's group calls (the changes of its traits)
-- without reading its other events: the outcome reports replay the group
-- calls of every positive to find when its outcome first held, and an
-- account sends few group calls among many track calls.
CREATE INDEX events_group ON events (account_id, timestamp, id) WHERE type = 'group';

-- +goose Down
DROP INDEX events_group;
