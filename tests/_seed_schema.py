"""The journal tables exactly as the first release (the seed schema) created them: no
``position`` column.  Tests of migration and of unmigrated databases start from it."""

from __future__ import annotations

SEED_SCHEMA = """
CREATE TABLE events (
    persistence_id TEXT NOT NULL, sequence_nr BIGINT NOT NULL, payload TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '', timestamp BIGINT NOT NULL,
    PRIMARY KEY (persistence_id, sequence_nr));
CREATE TABLE events_tags (
    persistence_id TEXT NOT NULL, sequence_nr BIGINT NOT NULL, tag TEXT NOT NULL,
    timestamp BIGINT NOT NULL, PRIMARY KEY (tag, timestamp, persistence_id, sequence_nr));
CREATE INDEX events_tags_by_event ON events_tags (persistence_id, sequence_nr);
CREATE TABLE events_meta (persistence_id TEXT PRIMARY KEY, deleted_to BIGINT NOT NULL);
"""
