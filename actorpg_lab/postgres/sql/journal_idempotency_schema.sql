-- Idempotency keys of keyed appends (append(..., idempotency_key=...)): per stream and
-- key, what the append stored (first_seq, events) and a digest of its content, so a
-- retry with the same key and content returns those events instead of writing them
-- again, and other content is an IdempotencyConflictError.  Unkeyed appends never touch
-- this table.  Kept until pruned (PostgresJournal.prune_idempotency; the documented
-- retention is 7 days): a retry after pruning appends again.
CREATE TABLE IF NOT EXISTS {idempotency} (
    persistence_id TEXT        NOT NULL,
    key            TEXT        NOT NULL,   -- 1..512 characters
    first_seq      BIGINT      NOT NULL,
    events         INT         NOT NULL,
    digest         BYTEA       NOT NULL,   -- sha256 of the payloads, tags and metadata
    position       XID8        NOT NULL DEFAULT pg_current_xact_id(),
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    hits           INT         NOT NULL DEFAULT 0,  -- retries answered from here
    PRIMARY KEY (persistence_id, key)
);
CREATE INDEX IF NOT EXISTS {index} ON {idempotency} (created_at);
