-- wb.explore(): one page of the stream list, latest activity first, from a bounded index
-- walk (at most %(scan)s rows read, so a page costs the same on any journal): the events
-- by (position, persistence_id, sequence_nr) descending -- with a type, the planner
-- walks {events}_by_type instead (same order within one type).  Each stream shows up once,
-- at its newest event that passes every filter.
-- %(cursor_pos)s/%(cursor_pid)s/%(cursor_seq)s: where the previous page stopped (NULL: the
-- top); %(floor_pos)s: no row below this position can match (the time window's start);
-- %(seen)s: the streams earlier pages showed (skipped).  A NULL filter folds away at plan
-- time.  Returns up to %(page)s rows of kind 'stream' (newest first), then one row of
-- kind 'end': the lowest row scanned and how many were scanned (fewer than %(scan)s:
-- the walk reached the bottom).
WITH scanned AS (
    SELECT e.persistence_id, e.sequence_nr, e.position
    FROM {events} e
    WHERE e.position <= coalesce(%(cursor_pos)s::text, '18446744073709551615')::xid8
      AND e.position >= coalesce(%(floor_pos)s::text, '0')::xid8
      AND (%(cursor_pid)s::text IS NULL
           OR (e.position, e.persistence_id, e.sequence_nr)
              < (%(cursor_pos)s::text::xid8, %(cursor_pid)s::text, %(cursor_seq)s::bigint))
      AND (%(type)s::text IS NULL OR {type_expr} = %(type)s::text)
      AND (%(prefix)s::text IS NULL OR starts_with(e.persistence_id, %(prefix)s::text))
      AND (%(tag)s::text IS NULL OR %(tag)s::text = ANY (string_to_array(e.tags, ',')))
      AND e."timestamp" >= coalesce(%(since)s::bigint, -9223372036854775808)
      AND e."timestamp" < coalesce(%(until)s::bigint, 9223372036854775807)
    ORDER BY e.position DESC, e.persistence_id DESC, e.sequence_nr DESC
    LIMIT %(scan)s
),
{page_tail}
