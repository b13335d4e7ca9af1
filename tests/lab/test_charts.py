"""The charts: relative ms time axes, legends outside the data, labels that do not
overlap, writer names as the code gave them, sequence numbers on pruning plots."""

from __future__ import annotations

from typing import Any

import pandas as pd

from actorpg_lab import DurableStateConcurrencyError, lab
from actorpg_lab.lab.history.charts import place_labels, writer_labels


def _overlaps(ax: Any) -> list[tuple[str, str]]:
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in ax.texts]
    return [(a, b) for i, (a, ba) in enumerate(boxes) for b, bb in boxes[i + 1:]
            if ba.overlaps(bb)]


def _legend_outside(ax: Any) -> bool:
    legend = ax.get_legend()
    if legend is None:
        return False
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    return bool(legend.get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1)


def test_place_labels_never_overlap_on_a_crowded_row() -> None:
    import matplotlib.pyplot as plt

    _fig, ax = plt.subplots(figsize=(4, 2))
    xs = [0.0, 0.1, 0.2, 0.3, 5.0, 10.0]
    ax.plot(xs, [0] * len(xs))
    place_labels(ax, xs, [0] * len(xs), ["12≠13"] * len(xs))
    assert _overlaps(ax) == []


def test_writer_labels_drop_the_shared_process_prefix() -> None:
    names, note = writer_labels(["20256/writer-1", "20256/writer-2"])
    assert names == {"20256/writer-1": "writer-1", "20256/writer-2": "writer-2"}
    assert note == "process 20256"
    mixed = ["h:1/writer-1", "h:2/writer-1"]
    assert writer_labels(mixed) == ({w: w for w in mixed}, "")


def test_conflict_timeline_uses_ms_since_start_and_code_given_names(wb: lab.Workbench) -> None:
    with wb.record_conflicts() as rec:
        lab.demo.seed_counters(wb, keys=["c"], writers=3, increments=4)
    ax = rec.plot_timeline(persistence_id="c")
    assert ax.get_xlabel().startswith("ms since ")
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks == ["writer-1", "writer-2", "writer-3"]
    assert _legend_outside(ax) and _overlaps(ax) == []
    assert max(ax.get_xlim()) < 60_000  # milliseconds of a short race, not epoch values
    history = lab.plot_conflict_timeline(rec.frame())
    assert history.get_xlabel().startswith("ms since ") and _overlaps(history) == []


def test_pruning_plots_put_sequence_numbers_on_x(wb: lab.Workbench) -> None:
    with wb.record_snapshots() as snaps:
        lab.demo.seed_bank(wb, accounts=3, operations=60, seed=2, snapshot_every=3)
    ax = snaps.plot()
    assert ax.get_xlabel().startswith("sequence_nr") and _legend_outside(ax)
    head = int(wb.streams_frame()["head"].max())
    assert 0 <= ax.get_xlim()[0] and ax.get_xlim()[1] <= head + 5
    hist = lab.plot_pruning_history(snaps.lifetimes())
    assert hist.get_xlabel().startswith("snapshot sequence_nr")
    cost = wb.plot_recovery_cost()
    labels = [t.get_text() for t in cost.texts]
    assert labels and all(t.startswith("account-") for t in labels)
    assert _overlaps(cost) == [] and _legend_outside(cost)


def test_what_if_chart_shows_each_policy(wb: lab.Workbench) -> None:
    lab.demo.seed_bank(wb, accounts=3, operations=40, seed=3)
    ax = wb.plot_what_if(every_n=[None, 2, 5], keep_n=[1, 3])
    [line] = ax.get_lines()
    what = wb.what_if(every_n=[None, 2, 5], keep_n=[1])
    assert sorted(line.get_xdata()) == sorted(what["snapshots_written"])
    assert {t.get_text() for t in ax.texts} == {"never", "every 2", "every 5"}
    assert _legend_outside(ax) and _overlaps(ax) == []
    import pytest

    with pytest.raises(ValueError, match="what_if"):
        lab.plot_what_if(pd.DataFrame({"x": [1]}))


