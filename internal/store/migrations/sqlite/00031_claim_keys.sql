-- +goose Up
-- PostgreSQL only (its message keys are claimed by a function that inserts
-- them plainly first); SQLite deduplicates in its own runs (dedupe.go).
SELECT 1;

-- +goose Down
SELECT 1;
