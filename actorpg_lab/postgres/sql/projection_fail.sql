-- Record a handler failure (the failing event and the error) on the owner's row;
-- %(failed)s: on_error="stop" (status failed) or a retry (status unchanged).
UPDATE {checkpoints}
SET error = %(error)s, error_pid = %(pid)s, error_seq = %(seq)s, error_at = now(),
    status = CASE WHEN %(failed)s THEN 'failed' ELSE status END,
    heartbeat_at = now(), updated_at = now()
WHERE name = %(name)s AND version = %(version)s AND owner = %(owner)s
RETURNING {columns}
