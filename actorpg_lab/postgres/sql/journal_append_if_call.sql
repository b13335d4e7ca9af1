-- A conditional append (one or a group): journal_append_if_function.sql, called as its
-- own transaction on the warm connection.  %(keys)b in binary, %(exclusive)s as an
-- array literal, the JSON texts as journal_append_if.sql describes them.
SELECT * FROM {function}(%(keys)b, %(exclusive)s::boolean[], %(lock_timeout)s, %(lock_all)s,
                         %(reqs)s::json, %(items)s::json, %(item_types)s::json,
                         %(type_items)s::json, %(events)s::json, %(notify)s, %(channel)s)
