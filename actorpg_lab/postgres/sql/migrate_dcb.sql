-- Manual migration for conditional appends (DCB) and the event-type index, for
-- databases where the application role may not run DDL
-- (PostgresJournal(auto_create_tables=False)).  Run it as the tables' owner, e.g.
--
--     psql "$DATABASE_URL" -f migrate_dcb.sql
--
-- It is idempotent.  It assumes the default table name events; with
-- PostgresJournal(events_table="x") replace events by x (in the function, the index and
-- their names).  Until it ran, conditional appends (append(..., condition=...)) and
-- read_matching raise JournalError naming this script; plain appends keep working (and
-- take their boundary locks regardless: that needs no DDL).
--
-- What it does, and why it does not stall the application:
-- * creates (or, from an earlier version's STRICT body, replaces: same results, faster
--   because PostgreSQL can inline it) the IMMUTABLE function events_type_v1(payload): the event type is the name
--   in the codec's envelope, so no column is added and no row is rewritten;
-- * builds the index events_by_type on it CONCURRENTLY: writers keep writing.  (CREATE
--   INDEX CONCURRENTLY cannot run inside a transaction block: run this file with psql's
--   default autocommit, not with --single-transaction.)
-- The role the application uses needs EXECUTE on the function (granted to PUBLIC by
-- default).

CREATE OR REPLACE FUNCTION events_type_v1(payload text) RETURNS text
LANGUAGE sql IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE
AS $$ SELECT CASE WHEN starts_with(payload, '{"' || chr(36) || 'type":"') THEN
    CASE WHEN strpos(substr(payload, 11, 1014), '"') > 0
              AND strpos(split_part(substr(payload, 11, 1014), '"', 1), '\') = 0
         THEN split_part(substr(payload, 11, 1014), '"', 1)
         ELSE substring(left(payload, 1024) from '^\{"[$]type":"((?:[^"\\]|\\.)*)"')
    END
END $$;

-- A failed concurrent build leaves an INVALID index behind: drop it first if so
-- (DROP INDEX CONCURRENTLY events_by_type;) and rerun.
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_by_type
    ON events (events_type_v1(payload), position, persistence_id, sequence_nr);

-- With PostgresJournal(log_conflicts=True): the conflict log (events_conflicts, if it
-- exists) records failed conditions too, in these nullable columns (catalog-only: no
-- rewrite, older rows read NULL, a head conflict).  Until they exist, a failed
-- condition is logged as a warning instead of recorded.
ALTER TABLE IF EXISTS events_conflicts ADD COLUMN IF NOT EXISTS kind TEXT,
    ADD COLUMN IF NOT EXISTS query TEXT,
    ADD COLUMN IF NOT EXISTS conflict_position BIGINT,
    ADD COLUMN IF NOT EXISTS conflict_pid TEXT,
    ADD COLUMN IF NOT EXISTS conflict_seq BIGINT;
