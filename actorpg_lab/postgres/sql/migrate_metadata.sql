-- Manual migration for event metadata (JournalEntry(metadata=...), correlation and
-- causation ids) and idempotent appends (idempotency_key=...), for databases where
-- the application role may not run DDL (PostgresJournal(auto_create_tables=False)).
-- Run it as the tables' owner:  psql "$DATABASE_URL" -f migrate_metadata.sql
-- It is idempotent.  It assumes the default table name events; with
-- PostgresJournal(events_table="x") replace events by x.  Until it ran, keyed appends
-- raise JournalError naming this script, metadata given with entries too (metadata from
-- the context is left out); everything else keeps working.  The column has no default:
-- a catalog-only change (rows stored before read no metadata); lock_timeout makes the
-- ALTER give up (rerun) rather than queue writers behind it.

SET lock_timeout = '2s';
ALTER TABLE events ADD COLUMN IF NOT EXISTS metadata TEXT;
RESET lock_timeout;

CREATE TABLE IF NOT EXISTS events_idempotency (
    persistence_id TEXT        NOT NULL,
    key            TEXT        NOT NULL,
    first_seq      BIGINT      NOT NULL,
    events         INT         NOT NULL,
    digest         BYTEA       NOT NULL,
    position       XID8        NOT NULL DEFAULT pg_current_xact_id(),
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    hits           INT         NOT NULL DEFAULT 0,
    PRIMARY KEY (persistence_id, key)
);
CREATE INDEX IF NOT EXISTS events_idempotency_by_age ON events_idempotency (created_at);
