-- Record one rejected write (see write_history_conflicts_schema.sql).
INSERT INTO {conflicts} (persistence_id, expected, actual, writer, timestamp)
VALUES (%(pid)s, %(expected)s, %(actual)s, %(writer)s, %(timestamp)s)
