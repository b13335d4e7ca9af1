-- THE definition of an event's type (a fragment; {payload} is the payload column): the
-- name in the codec's envelope, which the codec writes first and without spaces
-- ({"$type":"bank.Deposited","$value":{...}}), read from the first 1 KiB of the payload;
-- NULL for plain JSON (no envelope).  The name comes back as stored in the JSON text
-- (JSON-escaped).  Used by the IMMUTABLE type function (journal_type_function.sql) and
-- its index, and by the workbench's SQL, so a change of the envelope changes them all.
-- The common name (no backslash: nothing escaped) is cut out with plain string functions;
-- a name with an escape, or without its closing quote in the first 1 KiB, goes to the
-- regular expression (the exact rule, ~10x slower per row).  Both give the same result.
-- (chr(36) and [$] spell the dollar sign: the workbench binds $name placeholders.)
CASE WHEN starts_with({payload}, '{{"' || chr(36) || 'type":"') THEN
    CASE WHEN strpos(substr({payload}, 11, 1014), '"') > 0
              AND strpos(split_part(substr({payload}, 11, 1014), '"', 1), '\') = 0
         THEN split_part(substr({payload}, 11, 1014), '"', 1)
         ELSE substring(left({payload}, 1024) from '^\{{"[$]type":"((?:[^"\\]|\\.)*)"')
    END
END
