SELECT revision FROM {table} WHERE persistence_id = %(pid)s
