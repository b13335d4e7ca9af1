-- Fragment of the multi-event append statements ({events_rows} in journal_append.sql
-- and journal_append_keyed.sql): the event rows, inserted only when
-- the head equals %(expected)s and the statement's own `guard` CTE says ok (its boundary
-- locks taken, its key new, its condition holding).  Arrays go in binary.
inserted_events AS (
    INSERT INTO {events} (persistence_id, sequence_nr, payload, tags, timestamp{metadata_column})
    SELECT %(pid)s, %(expected)s + e.ord, e.payload, e.tags, clock.ms{metadata_value}
    FROM unnest(%(payloads)b::text[], %(tags_csv)b::text[], %(metas)b::text[])
             WITH ORDINALITY AS e (payload, tags, meta, ord),
         head, clock, guard
    WHERE head.seq = %(expected)s AND guard.ok
    RETURNING sequence_nr, tags, pg_current_xact_id() AS position  -- = the column default
)
