-- +goose Up
-- health_recent holds each account's recent daily combined scores (the
-- 14-day change), which were kept in health_aggregates.recent. They change
-- every day while an account's aggregate changes only with its events, so
-- kept beside the aggregate they made every daily recompute rewrite every
-- account's aggregate row (kilobytes each) to change a few bytes. The
-- column health_aggregates.recent is no longer read or written (dropping it
-- would rewrite the whole table).
CREATE TABLE health_recent (
    account_id TEXT PRIMARY KEY,
    recent     TEXT NOT NULL
);
INSERT INTO health_recent (account_id, recent) SELECT account_id, recent FROM health_aggregates;

-- +goose Down
UPDATE health_aggregates SET recent = COALESCE(
    (SELECT r.recent FROM health_recent r WHERE r.account_id = health_aggregates.account_id), '[]');
DROP TABLE health_recent;
