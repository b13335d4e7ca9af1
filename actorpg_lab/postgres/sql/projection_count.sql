-- How many events match a tag filter below %(horizon)s (a rebuild's total), bounded by
-- the caller's statement_timeout.  Same filter rules as the journal's tag queries.
SELECT count(*)
FROM {events} e
WHERE e.position < %(horizon)s::text::xid8
  AND (cardinality(%(all)s::text[]) = 0 OR string_to_array(e.tags, ',') @> %(all)s::text[])
  AND (NOT %(any_given)s OR string_to_array(e.tags, ',') && %(any)s::text[])
  AND (cardinality(%(not)s::text[]) = 0 OR NOT string_to_array(e.tags, ',') && %(not)s::text[])
