-- A clean stop: give the lease up at once so a standby takes over without waiting for
-- it to run out, and tell the standbys (NOTIFY, delivered at commit).
UPDATE {checkpoints}
SET owner = NULL, lease_until = NULL, updated_at = now()
WHERE name = %(name)s AND version = %(version)s AND owner = %(owner)s
RETURNING pg_notify(%(channel)s, name)
