-- Migration of a journal created before event metadata existed: the events table gets
-- the nullable metadata column (JSON text: correlation_id, causation_id and the rest).
-- No default: a catalog-only change, no table rewrite; rows stored before read NULL
-- (no metadata).  Run with a short lock_timeout and retried, so it never queues in
-- front of writers.
ALTER TABLE {events} ADD COLUMN IF NOT EXISTS metadata TEXT;
