-- The ordering index of tag queries: one tag's events in (position, persistence_id,
-- sequence_nr) order.
CREATE INDEX {concurrently} IF NOT EXISTS {index} ON {tags} (tag, position, persistence_id, sequence_nr);
