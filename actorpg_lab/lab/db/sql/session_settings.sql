-- Run once on the loader's own ADBC connection after it opens.
-- Memoize only adds a hash probe per row to tag_frame's primary-key lookups (every
-- (persistence_id, sequence_nr) is looked up once, so the cache never hits): measured
-- 0.64 s -> 0.48 s for one tag of 1M events / 100k tagged.
SET enable_memoize = off
