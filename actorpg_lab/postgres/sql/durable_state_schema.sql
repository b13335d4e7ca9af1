-- Durable state: one row per key, updated by revision compare-and-set.
CREATE TABLE IF NOT EXISTS {table} (
    persistence_id TEXT   PRIMARY KEY,
    revision       BIGINT NOT NULL,
    payload        TEXT   NOT NULL, -- JSON
    timestamp      BIGINT NOT NULL  -- epoch milliseconds
);