def test_run_names_the_writer(wb: lab.Workbench) -> None:
    import pytest

    store = wb.durable_state_store
    with wb.record_conflicts() as rec:
        wb.run(store.upsert("profile", 0, {"name": "Ada"}), writer="alice")
        with pytest.raises(DurableStateConcurrencyError):
            wb.run(store.upsert("profile", 0, {"name": "Ada L."}), writer="bob")
    assert [w.rsplit("/", 1)[1] for w in rec.frame()["writer"].astype(str)] == ["alice", "bob"]
    ax = rec.plot_timeline()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["alice", "bob"]
    with pytest.raises(ValueError, match="writer"):
        wb.run(store.load("profile"), writer="a/b")


def test_crowded_rows_grow_so_every_label_stays_in_its_writers_row() -> None:
    t0 = pd.Timestamp("2026-12-01 06:00:00", tz="UTC")
    # per writer: 8 conflicts within a millisecond, then 17 spread over 100 ms
    at = [pd.Timedelta(microseconds=100 * i if i < 8 else 4_000 * i) for i in range(25)]
    rows = [{"store": "durable_state", "persistence_id": "c", "writer": f"9/writer-{w}",
             "expected": i, "actual": i + 1, "timestamp": t0 + at[i]}
            for w in (1, 2, 3) for i in range(25)]
    ax = lab.plot_conflict_timeline(pd.DataFrame(rows))
    assert len(ax.texts) == 75 and _overlaps(ax) == []
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    to_data = ax.transData.inverted()
    frame = ax.get_window_extent(renderer)
    for text in ax.texts:
        box = text.get_window_extent(renderer)
        (_, low), (_, high) = to_data.transform([(box.x0, box.y0), (box.x1, box.y1)])
        row = text.xy[1]
        assert row - 0.5 < low and high < row + 0.5, (text.get_text(), row, low, high)
        assert box.x1 <= frame.x1, text.get_text()  # the last labels end inside the axes
    assert fig.get_size_inches()[1] > 1.2 + 0.35 * 3  # it grew to make room


def test_pruning_history_labels_each_point_with_how_long_it_lived() -> None:
    t = pd.Timestamp("2026-12-01", tz="UTC")
    life = [47, 64, 99, 50, 66, 101]
    frame = pd.DataFrame({"persistence_id": ["a"] * 3 + ["b"] * 3, "sequence_nr": [5, 10, 15] * 2,
                          "saved_at": [t] * 6,
                          "pruned_at": [t + pd.Timedelta(milliseconds=m) for m in life]})
    ax = lab.plot_pruning_history(frame)
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["5", "10", "15"]
    assert sorted(t.get_text() for t in ax.texts) == sorted(f"{m} ms" for m in life)
    assert _overlaps(ax) == [] and _legend_outside(ax)
    renderer = ax.figure.canvas.get_renderer()
    inside = ax.get_window_extent(renderer)
    for text in ax.texts:  # no label cut by the frame or drawn over the title / legend
        box = text.get_window_extent(renderer)
        assert inside.x0 <= box.x0 and box.x1 <= inside.x1 and box.y1 <= inside.y1, text


def test_recovery_cost_names_every_stream_sharing_a_spot() -> None:
    from actorpg_lab.lab.history.pruning import plot_recovery_cost

    streams = pd.DataFrame({
        "persistence_id": ["a-1", "a-2", "b-1", "b-2", "b-3", "c"],
        "head": [29, 29, 35, 35, 35, 38], "events": [29, 29, 35, 35, 35, 38],
        "snapshots": [2] * 6, "latest_snapshot_seq": [25, 25, 35, 35, 35, 35],
        "events_to_replay": [4, 4, 0, 0, 0, 3]})
    ax = plot_recovery_cost(streams)
    assert sorted(t.get_text() for t in ax.texts) == ["a-1, a-2", "b-1 and 2 more", "c"]
    assert _overlaps(ax) == [] and _legend_outside(ax)
