-- The events of a type in (position, persistence_id, sequence_nr) order: what a DCB
-- query item with types and no tags reads (and the workbench's type counts).  Built on
-- the IMMUTABLE {function} (journal_type_function.sql): old rows are covered as the
-- index is built, nothing is rewritten.
CREATE INDEX {concurrently} IF NOT EXISTS {index}
    ON {events} ({function}(payload), position, persistence_id, sequence_nr);
