-- The event type of e.payload, inline: the body of the journal's <events>_type_v1 function
-- (postgres/sql/journal_type_function.sql), for a journal that does not have it yet.
substring(left(e.payload, 1024) from '^\{"\$type":"((?:[^"\\]|\\.)*)"')
