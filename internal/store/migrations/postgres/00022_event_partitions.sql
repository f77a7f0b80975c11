-- +goose Up
-- events becomes partitioned by RANGE (id), so that retention drops whole
-- partitions (retention.go, partitions.go; docs/operations.md, Retention
-- and Upgrading). The existing table is not copied: it is renamed and
-- attached as the first partition, for the ids below N (the next id the
-- sequence gives), with its indexes attached rather than rebuilt. The
-- CHECK (id < N) is what spares ATTACH its own scan under the exclusive
-- lock; validating it reads the table once. An operator may add and
-- validate that constraint beforehand, with an N ahead of the sequence,
-- while servers keep ingesting (docs/operations.md, Upgrading): then it is
-- used as it is. An empty table is not attached but dropped; the store
-- creates the partitions of new ids when it opens (partitions.go).
-- +goose StatementBegin
DO $$
DECLARE
    n    bigint;
    def  text;
    idx  record;
    defs text[] := '{}';
BEGIN
    SELECT pg_get_constraintdef(oid) INTO def FROM pg_constraint
        WHERE conrelid = 'events'::regclass AND conname = 'events_before_partitions';
    IF def IS NULL THEN
        SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END INTO n FROM events_id_seq;
        n := GREATEST(n, (SELECT COALESCE(MAX(id), 0) + 1 FROM events));
        EXECUTE format('ALTER TABLE events ADD CONSTRAINT events_before_partitions CHECK (id < %s)', n);
    ELSE
        n := substring(def FROM '(\d+)')::bigint;
        ALTER TABLE events VALIDATE CONSTRAINT events_before_partitions;
    END IF;
    -- Every index but the primary key is created again on the partitioned
    -- table under its name, and the old one attached to it.
    FOR idx IN SELECT c.relname, pg_get_indexdef(i.indexrelid) AS def
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = 'events'::regclass AND NOT i.indisprimary LOOP
        defs := defs || idx.def;
        EXECUTE format('ALTER INDEX %I RENAME TO %I', idx.relname, idx.relname || '_legacy');
    END LOOP;
    ALTER SEQUENCE events_id_seq OWNED BY NONE;
    ALTER TABLE events RENAME TO events_legacy;
    ALTER INDEX events_pkey RENAME TO events_legacy_pkey;
    CREATE TABLE events (LIKE events_legacy INCLUDING DEFAULTS INCLUDING STORAGE) PARTITION BY RANGE (id);
    ALTER SEQUENCE events_id_seq OWNED BY events.id;
    ALTER TABLE events_legacy ALTER COLUMN id DROP DEFAULT;
    ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (id);
    FOREACH def IN ARRAY defs LOOP
        EXECUTE def;
    END LOOP;
    IF EXISTS (SELECT 1 FROM events_legacy) THEN
        EXECUTE format('ALTER TABLE events ATTACH PARTITION events_legacy FOR VALUES FROM (MINVALUE) TO (%s)', n);
        ALTER TABLE events_legacy DROP CONSTRAINT events_before_partitions;
    ELSE
        DROP TABLE events_legacy;
    END IF;
END $$;
-- +goose StatementEnd

-- A partition retention has begun to drop: detached (or being detached),
-- its dedupe keys and behaviour counts taken out in chunks of ids up to
-- `through`, then the table dropped with this row.
CREATE TABLE event_partition_drops (
    name    TEXT PRIMARY KEY,
    through BIGINT NOT NULL
);

-- +goose Down
DROP TABLE event_partition_drops;
CREATE TABLE events_flat (LIKE events INCLUDING DEFAULTS INCLUDING STORAGE);
INSERT INTO events_flat SELECT * FROM events;
ALTER SEQUENCE events_id_seq OWNED BY events_flat.id;
DROP TABLE events;
ALTER TABLE events_flat RENAME TO events;
ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (id);
CREATE INDEX events_account ON events (account_id, id);
CREATE INDEX events_survey_responded ON events (timestamp) WHERE name = 'Survey Responded';
CREATE INDEX events_group ON events (account_id, timestamp, id) WHERE type = 'group';
