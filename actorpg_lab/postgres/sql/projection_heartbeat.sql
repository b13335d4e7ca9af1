-- Renew the lease of an idle owner; no row: the ownership was taken over (fenced).
UPDATE {checkpoints}
SET lease_until = now() + %(lease_s)s * interval '1 second', heartbeat_at = now()
WHERE name = %(name)s AND version = %(version)s AND owner = %(owner)s
RETURNING {columns}
