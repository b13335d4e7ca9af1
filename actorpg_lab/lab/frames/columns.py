"""The workbench's read model: how a stored event is named and how its tags are split.

One place for what every view of the journal must agree on:

* an event's type name is the name in its stored envelope (``{"$type": name,
  "$value": {...}}``, the keys owned by :mod:`actorpg_lab._codec`) — the registered
  name.  :func:`event_type_name` gives it for a decoded event (the replayer's
  history), :func:`payload_column` maps the expanded envelope to the ``event_type``
  column (``journal_frame(expand=True)``) and :func:`type_prefix` is the text every
  encoded envelope starts with (``streams.sql`` reads the name after it);
* the events table keeps an event's tags as one comma-separated text;
  :func:`split_tags` turns a column of them into lists (``''`` -> no tags).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ..._codec import TYPE_KEY, VALUE_KEY, JsonCodec, default_codec

__all__ = [
    "EVENT_TYPE_COLUMN",
    "event_type_name",
    "parse_kind",
    "payload_column",
    "split_tags",
    "type_prefix",
    "xid8_to_int64",
]

#: The column of an expanded frame that holds the event type name.
EVENT_TYPE_COLUMN = "event_type"

#: The separator of the events table's tag mirror (tags never contain it).
TAG_SEPARATOR = ","

_VALUE_PREFIX = VALUE_KEY + "."


def event_type_name(event: Any, codec: JsonCodec = default_codec) -> str | None:
    """The type name stored in ``event``'s envelope: the registered name of a
    dataclass (``bank.Deposited``), the name of an envelope whose type is not registered
    (read back as a plain ``dict``), ``None`` for a plain JSON value (which has no
    envelope — its frame row has no ``event_type`` either)."""
    if isinstance(event, dict):
        name = event.get(TYPE_KEY)
        return name if isinstance(name, str) and VALUE_KEY in event else None
    if dataclasses.is_dataclass(event) and not isinstance(event, type):
        cls = type(event)
        # An unregistered dataclass is registered under module.QualName when encoded.
        return codec.type_name(cls) or f"{cls.__module__}.{cls.__qualname__}"
    return None


def payload_column(path: str) -> str:
    """The frame column of a flattened payload field: the envelope's type key becomes
    ``event_type``, ``$value.<field>`` the field itself, anything else stays."""
    if path == TYPE_KEY:
        return EVENT_TYPE_COLUMN
    if path.startswith(_VALUE_PREFIX):
        return path[len(_VALUE_PREFIX):]
    return path


def type_prefix() -> str:
    """The text every encoded envelope starts with, up to the type name:
    ``{"$type":"`` (the codec writes the type key first, without spaces)."""
    return "{" + orjson.dumps(TYPE_KEY).decode() + ':"'


def split_tags(csv: pa.ChunkedArray | pa.Array,
               memory_pool: pa.MemoryPool | None = None) -> pa.ListArray:
    """The events table's tag mirror as an Arrow ``list<string>`` (``''`` -> ``[]``),
    vectorised (no Python loop over rows)."""
    if isinstance(csv, pa.ChunkedArray):
        csv = csv.combine_chunks() if csv.num_chunks else pa.array([], pa.string())
    single = _split_single_tags(csv)
    if single is not None:
        return single
    pool = memory_pool
    parts = pc.split_pattern(csv, TAG_SEPARATOR, memory_pool=pool)
    untagged = pc.equal(csv, "", memory_pool=pool)
    if not pc.any(untagged).as_py():
        result: pa.ListArray = parts  # every event is tagged: nothing to drop
        return result
    # Tags are never empty, so every "" comes from an event without tags: drop those
    # values and rebuild the offsets.
    lengths = pc.subtract(pc.list_value_length(parts, memory_pool=pool),
                          pc.cast(untagged, pa.int32(), memory_pool=pool),
                          memory_pool=pool).to_numpy(zero_copy_only=False)
    offsets = np.zeros(len(csv) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    values = parts.flatten()
    values = pc.filter(values, pc.not_equal(values, "", memory_pool=pool), memory_pool=pool)
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def _split_single_tags(csv: pa.Array) -> pa.ListArray | None:
    """:func:`split_tags` of a column in which no value holds the separator (at most
    one tag per event, the common case): the lists are the values themselves, found
    from the offsets and one byte scan, without splitting; ``None`` otherwise."""
    if csv.type != pa.string() or csv.null_count:
        return None
    n = len(csv)
    offsets_buffer, data = csv.buffers()[1:3]
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32, count=n + 1,
                            offset=csv.offset * 4)
    start, end = (int(offsets[0]), int(offsets[-1])) if n else (0, 0)
    if end > start and data is not None and (
            np.frombuffer(data, dtype=np.uint8, count=end - start, offset=start)
            == ord(TAG_SEPARATOR)).any():
        return None
    tagged = np.diff(offsets) > 0
    if tagged.all():
        return pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32)), csv)
    list_offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(tagged, out=list_offsets[1:])
    return pa.ListArray.from_arrays(pa.array(list_offsets), csv.filter(pa.array(tagged)))


def xid8_to_int64(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``xid8`` values as ADBC delivers them — 8-byte big-endian binary (PostgreSQL's
    binary format), possibly wrapped in an opaque extension type — as ``int64``."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    storage = column.storage if isinstance(column, pa.ExtensionArray) else column
    if not pa.types.is_binary(storage.type):
        raise TypeError(f"position: expected xid8 as binary, got {column.type}")
    n = len(storage)
    if storage.null_count:
        raise ValueError("position: NULL xid8 values cannot be converted to int64")
    offsets = np.frombuffer(storage.buffers()[1], dtype=np.int32, count=n + 1,
                            offset=storage.offset * 4)
    start = int(offsets[0]) if n else 0
    if n and (int(offsets[-1]) - start != 8 * n or not (np.diff(offsets) == 8).all()):
        raise ValueError("position: xid8 values must be 8 bytes each")
    data = storage.buffers()[2]
    if not n or data is None:
        return pa.array([], pa.int64())
    values = np.frombuffer(data, dtype=">i8", count=n, offset=start)
    return pa.array(values.astype(np.int64))


def parse_kind(kind: str) -> tuple[str | None, int | None]:
    """``(type name, version)`` of an envelope head ``{"$type":"x","$version":2,``;
    ``(None, None)`` for ``''`` (plain JSON)."""
    if not kind:
        return None, None
    try:
        head = orjson.loads(kind.rstrip(",") + "}")
    except orjson.JSONDecodeError:
        return kind[:80], None
    if type(head) is not dict or type(head.get("$type")) is not str:
        return kind[:80], None
    version = head.get("$version", 1)
    return head["$type"], version if type(version) is int else None
