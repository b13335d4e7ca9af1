-- The checkpoint row of (name, version), created at the start when missing (a racing
-- creator's row wins: ON CONFLICT DO NOTHING); projection_select.sql reads it back.
INSERT INTO {checkpoints} (name, version, tag_filter)
VALUES (%(name)s, %(version)s, %(tag_filter)s)
ON CONFLICT (name, version) DO NOTHING
