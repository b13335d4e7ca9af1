"""SQL-level invariant checks shared by the reliability tests.

These read the tables directly (not through the stores) so that a store bug cannot
hide itself: every stream contiguous from ``deleted_to + 1``, no duplicate rows,
the CSV tag mirror and the tag table agreeing both ways.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

#: The password of the test roles; no repr, message or log may ever contain it.
SECRET = f"S3cr3t-{uuid.uuid4().hex}-pässwörd"


@dataclass
class JournalSnapshot:
    """Everything in one journal's tables, read in one transaction."""

    events: dict[tuple[str, int], tuple[str, str, int]] = field(default_factory=dict)
    tag_rows: list[tuple[str, int, str, int]] = field(default_factory=list)
    deleted_to: dict[str, int] = field(default_factory=dict)

    def stream(self, pid: str) -> list[int]:
        return sorted(seq for (p, seq) in self.events if p == pid)

    @property
    def pids(self) -> set[str]:
        return {p for p, _ in self.events} | set(self.deleted_to)


def read_journal_tables(url: str, events_table: str = "events") -> JournalSnapshot:
    """Read events, tag rows and deletion marks of one journal (REPEATABLE READ)."""
    snap = JournalSnapshot()
    ident = sql.Identifier
    with psycopg.connect(url) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with conn.transaction():
            rows = conn.execute(
                sql.SQL("SELECT persistence_id, sequence_nr, payload, tags, timestamp FROM {}")
                .format(ident(events_table))
            ).fetchall()
            dup = conn.execute(
                sql.SQL("SELECT count(*) - count(DISTINCT (persistence_id, sequence_nr)) FROM {}")
                .format(ident(events_table))
            ).fetchone()
            assert dup is not None and dup[0] == 0, "duplicate (persistence_id, sequence_nr) rows"
            for pid, seq, payload, tags, ts in rows:
                snap.events[(pid, int(seq))] = (payload, tags, int(ts))
            snap.tag_rows = [
                (p, int(s), t, int(ts))
                for p, s, t, ts in conn.execute(
                    sql.SQL("SELECT persistence_id, sequence_nr, tag, timestamp FROM {}")
                    .format(ident(f"{events_table}_tags"))
                ).fetchall()
            ]
            snap.deleted_to = {
                p: int(d)
                for p, d in conn.execute(
                    sql.SQL("SELECT persistence_id, deleted_to FROM {}")
                    .format(ident(f"{events_table}_meta"))
                ).fetchall()
            }
    return snap


def assert_journal_consistent(snap: JournalSnapshot) -> None:
    """Every stream contiguous after its mark; tag rows == CSV mirror, both ways."""
    for pid in snap.pids:
        seqs = snap.stream(pid)
        start = snap.deleted_to.get(pid, 0) + 1
        if seqs:
            assert seqs == list(range(start, start + len(seqs))), (
                f"stream {pid!r} is not contiguous from {start}: "
                f"first={seqs[0]} last={seqs[-1]} count={len(seqs)}"
            )
    from_csv = {
        (pid, seq, tag, ts)
        for (pid, seq), (_, tags, ts) in snap.events.items()
        for tag in (tags.split(",") if tags else [])
    }
    rows = set(snap.tag_rows)
    assert len(rows) == len(snap.tag_rows), "duplicate tag rows"
    extra = sorted(rows - from_csv)[:5]
    assert not extra, f"tag rows without a matching event/CSV tag: {extra}"
    assert from_csv - rows == set(), f"CSV tags without a tag row: {sorted(from_csv - rows)[:5]}"


def count_connections(dsn: str, application_name: str | None = None) -> int:
    """Client backends connected to the server (optionally with one application_name)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        query = "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
        params: list[Any] = []
        if application_name is not None:
            query += " AND application_name = %s"
            params.append(application_name)
        row = conn.execute(query, params).fetchone()
        assert row is not None
        return int(row[0]) - (1 if application_name is None else 0)


def settled_connections(dsn: str, application_name: str, expected: int = 0,
                        timeout: float = 10.0) -> tuple[int, list[tuple[Any, ...]]]:
    """``(count, rows)`` of ``application_name``'s client backends once the count is
    ``expected`` or ``timeout`` seconds passed.  A closed connection's backend leaves
    ``pg_stat_activity`` a moment after the client's Terminate (later on a loaded
    machine); a leaked connection stays.  ``rows``: (pid, state, query) of what is left."""
    deadline = time.monotonic() + timeout
    while True:
        count = count_connections(dsn, application_name)
        if count == expected or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid, state, left(query, 120) FROM pg_stat_activity "
            "WHERE backend_type = 'client backend' AND application_name = %s",
            [application_name]).fetchall()
    return count, rows
