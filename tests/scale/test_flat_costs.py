"""The overview and the partition planner cost O(streams), not O(events).

Checked from the executed plan, not from a timing: EXPLAIN ANALYZE of the statements
the workbench runs, summing the rows every scan node read from the events table
(rows x loops).  A scan would read every event; the index probes read a few rows per
stream.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from actorpg_lab.lab import Workbench
from actorpg_lab.lab.db.literals import bind_literals
from actorpg_lab.lab.db.statements import render
from actorpg_lab.lab.frames.filter import ids_value

STREAMS, PER_STREAM = 30, 200


def rows_read_from(plan: dict[str, Any], relation: str) -> int:
    # "Actual Rows" is a per-loop average (fractional since PostgreSQL 18).
    total = 0.0
    if plan.get("Relation Name") == relation:
        total += float(plan.get("Actual Rows", 0)) * float(plan.get("Actual Loops", 1))
    for child in plan.get("Plans", []):
        total += rows_read_from(child, relation)
    return round(total)


def explain_rows(pg_url: str, statement: str) -> int:
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("ANALYZE events")
        row = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement).fetchone()
    assert row is not None
    value = row[0]
    plan = (value if isinstance(value, list) else orjson.loads(value))[0]["Plan"]
    return rows_read_from(plan, "events")


@pytest.fixture
def journal(wb: Workbench, pg_url: str) -> Workbench:
    import psycopg

    wb.run(wb.journal.highest_seq("creates-the-tables"))
    wb.run(wb.snapshot_store.load_latest("creates-the-table"))
    with psycopg.connect(pg_url) as conn, conn.cursor() as cur:
        with cur.copy("COPY events (persistence_id, sequence_nr, payload, tags, timestamp) "
                      "FROM STDIN") as copy:
            for k in range(STREAMS):
                copy.write("".join(f"s-{k:03d}\t{s}\t{{}}\t\t{s}\n"
                                   for s in range(1, PER_STREAM + 1)))
        conn.commit()
    return wb


@pytest.mark.parametrize("ids", [None, ["s-001", "s-007", "nope"]])
def test_streams_overview_reads_a_few_rows_per_stream(journal: Workbench, pg_url: str,
                                                      ids: list[str] | None) -> None:
    statement = bind_literals(render("streams_probe", events="events", meta="events_meta",
                                     snapshots="snapshots"),
                              {"ids": ids_value(ids)})
    read = explain_rows(pg_url, statement)
    assert 0 < read <= 4 * STREAMS, read  # a scan would read STREAMS * PER_STREAM = 6000
    frame = journal.streams_frame(persistence_ids=ids)
    assert len(frame) == (STREAMS if ids is None else 2)
    assert frame["events"].tolist() == [PER_STREAM] * len(frame)
    assert frame["head"].tolist() == [PER_STREAM] * len(frame)


def test_the_full_scan_is_what_stats_true_asks_for(journal: Workbench, pg_url: str) -> None:
    from actorpg_lab.lab.frames.columns import type_prefix

    statement = bind_literals(render("streams", events="events", meta="events_meta",
                                     snapshots="snapshots"),
                              {"ids": None, "type_prefix": type_prefix()})
    assert explain_rows(pg_url, statement) == STREAMS * PER_STREAM
    assert journal.streams_frame(stats=True)["events"].sum() == STREAMS * PER_STREAM


def test_partition_planning_reads_a_few_rows_per_stream(journal: Workbench, pg_url: str
                                                        ) -> None:
    statement = bind_literals(render("journal_streams", events="events"), {"ids": None})
    assert 0 < explain_rows(pg_url, statement) <= 4 * STREAMS
