-- check_streams: the stored text of one event (or no row when it is missing).
-- $1 persistence id, $2 sequence number.
SELECT e.payload FROM {events} e WHERE e.persistence_id = $1 AND e.sequence_nr = $2
