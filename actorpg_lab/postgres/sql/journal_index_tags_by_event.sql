-- Lets delete() find the tag rows of a stream prefix without scanning every tag.
CREATE INDEX {concurrently} IF NOT EXISTS {index} ON {tags} (persistence_id, sequence_nr);
