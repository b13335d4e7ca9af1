-- Fragment of the append statements ({tag_rows}): the tag rows, derived from the CSV
-- mirror of the event rows actually inserted (tags never contain commas), so no separate
-- tag arrays travel.
inserted_tags AS (
    INSERT INTO {tags} (persistence_id, sequence_nr, tag, timestamp)
    SELECT %(pid)s, i.sequence_nr, t.tag, clock.ms
    FROM inserted_events i
         CROSS JOIN LATERAL unnest(string_to_array(i.tags, ',')) AS t (tag),
         clock
    WHERE i.tags <> ''
)
