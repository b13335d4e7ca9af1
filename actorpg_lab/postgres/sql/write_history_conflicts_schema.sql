-- Opt-in history of rejected writes (log_conflicts=True): one row per write a store
-- rejected because the stream head / revision had moved (kind NULL) or because a
-- conditional append found an event its decision had not seen (kind 'condition', with
-- that event's key and the condition's query).  Written only on a conflict.
-- The key starts with persistence_id (Citus: distribute by it); id is this table's own
-- identity, so no sequence is shared with another table.
CREATE TABLE IF NOT EXISTS {conflicts} (
    persistence_id    TEXT   NOT NULL,
    id                BIGINT GENERATED ALWAYS AS IDENTITY,
    expected          BIGINT NOT NULL, -- the head / revision the writer expected
    actual            BIGINT NOT NULL, -- the head / revision found (read back after the failure)
    writer            TEXT   NOT NULL, -- who tried: host:pid unless the store was given writer=
    timestamp         BIGINT NOT NULL, -- epoch milliseconds
    kind              TEXT,            -- NULL: the head moved; 'condition': see below
    query             TEXT,            -- the condition's query, as text
    conflict_position BIGINT,          -- the conflicting event's key
    conflict_pid      TEXT,
    conflict_seq      BIGINT,
    PRIMARY KEY (persistence_id, id)
);
