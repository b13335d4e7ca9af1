-- Create a record at revision 1; no row comes back when the key already exists.
INSERT INTO {table} (persistence_id, revision, payload, timestamp)
VALUES (%(pid)s, 1, %(payload)s, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)
ON CONFLICT (persistence_id) DO NOTHING
RETURNING revision, timestamp
