"""Issue 9, point 10 (codec part): deep nesting is a clear ValueError, never RecursionError."""

from __future__ import annotations

from typing import Any

import pytest

from actorpg_lab import InMemoryJournal, JournalEntry
from actorpg_lab._codec import JsonCodec


def _nested_dicts(depth: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize("value", [
    _nested_dicts(600, {"$type": "x", "$value": 1}),  # a typed-looking leaf 600 levels down
    [_nested_dicts(600, 1), {"$type": "x", "$value": 1, "more": 1}],
], ids=["reserved-shape-leaf", "dollar-type-elsewhere"])
def test_encoding_a_600_level_value_is_a_value_error(value: Any) -> None:
    with pytest.raises(ValueError, match="nested too deeply"):
        JsonCodec().encode(value)


def test_decoding_600_levels_with_a_typed_leaf_is_a_value_error() -> None:
    text = "[" * 600 + '{"$type":"x","$value":1}' + "]" * 600
    with pytest.raises(ValueError, match="nested too deeply"):
        JsonCodec().decode(text)


async def test_the_store_rejects_it_before_writing() -> None:
    journal = InMemoryJournal()
    with pytest.raises(ValueError, match="nested too deeply"):
        await journal.append("p", [JournalEntry(_nested_dicts(600, {"$type": "x", "$value": 1}))], 0)
    assert await journal.highest_seq("p") == 0
