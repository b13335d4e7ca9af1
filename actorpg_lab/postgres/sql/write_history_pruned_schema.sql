-- Opt-in history of pruned snapshots (log_pruning=True): one row per snapshot the store
-- deleted to keep the newest keep_n.  Written only when something was pruned.
-- The key starts with persistence_id (Citus: distribute by it).
CREATE TABLE IF NOT EXISTS {pruned} (
    persistence_id TEXT   NOT NULL,
    sequence_nr    BIGINT NOT NULL,
    saved_at       BIGINT NOT NULL, -- epoch milliseconds: when the snapshot was saved
    pruned_at      BIGINT NOT NULL, -- epoch milliseconds: when it was pruned
    writer         TEXT   NOT NULL, -- host:pid unless the store was given writer=
    PRIMARY KEY (persistence_id, sequence_nr, pruned_at)
);
