-- +goose Up
-- health_warnings holds, per account, the warnings its health raised when
-- last scored (internal/health Warnings: low_health, declining_usage,
-- sponsor_left), so that the exception report can list the accounts that
-- raise them without scoring every account. codes is the warning codes
-- joined with commas ('' for none); texts is a JSON array of their texts.
CREATE TABLE health_warnings (
    account_id TEXT PRIMARY KEY,
    codes      TEXT NOT NULL DEFAULT '',
    texts      TEXT NOT NULL DEFAULT '[]',
    updated_at INTEGER NOT NULL
);
CREATE INDEX health_warnings_raised ON health_warnings (account_id) WHERE codes <> '';

-- +goose Down
DROP TABLE health_warnings;
