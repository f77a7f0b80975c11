-- +goose Up
-- The ingestion claim of message keys (internal/store/ingest_sql.go,
-- pgClaimSQL) inserts the keys plainly and only when one of them is stored
-- already (a retried message) claims them again with ON CONFLICT DO
-- NOTHING. INSERT … ON CONFLICT looks every key up in the index before
-- inserting it and confirms each speculative insertion with a second WAL
-- record: on a table of a million keys, a sixth of the backends' CPU per
-- event. The unique violation is caught here, in the function's own
-- subtransaction, so it is not reported to the client nor written to
-- PostgreSQL's log. A key claimed by a transaction still in flight is
-- waited for as before (the unique check waits for that transaction):
-- if it commits, the key is not new; if it aborts, it is.
-- +goose StatementBegin
CREATE FUNCTION claim_message_keys(keys bytea[]) RETURNS SETOF bytea LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        INSERT INTO message_keys (key) SELECT unnest(keys);
        RETURN QUERY SELECT unnest(keys);
        RETURN;
    EXCEPTION WHEN unique_violation THEN
        NULL; -- some key is stored already: claim the others below
    END;
    RETURN QUERY INSERT INTO message_keys (key) SELECT unnest(keys) ON CONFLICT DO NOTHING RETURNING key;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION claim_message_keys(bytea[]);
