"""The workbench's projections room: the frame, the lag chart, the live widget and the
replayer opened at a failed event, against runners on the workbench's own journal."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from actorpg_lab import JournalEntry, PersistentEvent, lab
from actorpg_lab.lab.projections.frame import COLUMNS
from actorpg_lab.projections import Projection, ProjectionContext, ProjectionRunner


class Totals(Projection):
    """Sums ``amount`` per stream into ``totals``; an ``amount`` below 0 is a poison event."""

    name = "totals"
    tag_filter = "money"

    async def setup(self, ctx: ProjectionContext) -> None:
        await ctx.conn.execute("CREATE TABLE IF NOT EXISTS totals "
                               "(pid TEXT PRIMARY KEY, total BIGINT NOT NULL)")

    async def apply(self, ctx: ProjectionContext, events: list[PersistentEvent]) -> None:
        for event in events:
            amount = event.event["amount"]
            if amount < 0:
                raise ValueError(f"negative amount {amount}")
            await ctx.conn.execute(
                "INSERT INTO totals VALUES (%s, %s) ON CONFLICT (pid) DO UPDATE "
                "SET total = totals.total + excluded.total",
                (event.persistence_id, amount))

    async def reset(self, ctx: ProjectionContext) -> None:
        await ctx.conn.execute("TRUNCATE totals")


def _money(*amounts: int) -> list[JournalEntry]:
    return [JournalEntry({"amount": a}, tags=["money"]) for a in amounts]


@pytest.fixture
def runner(wb: lab.Workbench) -> Iterator[ProjectionRunner]:
    r = ProjectionRunner(wb.journal, [Totals()], lease_s=2.0, poll_interval=0.2)
    wb.run(r.start())
    try:
        yield r
    finally:
        wb.run(r.stop())


def test_no_checkpoint_table_is_an_empty_frame(wb: lab.Workbench) -> None:
    frame = wb.projections_frame()
    assert list(frame.columns) == list(COLUMNS) and frame.empty
    assert wb.projections.statuses() == []
    assert not wb.frames.table_exists("projection_checkpoints")  # reading created nothing


def test_frame_shows_a_caught_up_projection(wb: lab.Workbench, runner: ProjectionRunner) -> None:
    evs = wb.run(wb.journal.append("acct-1", _money(5, 7), 0))
    wb.run(runner.wait_for(evs, timeout=10))
    frame = wb.projections_frame()
    assert len(frame) == 1
    row = frame.iloc[0]
    assert (row["name"], row["version"], row["state"]) == ("totals", 1, "caught_up")
    assert row["position"] == evs[-1].position and row["handled"] == 2
    assert row["lag_events"] == 0 and not row["lag_capped"] and row["lag_seconds"] == 0
    assert row["owner"] == runner.owner and 0 <= row["heartbeat_age_s"] < 5
    assert row["failed_event"] is None and row["error"] is None
    assert frame["held_back_pid"].isna().all()
    assert str(frame["updated_at"].dtype) == "datetime64[ms, UTC]"
    ax = wb.plot_projection_lag()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["totals v1"]
    assert any("caught_up · 0 events" in t.get_text() for t in ax.texts)


def test_an_open_transaction_shows_as_held_back_with_its_pid(wb: lab.Workbench,
                                                             runner: ProjectionRunner) -> None:
    wb.run(runner.wait_for(wb.run(wb.journal.append("acct-1", _money(1), 0)), timeout=10))

    async def open_append() -> Any:
        conn = await wb.pool.getconn()
        await conn.execute("BEGIN")
        await wb.journal.append_in_transaction(conn, "acct-2", _money(3), 0)
        return conn

    conn = wb.run(open_append())
    try:
        wb.run(wb.journal.append("acct-3", _money(4), 0))  # commits behind the open one
        frame = wb.projections_frame()
        row = frame.iloc[0]
        assert row["state"] == "held_back", frame.to_dict("records")
        assert row["held_back_pid"] == conn.info.backend_pid and row["held_back_age_s"] >= 0
        watch = wb.watch_projections(every=60)
        try:
            shown = watch._table.value
            assert "data-state='held_back'" in shown
            assert f"held back by pid {conn.info.backend_pid}" in shown
        finally:
            watch.stop()
    finally:
        async def commit() -> None:
            await conn.execute("COMMIT")
            await wb.pool.putconn(conn)

        wb.run(commit())
    wb.run(runner.wait_for(wb.run(wb.journal.read("acct-3")), timeout=10))
    assert wb.projections_frame().iloc[0]["state"] == "caught_up"


def test_failed_event_is_in_the_frame_and_the_replayer_opens_there(
        wb: lab.Workbench, runner: ProjectionRunner) -> None:
    evs = wb.run(wb.journal.append("acct-1", _money(2, -1, 3), 0))

    async def failed() -> None:
        for _ in range(200):
            if (await runner.status())[0].state == "failed":
                return
            await asyncio.sleep(0.05)

    wb.run(failed())
    row = wb.projections_frame().iloc[0]
    assert row["state"] == "failed"
    assert row["failed_event"] == ("acct-1", 2) and "negative amount -1" in row["error"]
    assert row["handled"] == 1  # the event before it
    ax = wb.plot_projection_lag()
    assert any(t.get_text().startswith("failed · 2 events") for t in ax.texts)
    chart = wb.plot_projection_lag(interactive=True)  # the Plotly twin, same frame
    bar = chart.figure.data[0]
    assert list(bar.x) == ["totals v1"] and list(bar.y) == [2]
    assert bar.customdata[0][0] == "acct-1" and bar.customdata[0][1] == "failed"
    with pytest.raises(ValueError, match="interactive"):
        wb.plot_projection_lag(ax, interactive=True)

    def on_event(state: int, event: Any) -> int:
        return state + int(event["amount"])

    replayer = wb.projections.replay_failed_event((on_event, 0), "totals")
    assert replayer.persistence_id == "acct-1" and replayer.position == 2
    assert replayer.event is not None and replayer.event.sequence_nr == evs[1].sequence_nr
    with pytest.raises(ValueError, match="no projection 'nope'"):
        wb.projections.replay_failed_event((on_event, 0), "nope")


def test_the_watch_refreshes_in_place_and_stops_with_the_workbench(
        pg_url: str) -> None:
    wb = lab.connect(pg_url)
    r = ProjectionRunner(wb.journal, [Totals()], lease_s=2.0, poll_interval=0.2)
    wb.run(r.start())
    try:
        watch = wb.watch_projections(every=0.05)
        widget, table = watch.widget, watch._table
        assert watch.live and "actorpg-projections" in widget._dom_classes

        async def refreshed_past(n: int) -> None:
            while watch.refreshes <= n:
                await asyncio.sleep(0.01)

        wb.run(refreshed_past(watch.refreshes + 2), timeout=10)
        evs = wb.run(wb.journal.append("acct-1", _money(5), 0))
        wb.run(r.wait_for(evs, timeout=10))
        wb.run(refreshed_past(watch.refreshes + 1), timeout=10)
        assert watch.widget is widget and watch._table is table  # the same widget, redrawn
        assert "data-name='totals'" in table.value and "data-state='caught_up'" in table.value
        assert "totals v1: caught_up" in repr(watch)
        watch.stop()
        assert not watch.live
        with pytest.raises(ValueError, match="every"):
            wb.watch_projections(every=0)
        again = wb.watch_projections(every=30)
        assert again.live
    finally:
        wb.run(r.stop())
        wb.close()
    assert not again.live  # closing the workbench stopped it
