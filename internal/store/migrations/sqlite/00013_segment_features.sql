-- +goose Up
-- The features the broad users of each segment use (the 90th percentile of
-- the segment's accounts, as the last full health recompute found them):
-- breadth without key features is judged against them, as events arrive
-- and in the daily recompute alike.
CREATE TABLE health_segment_features (
    segment  TEXT PRIMARY KEY,
    features INTEGER NOT NULL,
    at       INTEGER NOT NULL
);

-- +goose Down
DROP TABLE health_segment_features;
