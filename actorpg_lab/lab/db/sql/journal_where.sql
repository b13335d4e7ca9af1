-- The optional filters shared by the journal loaders (a NULL value means "no filter"):
-- $ids persistence ids (a text[] literal, folded at plan time so the
-- planner estimates and uses the index), $from_seq..$to_seq sequence range (inclusive),
-- $since..$until time window in epoch ms [since, until), $tags_all / $tags_any /
-- $tags_not (JSON arrays) matched against the events table's CSV tag mirror.  The bounds'
-- defaults (0, max bigint, min bigint, max bigint: "no bound") fold to TRUE at plan time,
-- so an unfiltered load checks nothing per row.  (EventFilter.sql_values gives them.)
    ($ids::text[] IS NULL OR e.persistence_id = ANY ($ids::text[]))
AND ($from_seq::bigint = 0 OR e.sequence_nr >= $from_seq::bigint)
AND ($to_seq::bigint = 9223372036854775807 OR e.sequence_nr <= $to_seq::bigint)
AND ($since::bigint = (-9223372036854775807 - 1) OR e."timestamp" >= $since::bigint)
AND ($until::bigint = 9223372036854775807 OR e."timestamp" < $until::bigint)
AND ($tags_all::jsonb IS NULL
     OR string_to_array(e.tags, ',') @> ARRAY(SELECT jsonb_array_elements_text($tags_all::jsonb)))
AND ($tags_any::jsonb IS NULL
     OR string_to_array(e.tags, ',') && ARRAY(SELECT jsonb_array_elements_text($tags_any::jsonb)))
AND ($tags_not::jsonb IS NULL
     OR NOT (string_to_array(e.tags, ',') && ARRAY(SELECT jsonb_array_elements_text($tags_not::jsonb))))
