"""Input validation shared by every store: checks run BEFORE anything is written.

Errors are ``ValueError`` or ``TypeError`` and name the offending value.

Every store also enforces :class:`Limits` (``limits=`` on each store, in memory and on
PostgreSQL alike): at most :data:`DEFAULT_MAX_PAYLOAD_BYTES` (64 MiB) of encoded JSON
per payload (event, snapshot state, durable state) and
:data:`DEFAULT_MAX_TAGS_PER_EVENT` (256) tags per event, so one careless or hostile
write cannot exhaust the memory of every process that later reads it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._types import JournalEntry

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "DEFAULT_MAX_TAGS_PER_EVENT",
    "Limits",
    "check_non_negative_int",
    "check_optional_limit",
    "check_page",
    "check_payload_size",
    "check_persistence_id",
    "check_seq_range",
    "check_table_name",
    "check_tags",
    "validate_entries",
]

_SAFE_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: PostgreSQL truncates identifiers to 63 bytes; derived names add up to 6 characters.
MAX_TABLE_NAME_LENGTH = 57
#: The largest value a PostgreSQL BIGINT holds.
MAX_BIGINT = 2**63 - 1
#: Longest persistence id / tag, in UTF-8 bytes.  Both are btree-indexed together (the
#: tag table's key holds tag + persistence id), and a btree row may not exceed ~2.7 kB,
#: so longer values would fail only at INSERT time; they are rejected up front instead.
MAX_PERSISTENCE_ID_BYTES = 1024
MAX_TAG_BYTES = 1024
#: Default cap on one encoded payload (event, snapshot state or durable state), in bytes.
DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024 * 1024
#: Default cap on the number of (distinct) tags of one event.
DEFAULT_MAX_TAGS_PER_EVENT = 256


@dataclass(frozen=True)
class Limits:
    """Size caps a store enforces before writing; pass ``limits=Limits(...)`` (or a
    mapping with these keys, e.g. from HOCON) to a store to change them.

    :param max_payload_bytes: largest encoded JSON payload, in UTF-8 bytes (64 MiB).
    :param max_tags_per_event: most distinct tags on one event (256).
    """

    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    max_tags_per_event: int = DEFAULT_MAX_TAGS_PER_EVENT

    def __post_init__(self) -> None:
        for name in ("max_payload_bytes", "max_tags_per_event"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"Limits.{name} must be an int, got {type(value).__name__}: "
                                f"{value!r}")
            if value < 1:
                raise ValueError(f"Limits.{name} must be at least 1: {value!r}")

    @classmethod
    def of(cls, value: Limits | Mapping[str, Any] | None) -> Limits:
        """``value`` as :class:`Limits` (``None``: the defaults; a mapping: its keys)."""
        if value is None:
            return DEFAULT_LIMITS
        if isinstance(value, Limits):
            return value
        if isinstance(value, Mapping):
            unknown = set(value) - {"max_payload_bytes", "max_tags_per_event"}
            if unknown:
                raise ValueError(f"unknown limits: {sorted(unknown)!r} (known: "
                                 f"max_payload_bytes, max_tags_per_event)")
            return cls(**dict(value))
        raise TypeError(f"limits must be a Limits or a mapping, got {type(value).__name__}: "
                        f"{value!r:.200}")


DEFAULT_LIMITS = Limits()


def _utf8_length(name: str, value: str) -> int:
    """The UTF-8 length of ``value``; a ``ValueError`` for lone surrogates."""
    try:
        return len(value.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{name} is not valid UTF-8 text ({exc.reason}): {value!r:.200}"
        ) from None


def check_persistence_id(persistence_id: object) -> str:
    """Return ``persistence_id`` if it is a non-empty ``str`` without NUL characters.

    It must also be valid UTF-8 (no lone surrogates) and at most
    :data:`MAX_PERSISTENCE_ID_BYTES` bytes long in UTF-8.
    """
    if not isinstance(persistence_id, str):
        raise TypeError(
            f"persistence_id must be a str, got {type(persistence_id).__name__}: "
            f"{persistence_id!r}"
        )
    if not persistence_id:
        raise ValueError("persistence_id must not be empty: ''")
    if "\x00" in persistence_id:
        raise ValueError(f"persistence_id must not contain NUL characters: {persistence_id!r:.200}")
    size = _utf8_length("persistence_id", persistence_id)
    if size > MAX_PERSISTENCE_ID_BYTES:
        raise ValueError(
            f"persistence_id must be at most {MAX_PERSISTENCE_ID_BYTES} bytes in UTF-8, got "
            f"{size}: {persistence_id!r:.100}..."
        )
    return persistence_id


def check_tags(tags: object) -> tuple[str, ...]:
    """Return ``tags`` as a de-duplicated tuple (order kept) after validating every tag.

    A tag is a non-empty ``str`` without commas (the events table mirrors tags as CSV),
    without NUL characters, valid UTF-8 (no lone surrogates) and at most
    :data:`MAX_TAG_BYTES` bytes long in UTF-8.
    """
    if isinstance(tags, str):
        raise TypeError(f"tags must be a sequence of str, not a single str: {tags!r}")
    if not isinstance(tags, Iterable):
        raise TypeError(f"tags must be a sequence of str, got {type(tags).__name__}: {tags!r}")
    seen: dict[str, None] = {}
    for tag in tags:
        if not isinstance(tag, str):
            raise TypeError(f"a tag must be a str, got {type(tag).__name__}: {tag!r}")
        if not tag:
            raise ValueError("a tag must not be empty: ''")
        if "," in tag:
            raise ValueError(f"a tag must not contain a comma: {tag!r}")
        if "\x00" in tag:
            raise ValueError(f"a tag must not contain NUL characters: {tag!r:.200}")
        size = _utf8_length("a tag", tag)
        if size > MAX_TAG_BYTES:
            raise ValueError(
                f"a tag must be at most {MAX_TAG_BYTES} bytes in UTF-8, got {size}: {tag!r:.100}..."
            )
        seen[tag] = None
    return tuple(seen)


#: The longest idempotency key (characters).
MAX_IDEMPOTENCY_KEY = 512


def check_idempotency_key(key: object) -> str | None:
    """``None`` or a 1-512 character ``str`` without NUL characters."""
    if key is None:
        return None
    if not isinstance(key, str):
        raise TypeError(f"idempotency_key must be a str or None, got {type(key).__name__}: "
                        f"{key!r:.200}")
    if not key or len(key) > MAX_IDEMPOTENCY_KEY or "\x00" in key:
        raise ValueError(f"idempotency_key must be 1-{MAX_IDEMPOTENCY_KEY} characters without "
                         f"NUL: {key!r:.200}")
    _utf8_length("idempotency_key", key)
    return key


def check_non_negative_int(name: str, value: object) -> int:
    """Return ``value`` if it is an ``int`` (not ``bool``) and ``>= 0``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}: {value!r}")
    if value < 0:
        raise ValueError(f"{name} must not be negative: {value!r}")
    if value > MAX_BIGINT:
        raise ValueError(f"{name} must fit a BIGINT (<= {MAX_BIGINT}): {value!r}")
    return value


