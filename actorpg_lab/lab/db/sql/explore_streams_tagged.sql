-- wb.explore() with a tag: like explore_streams_recent.sql, but the walk is the tag's rows
-- of {tags} by (tag, position, persistence_id, sequence_nr) descending (the tags table's
-- position index), each joined to its event by primary key for the other filters.
-- %(cursor_pos)s/%(cursor_pid)s/%(cursor_seq)s: where the previous page stopped (NULL: the
-- top); %(floor_pos)s: no row below this position can match (the time window's start);
-- %(seen)s: the streams earlier pages showed (skipped).  A NULL filter folds away at plan
-- time.  Returns up to %(page)s rows of kind 'stream' (newest first), then one row of
-- kind 'end': the lowest row scanned and how many were scanned (fewer than %(scan)s:
-- the walk reached the bottom).
WITH scanned AS (
    SELECT t.persistence_id, t.sequence_nr, t.position
    FROM {tags} t
    JOIN {events} e ON e.persistence_id = t.persistence_id AND e.sequence_nr = t.sequence_nr
    WHERE t.tag = %(tag)s::text
      AND t.position <= coalesce(%(cursor_pos)s::text, '18446744073709551615')::xid8
      AND t.position >= coalesce(%(floor_pos)s::text, '0')::xid8
      AND (%(cursor_pid)s::text IS NULL
           OR (t.position, t.persistence_id, t.sequence_nr)
              < (%(cursor_pos)s::text::xid8, %(cursor_pid)s::text, %(cursor_seq)s::bigint))
      AND (%(type)s::text IS NULL OR {type_expr} = %(type)s::text)
      AND (%(prefix)s::text IS NULL OR starts_with(t.persistence_id, %(prefix)s::text))
      AND t."timestamp" >= coalesce(%(since)s::bigint, -9223372036854775808)
      AND t."timestamp" < coalesce(%(until)s::bigint, 9223372036854775807)
    ORDER BY t.tag DESC, t.position DESC, t.persistence_id DESC, t.sequence_nr DESC
    LIMIT %(scan)s
),
{page_tail}
