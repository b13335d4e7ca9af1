-- Manual creation of the projection tables, for databases where the application role
-- may not run DDL (ProjectionRunner(..., auto_create_tables=False), or a journal built
-- with auto_create_tables=False).  Run it as the tables' owner, e.g.
--
--     psql "$DATABASE_URL" -f migrate_projections.sql
--
-- It is idempotent.  It assumes the default checkpoints_table "projection_checkpoints";
-- with ProjectionRunner(checkpoints_table="x") replace projection_checkpoints by x and
-- projection_checkpoints_dead_letters by x_dead_letters.  The runner itself needs only
-- SELECT, INSERT, UPDATE (checkpoints) and SELECT, INSERT, UPDATE (dead letters).

CREATE TABLE IF NOT EXISTS projection_checkpoints (
    name               TEXT        NOT NULL,
    version            INT         NOT NULL,
    tag_filter         TEXT        NOT NULL,
    position           BIGINT      NOT NULL DEFAULT 0,
    persistence_id     TEXT        NOT NULL DEFAULT '',
    sequence_nr        BIGINT      NOT NULL DEFAULT 0,
    handled            BIGINT      NOT NULL DEFAULT 0,
    last_event_ms      BIGINT,
    committed_at       TIMESTAMPTZ,
    status             TEXT        NOT NULL DEFAULT 'running',
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

CREATE TABLE IF NOT EXISTS projection_checkpoints_dead_letters (
    name           TEXT        NOT NULL,
    version        INT         NOT NULL,
    persistence_id TEXT        NOT NULL,
    sequence_nr    BIGINT      NOT NULL,
    position       BIGINT      NOT NULL,
    error          TEXT        NOT NULL,
    at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version, persistence_id, sequence_nr)
);
