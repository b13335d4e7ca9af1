"""The ``event_type`` column of the journal frames: the stored type name of each
payload, computed in the client with the journal's one type rule.

The rule runs once per distinct payload head, not once per row (see
:func:`event_types`); the frame builder (:mod:`.builder`) encodes the heads batch by
batch as they arrive and names them once (``FrameBuilder.frame``).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .payloads import parse_pool

__all__ = ["HEAD_BYTES", "LONGER_HEADS", "TYPE_PATTERN", "event_types", "exact_event_types",
           "head_names", "payload_heads"]

#: The journal's type rule (``postgres/sql/journal_type_expression.sql``: the name in the
#: envelope the codec writes first), as the RE2 pattern Arrow evaluates in the client:
#: computing it in the server for every row of a frame cost more than half the load
#: (measured, bench ``metadata_reads``); tests check both give the same names.
TYPE_PATTERN = r'^\{"\$type":"(?P<t>(?:[^"\\]|\\.)*)"'

#: The first bytes of each payload the type is looked for in first (see :func:`event_types`).
HEAD_BYTES = 32

#: The longer heads tried, in turn, when names are longer than :data:`HEAD_BYTES` allows
#: (see :func:`event_types`); past these, the exact rule.  Not 128: heads that long hold
#: most of a small payload, nearly one distinct head per row (a 58-byte name, 300k rows:
#: 276 ms, the exact rule alone 150 ms).
LONGER_HEADS = (64,)


def payload_heads(payloads: pa.Array | pa.ChunkedArray, length: int = HEAD_BYTES) -> Any:
    """The first ``length`` bytes of each payload, dictionary-encoded (what
    :func:`event_types` runs the type rule on, once per distinct value).  Arrow's
    default pool, not :func:`parse_pool`: the sliced heads live only until they are
    encoded, and the system allocator's fresh pages for them cost 3x the whole step
    (300k rows in 4 MiB batches: 17 vs 5.6 ms, measured)."""
    pool = pa.default_memory_pool()
    as_bytes = pa.large_binary() if pa.types.is_large_string(payloads.type) else pa.binary()
    raw = (pa.chunked_array([c.view(as_bytes) for c in payloads.chunks], as_bytes)
           if isinstance(payloads, pa.ChunkedArray) else payloads.view(as_bytes))
    return pc.dictionary_encode(pc.binary_slice(raw, 0, length, memory_pool=pool),
                                memory_pool=pool)


def head_names(distinct: pa.Array, length: int = HEAD_BYTES) -> pa.Array | None:
    """:data:`TYPE_PATTERN`'s name (str or null) for each distinct payload head of
    ``length`` bytes, or ``None`` when a head holds the start of an envelope but not the
    end of its name (a longer name: the caller tries a longer head or the exact rule,
    :func:`exact_event_types`)."""
    pool = parse_pool()
    names = pc.struct_field(pc.extract_regex(distinct, TYPE_PATTERN, memory_pool=pool), [0])
    cut = pc.and_(pc.is_null(names), pc.equal(pc.binary_length(distinct), length))
    if pc.any(pc.and_(cut, pc.starts_with(distinct.view(pa.string()), '{"$type":"'))).as_py():
        return None
    result: pa.Array = names.cast(pa.string())
    return result


def event_types(payloads: Any) -> Any:
    """The stored type name of each payload (null for plain JSON), dictionary-encoded: an
    array for an array, a chunked array (its chunks sharing one dictionary) for a
    chunked array.

    The rule runs once per distinct payload *head* (its first :data:`HEAD_BYTES` bytes),
    not once per row: the heads of one type are nearly all alike (the envelope, the name,
    ``"$value":`` and a first field name), so the regular expression sees a handful of
    strings (300k rows: 61 -> 14 ms, measured).  Where a head holds the start of an
    envelope but not the end of its name (a longer name), longer heads are tried
    (:data:`LONGER_HEADS`; 300k rows of a 25-byte name: 89 -> 14 ms, measured: more
    distinct heads, still far fewer than rows); only where they cut a name too does the
    whole column take the exact rule over the first 1 KiB, :func:`exact_event_types`."""
    pool = parse_pool()
    column = (payloads if isinstance(payloads, pa.ChunkedArray)
              else pa.chunked_array([payloads], payloads.type))
    heads = payload_heads(column)
    if heads.num_chunks == 0:
        return exact_event_types(payloads)
    names = head_names(heads.chunk(0).dictionary)  # one dictionary for every chunk
    for length in LONGER_HEADS:
        if names is not None:
            break
        heads = payload_heads(column, length)
        names = head_names(heads.chunk(0).dictionary, length)
    if names is None:
        return exact_event_types(payloads)
    encoded = pc.dictionary_encode(names, memory_pool=pool)
    chunks = [pa.DictionaryArray.from_arrays(pc.take(encoded.indices, chunk.indices,
                                                     memory_pool=pool), encoded.dictionary)
              for chunk in heads.chunks]
    return chunks[0] if column is not payloads else pa.chunked_array(chunks)


def exact_event_types(payloads: Any) -> Any:
    """:func:`event_types` row by row: :data:`TYPE_PATTERN` over each payload's first
    1024 characters."""
    head = pc.utf8_slice_codeunits(payloads, 0, 1024, memory_pool=parse_pool())
    names = pc.struct_field(pc.extract_regex(head, TYPE_PATTERN, memory_pool=parse_pool()),
                            [0])
    return pc.dictionary_encode(names, memory_pool=parse_pool())
