-- Record one failed condition of a conditional append (see write_history_conflicts_schema.sql).
INSERT INTO {conflicts} (persistence_id, expected, actual, writer, timestamp, kind, query,
                         conflict_position, conflict_pid, conflict_seq)
VALUES (%(pid)s, %(expected)s, %(actual)s, %(writer)s, %(timestamp)s, 'condition', %(query)s,
        %(c_pos)s, %(c_pid)s, %(c_seq)s)
