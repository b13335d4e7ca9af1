-- The first statement of every batch transaction: move the checkpoint from the key the
-- batch was read after (%(p_*)s) to its last event's key (%(n_*)s), only while this
-- runner owns the row, nothing else moved it and nobody paused it or asked for a
-- rebuild meanwhile (compare-and-set).  No row: the caller rolls back and re-reads the
-- row (fenced when another owner has it).  The row lock taken here is held until COMMIT, so a standby
-- taking over waits for this batch and then sees the renewed lease.  The NOTIFY wakes
-- wait_for callers once the batch commits; a hung handler is cut off by the
-- transaction-local idle timeout (the row lock is never pinned for long).
UPDATE {checkpoints}
SET position = %(n_position)s, persistence_id = %(n_pid)s, sequence_nr = %(n_seq)s,
    handled = handled + %(count)s,
    last_event_ms = COALESCE(%(last_event_ms)s, last_event_ms),
    committed_at = now(), heartbeat_at = now(),
    lease_until = now() + %(lease_s)s * interval '1 second',
    status = CASE WHEN %(finish_rebuild)s THEN 'running'
                  WHEN status = 'failed' THEN 'running' ELSE status END,
    rebuild_total = CASE WHEN %(finish_rebuild)s THEN NULL ELSE rebuild_total END,
    rebuild_horizon = CASE WHEN %(finish_rebuild)s THEN NULL ELSE rebuild_horizon END,
    error = CASE WHEN %(keep_error)s THEN error END,
    error_pid = CASE WHEN %(keep_error)s THEN error_pid END,
    error_seq = CASE WHEN %(keep_error)s THEN error_seq END,
    error_at = CASE WHEN %(keep_error)s THEN error_at END,
    updated_at = now()
WHERE name = %(name)s AND version = %(version)s AND owner = %(owner)s
  AND position = %(p_position)s AND persistence_id = %(p_pid)s AND sequence_nr = %(p_seq)s
  AND status NOT IN ('paused', 'rebuild_requested')  -- asked meanwhile: the runner re-reads
RETURNING status,
          pg_notify(%(channel)s, name),
          set_config('idle_in_transaction_session_timeout', %(idle_ms)s, true),
          set_config('statement_timeout', %(idle_ms)s, true),
          CASE WHEN %(sync_off)s THEN set_config('synchronous_commit', 'off', true) END
