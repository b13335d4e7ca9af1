-- The ordering index of tag queries that are not driven by a tag (the empty filter,
-- not_-only filters): events in (position, persistence_id, sequence_nr) order.
CREATE INDEX {concurrently} IF NOT EXISTS {index} ON {events} (position, persistence_id, sequence_nr);
