-- Snapshots of actor state; the store keeps the newest keep_n per stream.
CREATE TABLE IF NOT EXISTS {snapshots} (
    persistence_id TEXT   NOT NULL,
    sequence_nr    BIGINT NOT NULL,
    payload        TEXT   NOT NULL, -- JSON
    timestamp      BIGINT NOT NULL, -- epoch milliseconds
    PRIMARY KEY (persistence_id, sequence_nr)
);
