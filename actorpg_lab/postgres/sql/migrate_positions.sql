-- Manual migration for journals created before positions existed (actorpg_lab 0.1),
-- for databases where the application role may not run DDL
-- (PostgresJournal(auto_create_tables=False)).  Run it as the tables' owner, e.g.
--
--     psql "$DATABASE_URL" -f migrate_positions.sql
--
-- It is idempotent.  It assumes the default table names events / events_tags; with
-- PostgresJournal(events_table="x") replace events by x and events_tags by x_tags (or
-- your tags_table), in the statements and in the index names.
--
-- What it does, and why it does not stall the application:
-- * adds the position column to both tables.  Rows already stored read position 0 (a
--   constant default is a catalog-only change: no table rewrite); new rows get the id
--   of the transaction that writes them.  ALTER TABLE needs an exclusive lock for a
--   moment: lock_timeout makes it give up (rerun the script) rather than queue the
--   application's writers behind it while a long transaction holds the table;
-- * builds the ordering indexes of tag queries CONCURRENTLY: writers keep writing.
--   (CREATE INDEX CONCURRENTLY cannot run inside a transaction block: run this file
--   with psql's default autocommit, not with --single-transaction.)

SET lock_timeout = '2s';

BEGIN;
ALTER TABLE events ADD COLUMN IF NOT EXISTS position XID8 NOT NULL DEFAULT '0';
ALTER TABLE events ALTER COLUMN position SET DEFAULT pg_current_xact_id();
ALTER TABLE events_tags ADD COLUMN IF NOT EXISTS position XID8 NOT NULL DEFAULT '0';
ALTER TABLE events_tags ALTER COLUMN position SET DEFAULT pg_current_xact_id();
COMMIT;

RESET lock_timeout;

-- A failed concurrent build leaves an INVALID index behind: drop it first if so
-- (DROP INDEX CONCURRENTLY events_by_position;) and rerun.
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_by_position
    ON events (position, persistence_id, sequence_nr);
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_tags_by_position
    ON events_tags (tag, position, persistence_id, sequence_nr);
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_tags_by_event
    ON events_tags (persistence_id, sequence_nr);
