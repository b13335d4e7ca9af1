-- Compare-and-set: only the writer that read revision %(expected)s moves it forward.
UPDATE {table}
SET revision = revision + 1,
    payload = %(payload)s,
    timestamp = (extract(epoch FROM clock_timestamp()) * 1000)::bigint
WHERE persistence_id = %(pid)s AND revision = %(expected)s
RETURNING revision, timestamp
