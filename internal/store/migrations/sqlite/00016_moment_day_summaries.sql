-- +goose Up
-- A day cell of moment analytics (moment_days) also keeps the summary a
-- scorecard reads (internal/report): that day's counts (occurrences,
-- delivered, finished, escalated, effort, steps done and on time) and the
-- durations whose medians it shows, so a scorecard adds up about 180
-- summaries per moment instead of decoding and scoring every occurrence.
-- summary_spec names what the summary depends on besides the facts (the
-- moment's ideal steps, their targets and its SLA); a summary is valid
-- while the cell's facts are and summary_spec matches the live map. Every
-- write that clears facts clears summary with it.
ALTER TABLE moment_days ADD COLUMN summary_spec TEXT NOT NULL DEFAULT '';
ALTER TABLE moment_days ADD COLUMN summary BLOB;

-- +goose Down
ALTER TABLE moment_days DROP COLUMN summary;
ALTER TABLE moment_days DROP COLUMN summary_spec;
