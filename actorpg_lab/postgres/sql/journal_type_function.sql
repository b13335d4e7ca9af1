-- An event's type as a function: {expression} is journal_type_expression.sql (THE
-- definition) over the payload.  IMMUTABLE, so the index {events}_by_type can be built on it: the
-- type needs no column, no backfill, and no stored row is ever rewritten.  The _v1 in
-- the name is part of the contract: this body is never changed; a different definition
-- would be a new function (_v2) with its own index.
CREATE OR REPLACE FUNCTION {function}(payload text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT {expression} $$
