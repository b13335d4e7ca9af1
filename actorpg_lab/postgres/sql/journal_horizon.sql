-- The visibility horizon (every transaction below it has ended) and whether committed
-- events wait at or above it, i.e. are held back by a transaction still open.
SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon,
       EXISTS (SELECT 1 FROM {events}
               WHERE position >= pg_snapshot_xmin(pg_current_snapshot())) AS held_back