def check_table_name(name: str, value: object) -> str:
    """Return ``value`` if it is a safe SQL identifier (``^[A-Za-z_][A-Za-z0-9_]*$``)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}: {value!r}")
    if not _SAFE_IDENTIFIER.fullmatch(value):
        raise ValueError(
            f"{name} must match ^[A-Za-z_][A-Za-z0-9_]*$ (a plain SQL identifier): {value!r}"
        )
    if len(value) > MAX_TABLE_NAME_LENGTH:
        raise ValueError(
            f"{name} must be at most {MAX_TABLE_NAME_LENGTH} characters long: {value!r}"
        )
    return value


def check_seq_range(from_seq: object, to_seq: object) -> tuple[int, int | None]:
    """Validate an inclusive read range: ``from_seq >= 0`` and ``to_seq`` ``None`` or ``>= 0``."""
    lower = check_non_negative_int("from_seq", from_seq)
    upper = None if to_seq is None else check_non_negative_int("to_seq", to_seq)
    return lower, upper


def check_optional_limit(limit: object) -> int | None:
    """``None`` (no limit) or a non-negative ``int``."""
    return None if limit is None else check_non_negative_int("limit", limit)


def check_page(after: object, limit: object) -> tuple[str | None, int | None]:
    """Validate a keyset page: ``after`` (exclusive) a persistence id or ``None``."""
    return (None if after is None else check_persistence_id(after)), check_optional_limit(limit)


def check_payload_size(payload: str, limits: Limits, what: str) -> str:
    """Return the encoded ``payload`` if it fits ``limits.max_payload_bytes`` (UTF-8)."""
    limit = limits.max_payload_bytes
    chars = len(payload)
    if chars * 4 <= limit:  # fits even if every character took 4 bytes: no encoding
        return payload
    if chars > limit:  # UTF-8 takes at least one byte per character: no need to count
        size = f"at least {chars} bytes of JSON"
    else:
        exact = len(payload.encode("utf-8", "surrogatepass"))
        if exact <= limit:
            return payload
        size = f"{exact} bytes of JSON"
    raise ValueError(
        f"{what} is too large: {size}, over the limit of {limit} bytes "
        f"(Limits.max_payload_bytes; pass limits= to the store to change it)"
    )


def validate_entries(
    entries: object, limits: Limits = DEFAULT_LIMITS
) -> list[tuple[Any, tuple[str, ...]]]:
    """Check an ``append`` batch: a sequence of :class:`JournalEntry`; returns (event, tags).

    Each event may carry at most ``limits.max_tags_per_event`` distinct tags."""
    if isinstance(entries, (str, bytes)) or not isinstance(entries, Sequence):
        raise TypeError(
            f"entries must be a sequence of JournalEntry, got {type(entries).__name__}: "
            f"{entries!r:.200}"
        )
    checked = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, JournalEntry):
            raise TypeError(
                f"entries[{i}] must be a JournalEntry, got {type(entry).__name__}: {entry!r:.200}"
            )
        tags = check_tags(entry.tags)
        if len(tags) > limits.max_tags_per_event:
            raise ValueError(
                f"entries[{i}] has {len(tags)} tags, over the limit of "
                f"{limits.max_tags_per_event} per event (Limits.max_tags_per_event; pass "
                f"limits= to the store to change it): {tags[:5]!r}..."
            )
        checked.append((entry.event, tags))
    return checked


def entry_metadata(entries: Sequence[JournalEntry]) -> list[str | None]:
    """Each entry's metadata as stored JSON text (``None``: none): its own, else the
    current metadata (``with actorpg_lab.metadata(...)``, or the actor runtime's)."""
    from ._metadata import check_metadata, current_metadata, encode_metadata

    default = current_metadata()
    default_text: str | None = None  # encoded once: a persist_all's events share it
    out: list[str | None] = []
    for i, entry in enumerate(entries):
        meta = entry.metadata
        if meta is None:
            if default and default_text is None:
                default_text = encode_metadata(default, f"entries[{i}].metadata")
            out.append(default_text)
            continue
        if meta:
            meta = check_metadata(meta, f"entries[{i}].metadata")
        out.append(encode_metadata(meta, f"entries[{i}].metadata") if meta else None)
    return out
