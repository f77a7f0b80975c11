-- +goose Up
-- health_history is kept by day, then account: the backtest reads the
-- scores of every account as they stood on one day (now − horizon) and a
-- few accounts on each of the positives' days. The key leads with the day
-- (one range of the index per day, and the positives' account days by
-- key), and the rows are rewritten in its order (CLUSTER), so one day's
-- rows lie on a few hundred pages rather than one page per account; the
-- daily recompute, which writes one day of every account, keeps that
-- order as it appends. health_history_account (account_id, day) serves the
-- reads of one account (the trend charts, where an account's history
-- begins).
ALTER TABLE health_history DROP CONSTRAINT health_history_pkey;
DROP INDEX health_history_day;
ALTER TABLE health_history ADD CONSTRAINT health_history_pkey PRIMARY KEY (day, account_id);
CREATE INDEX health_history_account ON health_history (account_id, day);
CLUSTER health_history USING health_history_pkey;

-- +goose Down
DROP INDEX health_history_account;
ALTER TABLE health_history DROP CONSTRAINT health_history_pkey;
ALTER TABLE health_history ADD CONSTRAINT health_history_pkey PRIMARY KEY (account_id, day);
CREATE INDEX health_history_day ON health_history (day);
