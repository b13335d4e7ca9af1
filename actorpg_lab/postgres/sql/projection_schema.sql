-- Projection checkpoints (one row per projection name and version) and the dead letters
-- of on_error="skip".  Created together (one script, under the schema advisory lock)
-- by ProjectionRunner with auto_create_tables; migrate_projections.sql for a DBA.
-- position/persistence_id/sequence_nr: the key of the last event handled (tag-query
-- order, exact: only ever read below the visibility horizon); (0, '', 0) = the start.
-- owner/lease_until/heartbeat_at: the lease (server clock); a batch commits only while
-- owner is the runner (compare-and-set on owner and the previous key).
CREATE TABLE IF NOT EXISTS {checkpoints} (
    name               TEXT        NOT NULL,
    version            INT         NOT NULL,
    tag_filter         TEXT        NOT NULL,   -- JSON; a change needs a version bump
    position           BIGINT      NOT NULL DEFAULT 0,
    persistence_id     TEXT        NOT NULL DEFAULT '',
    sequence_nr        BIGINT      NOT NULL DEFAULT 0,
    handled            BIGINT      NOT NULL DEFAULT 0,
    last_event_ms      BIGINT,                 -- stored timestamp of the last event handled
    committed_at       TIMESTAMPTZ,
    status             TEXT        NOT NULL DEFAULT 'running',
        -- running | paused | failed | rebuild_requested | rebuilding
    owner              TEXT,
    lease_until        TIMESTAMPTZ,
    heartbeat_at       TIMESTAMPTZ,
    rebuild_total      BIGINT,
    rebuild_horizon    BIGINT,
    rebuild_started_at TIMESTAMPTZ,
    error              TEXT,
    error_pid          TEXT,
    error_seq          BIGINT,
    error_at           TIMESTAMPTZ,
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);

CREATE TABLE IF NOT EXISTS {dead_letters} (
    name           TEXT        NOT NULL,
    version        INT         NOT NULL,
    persistence_id TEXT        NOT NULL,
    sequence_nr    BIGINT      NOT NULL,
    position       BIGINT      NOT NULL,
    error          TEXT        NOT NULL,
    at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version, persistence_id, sequence_nr)
);
