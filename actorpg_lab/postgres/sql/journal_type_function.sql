-- The ONE definition of an event's type: the name in the codec's envelope, which the
-- codec writes first and without spaces ({"$type":"bank.Deposited","$value":{...}}),
-- read from the first 1 KiB of the payload; NULL for plain JSON (no envelope).  The
-- name comes back as stored in the JSON text (JSON-escaped: compare with the escaped
-- form of a name).  IMMUTABLE, so the index {events}_by_type can be built on it: the
-- type needs no column, no backfill, and no stored row is ever rewritten.  The _v1 in
-- the name is part of the contract: this body is never changed; a different definition
-- would be a new function (_v2) with its own index.
CREATE OR REPLACE FUNCTION {function}(payload text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT substring(left(payload, 1024) from '^\{{"\$type":"((?:[^"\\]|\\.)*)"') $$
