-- The event journal: one row per event, one row per (event, tag), and the
-- high-water mark that keeps highest_seq from rewinding after a delete.
CREATE TABLE IF NOT EXISTS {events} (
    persistence_id TEXT   NOT NULL,
    sequence_nr    BIGINT NOT NULL,
    payload        TEXT   NOT NULL,          -- JSON
    tags           TEXT   NOT NULL DEFAULT '', -- CSV mirror of the tag rows
    timestamp      BIGINT NOT NULL,          -- epoch milliseconds (server clock)
    PRIMARY KEY (persistence_id, sequence_nr)
);

CREATE TABLE IF NOT EXISTS {tags} (
    persistence_id TEXT   NOT NULL,
    sequence_nr    BIGINT NOT NULL,
    tag            TEXT   NOT NULL,
    timestamp      BIGINT NOT NULL,
    PRIMARY KEY (tag, timestamp, persistence_id, sequence_nr)
);

-- Lets delete() find the tag rows of a stream prefix without scanning every tag.
CREATE INDEX IF NOT EXISTS {tags_by_event} ON {tags} (persistence_id, sequence_nr);

CREATE TABLE IF NOT EXISTS {meta} (
    persistence_id TEXT   PRIMARY KEY,
    deleted_to     BIGINT NOT NULL
);
