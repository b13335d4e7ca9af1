"""The data types that travel between actors, stores and notebooks."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ._reprs import field_repr, fields_html

__all__ = ["NO_METADATA", "DurableStateRecord", "EventMetadata", "JournalEntry",
           "PersistentEvent", "Snapshot", "content_digest", "event_type_name",
           "read_metadata", "shared_metadata"]

class EventMetadata(Mapping[str, str]):
    """The read-only, hashable ``str -> str`` mapping of a stored event's metadata."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        self._items: dict[str, str] = dict(items) if items else {}

    def __getitem__(self, key: str) -> str:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __repr__(self) -> str:
        return f"EventMetadata({self._items!r})"


#: The metadata of an event that has none (shared, read-only).
NO_METADATA: EventMetadata = EventMetadata()

#: Class -> the name a codec registered it under (every codec registers here, the last
#: registration of a class wins).  What :attr:`PersistentEvent.event_type` reads: the
#: event's type costs nothing on the read path (no column, no parsing).
_TYPE_NAMES: dict[type[Any], str] = {}

_T = TypeVar("_T")


def read_metadata(text: str | None) -> EventMetadata:
    """A stored metadata column (JSON text or NULL) as :class:`EventMetadata`."""
    if not text:
        return NO_METADATA
    import orjson

    return EventMetadata(orjson.loads(text))


def shared_metadata(texts: Sequence[str | None]) -> list[EventMetadata]:
    """``[read_metadata(t) for t in texts]``, parsing a text once when the next ones
    repeat it (the events of one ``persist_all`` share their metadata; the mapping is
    read-only, so they can share the object too)."""
    out: list[EventMetadata] = []
    last_text: str | None = None
    last = NO_METADATA
    for text in texts:
        if text != last_text:
            last_text, last = text, read_metadata(text)
        out.append(last)
    return out


def content_digest(payloads: Sequence[str], tags: Sequence[Sequence[str]],
                   metadata: Sequence[str | None] = ()) -> bytes:
    """sha256 of an append's content (encoded payloads, tags, metadata as stored JSON):
    what an idempotency key is compared on."""
    h = hashlib.sha256()
    for i, payload in enumerate(payloads):
        meta = metadata[i] if i < len(metadata) else None
        for part in (b"\x00p", payload.encode(), b"\x00t", ",".join(tags[i]).encode(),
                     b"\x00m", (meta or "").encode()):
            h.update(part)
    return h.digest()


def event_type_name(event: Any) -> str | None:
    """The registered type name of ``event`` (a codec-registered dataclass), else ``None``."""
    return _TYPE_NAMES.get(type(event))


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One event on its way into a journal, with the tags of THIS event only."""

    event: Any
    tags: Sequence[str] = field(default=())
    #: String metadata stored with the event (``"correlation_id"``, ``"causation_id"``,
    #: anything else); ``None`` = none (or what the writing context supplies).
    metadata: Mapping[str, str] | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class PersistentEvent:
    """An event as stored: ``sequence_nr`` is 1-based and contiguous per stream,
    ``timestamp`` is epoch milliseconds.

    ``position`` orders events across streams for tag queries: on PostgreSQL the id of
    the transaction that wrote the event (every event of one append shares it; events
    stored before positions existed have 0), in memory a counter per append.  Tag
    queries deliver events in ``(position, persistence_id, sequence_nr)`` order, and
    only once no transaction that could still commit an earlier event is open (see
    :mod:`actorpg_lab.query`).  0 also for an event built by hand.
    """

    persistence_id: str
    sequence_nr: int
    event: Any
    timestamp: int
    tags: tuple[str, ...] = ()
    position: int = 0
    #: The metadata stored with the event (empty for events written without, and for
    #: every row written before metadata existed).
    metadata: Mapping[str, str] = NO_METADATA

    @property
    def event_type(self) -> str | None:
        """The codec's registered name of the event's type (``"bank.Deposited"``; an event
        stored under an alias reads as its class, so this is the current name); ``None``
        for plain JSON.  Also what the journal's type index and DCB queries match."""
        return _TYPE_NAMES.get(type(self.event))

    @property
    def correlation_id(self) -> str | None:
        """``metadata["correlation_id"]`` or ``None``."""
        return self.metadata.get("correlation_id")

    @property
    def causation_id(self) -> str | None:
        """``metadata["causation_id"]`` or ``None``."""
        return self.metadata.get("causation_id")

    @property
    def key(self) -> tuple[int, str, int]:
        """``(position, persistence_id, sequence_nr)``: the event's place in tag queries."""
        return (self.position, self.persistence_id, self.sequence_nr)

    def _fields(self) -> list[tuple[str, Any]]:
        return [("persistence_id", self.persistence_id), ("sequence_nr", self.sequence_nr),
                ("event_type", self.event_type), ("event", self.event),
                ("timestamp", self.timestamp), ("tags", self.tags),
                ("position", self.position), ("metadata", dict(self.metadata))]

    def __repr__(self) -> str:
        """All fields, ``timestamp`` as ISO UTC (``2026-12-07T07:48:32.123Z``)."""
        shown = [field_repr(k, v, times=("timestamp",)) for k, v in self._fields()
                 if k != "event_type"]
        return f"PersistentEvent({', '.join(shown)})"

    def _repr_html_(self) -> str:
        return fields_html(f"PersistentEvent {self.persistence_id} #{self.sequence_nr}",
                           self._fields(), times=("timestamp",))


