-- Delete a stream's snapshots up to and including %(to_seq)s.
DELETE FROM {snapshots} WHERE persistence_id = %(pid)s AND sequence_nr <= %(to_seq)s
