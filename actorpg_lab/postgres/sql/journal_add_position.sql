-- Migration of a journal created before positions existed: both tables get the
-- position column.  Rows already stored read position 0 (a constant default is a
-- catalog-only change: no table rewrite); new rows get the writing transaction's id.
-- Run with a short lock_timeout and retried, so it never queues in front of writers.
ALTER TABLE {events} ADD COLUMN IF NOT EXISTS position XID8 NOT NULL DEFAULT '0';
ALTER TABLE {events} ALTER COLUMN position SET DEFAULT pg_current_xact_id();
ALTER TABLE {tags} ADD COLUMN IF NOT EXISTS position XID8 NOT NULL DEFAULT '0';
ALTER TABLE {tags} ALTER COLUMN position SET DEFAULT pg_current_xact_id();
