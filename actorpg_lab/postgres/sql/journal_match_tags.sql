-- DCB query branch (see journal_match.sql): the events of the tag items (%(ti_*)s, one
-- row per item), driven by each item's first tag, of one of its types (%(tt_*)s) if any.
-- "t.tag = ANY (%(ti_tag)s)" repeats the join's condition for the planner: the tags of
-- the unnested array have no statistics, so it estimated each by the column's average
-- and, with few distinct tags, planned a scan of every event even for a tag no event
-- carries (1M events, 10 tags: 630 ms); with the array's values in sight it estimates
-- each tag from the tag statistics and probes the tag index (0.8 ms).
SELECT e.position, e.persistence_id, e.sequence_nr, e.payload, e.tags, e.timestamp,
       {metadata} AS metadata
FROM unnest(%(ti_idx)s::int[], %(ti_tag)s::text[], %(ti_tags)s::text[], %(ti_typed)s::bool[])
         AS it (idx, tag, tags, typed)
     JOIN {tags} t ON t.tag = it.tag AND t.position >= %(lo)s::text::xid8
     JOIN {events} e ON e.persistence_id = t.persistence_id AND e.sequence_nr = t.sequence_nr
WHERE t.tag = ANY (%(ti_tag)s::text[])
  AND string_to_array(e.tags, ',') @> string_to_array(it.tags, ',')
  AND (NOT it.typed OR {type_fn}(e.payload) IN (
        SELECT tt.name FROM unnest(%(tt_idx)s::int[], %(tt_name)s::text[]) AS tt (idx, name)
        WHERE tt.idx = it.idx))
  AND {after}
