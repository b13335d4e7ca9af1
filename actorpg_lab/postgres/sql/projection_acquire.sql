-- Take (or renew) the lease: only when nobody owns the row, this runner does, or the
-- owner's lease has run out (server clock).  The status is left as it is (a runner that
-- takes a "failed" row over retries it; its first committed batch sets it running).
-- Returns the row, or nothing when another runner holds a live lease.
-- The caller first checks with projection_select (no lock) so a standby does not
-- queue on the row lock of the owner's open batch; lock_timeout bounds that wait.
UPDATE {checkpoints}
SET owner = %(owner)s,
    lease_until = now() + %(lease_s)s * interval '1 second',
    heartbeat_at = now(),
    updated_at = now()
WHERE name = %(name)s AND version = %(version)s
  AND (owner IS NULL OR owner = %(owner)s OR lease_until < now())
RETURNING {columns}
