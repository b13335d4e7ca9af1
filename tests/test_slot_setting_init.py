"""The hand-made ``__init__`` of PersistentEvent and JournalEntry behaves as the one
``dataclass`` generates (same signature, defaults, errors, immutability)."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from actorpg_lab import JournalEntry, PersistentEvent
from actorpg_lab._types import NO_METADATA, _slot_setting_init


@dataclasses.dataclass(frozen=True, slots=True)
class _EventTwin:
    persistence_id: str
    sequence_nr: int
    event: Any
    timestamp: int
    tags: tuple[str, ...] = ()
    position: int = 0
    metadata: Mapping[str, str] = NO_METADATA


@dataclasses.dataclass(frozen=True, slots=True)
class _EntryTwin:
    event: Any
    tags: Sequence[str] = dataclasses.field(default=())
    metadata: Mapping[str, str] | None = dataclasses.field(default=None, kw_only=True)


def _error(make: Any) -> str | None:
    try:
        make()
    except TypeError as exc:
        return str(exc).split("() ", 1)[1]  # without the class name
    return None


@pytest.mark.parametrize(("cls", "twin"), [(PersistentEvent, _EventTwin),
                                           (JournalEntry, _EntryTwin)])
def test_same_signature_as_the_generated_init(cls: Any, twin: Any) -> None:
    assert str(inspect.signature(cls)) == str(inspect.signature(twin))
    assert cls.__init__.__qualname__ == f"{cls.__name__}.__init__"


@pytest.mark.parametrize(("args", "kwargs"), [
    (("p", 1, {"a": 1}, 5), {}),
    (("p", 1, None, 5, ("t",), 9), {"metadata": {"k": "v"}}),
    ((), {"persistence_id": "p", "sequence_nr": 2, "event": 1, "timestamp": 3}),
    (("p",), {}),
    (("p", 1, 2, 3, (), 0, NO_METADATA, "extra"), {}),
    (("p", 1, 2, 3), {"bogus": 1}),
    (("p", 1, 2, 3), {"persistence_id": "again"}),
])
def test_persistent_event_takes_what_the_generated_init_takes(
        args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    assert _error(lambda: PersistentEvent(*args, **kwargs)) == _error(
        lambda: _EventTwin(*args, **kwargs))
    if _error(lambda: _EventTwin(*args, **kwargs)) is None:
        ours, twin = PersistentEvent(*args, **kwargs), _EventTwin(*args, **kwargs)
        assert dataclasses.astuple(ours) == dataclasses.astuple(twin)


@pytest.mark.parametrize(("args", "kwargs"), [
    ((1,), {}), ((1, ("a",)), {"metadata": {"k": "v"}}), ((1, (), {"k": "v"}), {}),
    ((), {}), ((1,), {"tags": ("a",), "metadata": None}),
])
def test_journal_entry_takes_what_the_generated_init_takes(
        args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    assert _error(lambda: JournalEntry(*args, **kwargs)) == _error(
        lambda: _EntryTwin(*args, **kwargs))


def test_still_frozen_comparable_and_picklable() -> None:
    event = PersistentEvent("p", 1, {"a": 1}, 5, ("t",), 7, NO_METADATA)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.sequence_nr = 2  # type: ignore[misc]
    assert event == PersistentEvent("p", 1, {"a": 1}, 5, ("t",), 7)
    assert dataclasses.replace(event, sequence_nr=2).sequence_nr == 2
    assert pickle.loads(pickle.dumps(event)) == event == copy.deepcopy(event)
    entry = JournalEntry("x", ("a",), metadata={"k": "v"})
    assert dataclasses.replace(entry, tags=()) == JournalEntry("x", metadata={"k": "v"})


def test_refuses_what_it_cannot_copy() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class WithFactory:
        items: list[int] = dataclasses.field(default_factory=list)

    @dataclasses.dataclass(frozen=True, slots=True)
    class WithPostInit:
        n: int

        def __post_init__(self) -> None:
            pass

    for cls in (WithFactory, WithPostInit):
        with pytest.raises(TypeError, match="not a plain frozen dataclass"):
            _slot_setting_init(cls)
