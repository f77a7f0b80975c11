-- +goose Up
-- journey_versions keeps every applied journey map; the highest number is
-- live. content is the canonical YAML, hash its content hash, so applying
-- identical content creates no version.
CREATE TABLE journey_versions (
    number     BIGINT PRIMARY KEY,
    hash       TEXT NOT NULL,
    content    TEXT NOT NULL,
    source     TEXT NOT NULL DEFAULT '',
    applied_by TEXT NOT NULL,
    applied_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE journey_versions;
