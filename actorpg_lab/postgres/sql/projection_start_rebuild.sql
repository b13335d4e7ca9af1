-- The owner starts a rebuild (in the transaction that ran the projection's reset):
-- the checkpoint back to the start, the horizon it rebuilds up to, and how many events
-- that is (%(total)s, NULL when counting took too long).
UPDATE {checkpoints}
SET position = 0, persistence_id = '', sequence_nr = 0, handled = 0, last_event_ms = NULL,
    status = 'rebuilding', rebuild_total = %(total)s, rebuild_horizon = %(horizon)s,
    rebuild_started_at = now(), committed_at = now(), heartbeat_at = now(),
    lease_until = now() + %(lease_s)s * interval '1 second',
    error = NULL, error_pid = NULL, error_seq = NULL, error_at = NULL, updated_at = now()
WHERE name = %(name)s AND version = %(version)s AND owner = %(owner)s
RETURNING {columns}
