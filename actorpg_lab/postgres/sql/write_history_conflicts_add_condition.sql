-- Migration of a conflicts table created before conditional appends were logged: the
-- nullable columns of a 'condition' row (see write_history_conflicts_schema.sql).  No
-- default: catalog-only, no rewrite; older rows read NULL (a head conflict).
ALTER TABLE {conflicts} ADD COLUMN IF NOT EXISTS kind TEXT,
    ADD COLUMN IF NOT EXISTS query TEXT,
    ADD COLUMN IF NOT EXISTS conflict_position BIGINT,
    ADD COLUMN IF NOT EXISTS conflict_pid TEXT,
    ADD COLUMN IF NOT EXISTS conflict_seq BIGINT;
