-- The dead letters of one projection (or all), oldest first.
SELECT name, version, persistence_id, sequence_nr, position, error,
       (extract(epoch FROM at) * 1000)::bigint AS at_ms
FROM {dead_letters}
WHERE (%(name)s::text IS NULL OR name = %(name)s)
  AND (%(version)s::int IS NULL OR version = %(version)s)
ORDER BY at, name, version, position, persistence_id, sequence_nr
