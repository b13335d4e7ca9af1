-- The event journal: one row per event, one row per (event, tag), and the
-- high-water mark that keeps highest_seq from rewinding after a delete.
-- Run (in one transaction, under the schema advisory lock) only when the events
-- table does not exist yet; existing tables get what is missing piece by piece
-- (journal_add_position.sql, journal_index_*.sql) without blocking writers.
CREATE TABLE IF NOT EXISTS {events} (
    persistence_id TEXT   NOT NULL,
    sequence_nr    BIGINT NOT NULL,
    payload        TEXT   NOT NULL,          -- JSON
    tags           TEXT   NOT NULL DEFAULT '', -- CSV mirror of the tag rows
    timestamp      BIGINT NOT NULL,          -- epoch milliseconds (server clock)
    metadata       TEXT,                     -- JSON object (correlation_id, ...) or NULL
    -- the writing transaction's id: tag queries read below the visibility horizon in
    -- (position, persistence_id, sequence_nr) order (see actorpg_lab.query)
    position       XID8   NOT NULL DEFAULT pg_current_xact_id(),
    PRIMARY KEY (persistence_id, sequence_nr)
);

CREATE TABLE IF NOT EXISTS {tags} (
    persistence_id TEXT   NOT NULL,
    sequence_nr    BIGINT NOT NULL,
    tag            TEXT   NOT NULL,
    timestamp      BIGINT NOT NULL,
    position       XID8   NOT NULL DEFAULT pg_current_xact_id(),
    PRIMARY KEY (tag, timestamp, persistence_id, sequence_nr)
);

CREATE TABLE IF NOT EXISTS {meta} (
    persistence_id TEXT   PRIMARY KEY,
    deleted_to     BIGINT NOT NULL
);
