-- Save (or replace) the snapshot at (persistence_id, sequence_nr).
INSERT INTO {snapshots} AS s (persistence_id, sequence_nr, payload, timestamp)
VALUES (%(pid)s, %(seq)s, %(payload)s, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)
ON CONFLICT (persistence_id, sequence_nr)
DO UPDATE SET payload = EXCLUDED.payload, timestamp = EXCLUDED.timestamp
RETURNING timestamp
