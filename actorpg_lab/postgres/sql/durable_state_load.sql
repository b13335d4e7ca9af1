SELECT revision, payload, timestamp FROM {table} WHERE persistence_id = %(pid)s
