"""replay_state: folding, snapshots, paging, steps and integrity errors on both backends."""

from __future__ import annotations

from typing import Any

import pytest

from actorpg_lab import (
    JournalEntry,
    JournalIntegrityError,
    ReplayResult,
    ReplayStep,
    SnapshotIntegrityError,
    replay_state,
)
from tests.runtime.conftest import Backend

PID = "acct-1"


def add(state: int, event: Any) -> int:
    return state + int(event["amount"])


async def write(backend: Backend, n: int, pid: str = PID, start: int = 0) -> None:
    entries = [JournalEntry({"amount": i}) for i in range(start + 1, start + n + 1)]
    await backend.journal.append(pid, entries, start)


async def test_replay_from_scratch_and_to_seq(backend: Backend) -> None:
    await write(backend, 10)
    full = await replay_state(backend.journal, backend.snapshots, PID, 0, add)
    assert full == ReplayResult(state=55, last_sequence_nr=10, snapshot_sequence_nr=None,
                                events_applied=10)
    part = await replay_state(backend.journal, backend.snapshots, PID, 0, add, to_seq=4)
    assert (part.state, part.last_sequence_nr, part.events_applied) == (10, 4, 4)
    beyond = await replay_state(backend.journal, None, PID, 0, add, to_seq=99)
    assert (beyond.state, beyond.last_sequence_nr) == (55, 10)
    empty = await replay_state(backend.journal, backend.snapshots, "nobody", 7, add)
    assert empty == ReplayResult(7, 0, None, 0)


async def test_replay_uses_snapshots_by_choice(backend: Backend) -> None:
    await write(backend, 10)
    await backend.snapshots.save(PID, 3, 6)
    await backend.snapshots.save(PID, 7, 28)
    latest = await replay_state(backend.journal, backend.snapshots, PID, 0, add)
    assert (latest.state, latest.snapshot_sequence_nr, latest.events_applied) == (55, 7, 3)
    bounded = await replay_state(backend.journal, backend.snapshots, PID, 0, add, to_seq=5)
    assert (bounded.state, bounded.snapshot_sequence_nr, bounded.events_applied) == (15, 3, 2)
    none = await replay_state(backend.journal, backend.snapshots, PID, 0, add, snapshot="none")
    assert (none.state, none.snapshot_sequence_nr, none.events_applied) == (55, None, 10)
    at_most_6 = await replay_state(backend.journal, backend.snapshots, PID, 0, add, snapshot=6)
    assert (at_most_6.state, at_most_6.snapshot_sequence_nr, at_most_6.events_applied) == (55, 3, 7)
    only_snapshot = await replay_state(backend.journal, backend.snapshots, PID, 0, add, to_seq=7)
    assert only_snapshot == ReplayResult(28, 7, 7, 0)


async def test_on_step_sees_every_fold_step(backend: Backend) -> None:
    await write(backend, 5)
    steps: list[ReplayStep] = []
    await replay_state(backend.journal, None, PID, 0, add, on_step=steps.append)
    assert [s.event.sequence_nr for s in steps] == [1, 2, 3, 4, 5]
    assert [(s.state_before, s.state_after) for s in steps] == [
        (0, 1), (1, 3), (3, 6), (6, 10), (10, 15)]


async def test_paging_gives_the_same_result(backend: Backend) -> None:
    await write(backend, 25)
    steps: list[ReplayStep] = []
    paged = await replay_state(backend.journal, None, PID, 0, add, page_size=4,
                               on_step=steps.append)
    assert (paged.state, paged.last_sequence_nr, paged.events_applied) == (325, 25, 25)
    assert [s.event.sequence_nr for s in steps] == list(range(1, 26))


@pytest.mark.parametrize("missing", [1, 5, 9])  # the tail row IS the head: not a gap
@pytest.mark.parametrize("page_size", [3, 100])
async def test_gap_raises_integrity_error(backend: Backend, missing: int, page_size: int) -> None:
    await write(backend, 10)
    await backend.delete_event_row(PID, missing)
    pattern = rf"'{PID}'.*expected sequence_nr {missing}"
    with pytest.raises(JournalIntegrityError, match=pattern) as ei:
        await replay_state(backend.journal, None, PID, 0, add, page_size=page_size)
    assert ei.value.persistence_id == PID
    assert ei.value.sequence_nr == missing


async def test_deleted_prefix_without_snapshot_is_an_integrity_error(backend: Backend) -> None:
    await write(backend, 6)
    await backend.journal.delete(PID, 3)
    with pytest.raises(JournalIntegrityError, match="gap: expected sequence_nr 1, found 4"):
        await replay_state(backend.journal, backend.snapshots, PID, 0, add)
    await backend.snapshots.save(PID, 3, 6)
    result = await replay_state(backend.journal, backend.snapshots, PID, 0, add)
    assert (result.state, result.last_sequence_nr) == (21, 6)
    # fully deleted stream whose snapshot is older than the deletion: events are missing
    await backend.journal.delete(PID, 6)
    await backend.snapshots.delete(PID, 6)
    await backend.snapshots.save(PID, 4, 10)
    with pytest.raises(JournalIntegrityError, match="expected sequence_nr 5, found no event"):
        await replay_state(backend.journal, backend.snapshots, PID, 0, add)


async def test_snapshot_ahead_of_journal(backend: Backend) -> None:
    await write(backend, 3)
    await backend.insert_snapshot_row(PID, 9, 45)
    pattern = "sequence_nr 9 is ahead of the journal head 3"
    with pytest.raises(SnapshotIntegrityError, match=pattern) as ei:
        await replay_state(backend.journal, backend.snapshots, PID, 0, add)
    assert (ei.value.persistence_id, ei.value.sequence_nr) == (PID, 9)
    ok = await replay_state(backend.journal, backend.snapshots, PID, 0, add, snapshot="none")
    assert ok.state == 6


async def test_on_event_errors_propagate_and_bad_arguments(backend: Backend) -> None:
    await write(backend, 2)

    def boom(state: int, event: Any) -> int:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        await replay_state(backend.journal, None, PID, 0, boom)
    with pytest.raises(ValueError, match="snapshot must be"):
        await replay_state(backend.journal, None, PID, 0, add, snapshot="newest")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="to_seq must not be negative: -1"):
        await replay_state(backend.journal, None, PID, 0, add, to_seq=-1)
    with pytest.raises(TypeError, match="on_event must be callable"):
        await replay_state(backend.journal, None, PID, 0, 42)  # type: ignore[arg-type]
