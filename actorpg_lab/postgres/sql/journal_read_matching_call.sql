-- read_matching through journal_read_matching_function.sql, prepared on the warm
-- connection (its parameters as that file describes them).
SELECT * FROM {function}(%(match_all)s, %(lo)s, %(snap)s, %(u_pos)s, %(u_pid)s,
                         %(u_seq)s::bigint, %(a_pos)s, %(a_pid)s, %(a_seq)s::bigint,
                         %(items)s::json, %(item_types)s::json, %(type_items)s::json,
                         %(limit)s::bigint)