def _slot_setting_init(cls: type[_T]) -> type[_T]:
    """Give the frozen, slotted dataclass ``cls`` an ``__init__`` that fills its slots
    through their descriptors.  The generated one goes through ``object.__setattr__``
    once per field (the price of ``frozen``): 0.78-0.92 µs against 0.43-0.56 µs per
    :class:`PersistentEvent` here, paid per event on every read and append (a 100k-event
    read: 8 % less client CPU, paired rounds).  The same
    parameters, defaults and annotations; for classes without ``__post_init__``,
    default factories or ``InitVar`` fields (checked)."""
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if hasattr(cls, "__post_init__") or any(
            f.default_factory is not dataclasses.MISSING or not f.init for f in fields):
        raise TypeError(f"{cls.__name__}: not a plain frozen dataclass")
    namespace: dict[str, Any] = {}
    params: list[str] = []
    keyword_only: list[str] = []
    body = []
    for f in fields:
        namespace[f"_set_{f.name}"] = cls.__dict__[f.name].__set__
        if f.default is dataclasses.MISSING:
            param = f.name
        else:
            namespace[f"_default_{f.name}"] = f.default
            param = f"{f.name}=_default_{f.name}"
        (keyword_only if f.kw_only else params).append(param)
        body.append(f"    _set_{f.name}(self, {f.name})")
    if keyword_only:
        params += ["*", *keyword_only]
    exec(f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body), namespace)
    init = namespace["__init__"]
    generated = cls.__init__
    init.__qualname__, init.__doc__ = generated.__qualname__, generated.__doc__
    init.__annotations__ = dict(generated.__annotations__)
    setattr(cls, "__init__", init)  # noqa: B010
    return cls


_slot_setting_init(PersistentEvent)
_slot_setting_init(JournalEntry)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A saved actor state covering the events up to and including ``sequence_nr``."""

    persistence_id: str
    sequence_nr: int
    state: Any
    timestamp: int

    def _fields(self) -> list[tuple[str, Any]]:
        return [("persistence_id", self.persistence_id), ("sequence_nr", self.sequence_nr),
                ("state", self.state), ("timestamp", self.timestamp)]

    def __repr__(self) -> str:
        """All fields, ``timestamp`` as ISO UTC."""
        shown = [field_repr(k, v, times=("timestamp",)) for k, v in self._fields()]
        return f"Snapshot({', '.join(shown)})"

    def _repr_html_(self) -> str:
        return fields_html(f"Snapshot {self.persistence_id} @{self.sequence_nr}",
                           self._fields(), times=("timestamp",))


@dataclass(frozen=True, slots=True)
class DurableStateRecord:
    """The current value of a durable-state key and its revision (1 after the first write)."""

    persistence_id: str
    revision: int
    state: Any
    timestamp: int

    def _fields(self) -> list[tuple[str, Any]]:
        return [("persistence_id", self.persistence_id), ("revision", self.revision),
                ("state", self.state), ("timestamp", self.timestamp)]

    def __repr__(self) -> str:
        """All fields, ``timestamp`` as ISO UTC."""
        shown = [field_repr(k, v, times=("timestamp",)) for k, v in self._fields()]
        return f"DurableStateRecord({', '.join(shown)})"

    def _repr_html_(self) -> str:
        return fields_html(f"DurableStateRecord {self.persistence_id} rev {self.revision}",
                           self._fields(), times=("timestamp",))
