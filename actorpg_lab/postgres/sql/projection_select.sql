-- One checkpoint row (%(name)s NULL: every row), ordered by name and version.
SELECT {columns} FROM {checkpoints}
WHERE (%(name)s::text IS NULL OR name = %(name)s)
  AND (%(version)s::int IS NULL OR version = %(version)s)
ORDER BY name, version
