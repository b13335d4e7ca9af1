"""JSON codec for payloads (events, snapshot states, durable states), with schema evolution.

Plain JSON values (``dict`` with ``str`` keys, ``list``, ``str``, ``int``, ``float``,
``bool``, ``None``) round-trip unchanged.  Dataclass instances round-trip through a
type registry: they are written as an *envelope*::

    {"$type": NAME, "$value": {field: value, ...}}                  # version 1
    {"$type": NAME, "$version": N, "$value": {field: value, ...}}   # version N >= 2

and read back as instances of the class registered under ``NAME`` (or under an alias
of it).  ``"$version"`` is omitted for version 1, so every row written before versions
existed reads as version 1.

Schema evolution (stored rows are never rewritten; old rows are upgraded on read):

* :func:`event_type` / :meth:`JsonCodec.register` register a class under a name, a
  ``version`` (default 1) and ``aliases`` (former names of a renamed type).
* :func:`upcaster` / :meth:`JsonCodec.upcaster` register a pure function turning
  version ``k``'s ``"$value"`` dict into version ``k + 1``'s.  Upcasters work on the
  JSON level: nested typed values are still envelopes (dicts) when the outer upcaster
  runs, and are revived (and upcast through their own chains) afterwards.
* Reading runs the upcasters from the stored version up to the registered one, then
  builds the dataclass.  No upcaster for a step, a stored version newer than the
  registered one (a row written by newer code), an upcaster that fails or a value that
  does not fit the class raise :class:`DecodeError` (a ``ValueError``) naming the type
  and both versions; the stores turn it into ``JournalIntegrityError`` /
  ``SnapshotIntegrityError`` naming the persistence id and sequence number (or
  revision) too (:func:`decode_stored`).
* Registering a class whose module and qualified name equal a registered class's (a
  re-run notebook cell) replaces that registration.  Instances of the replaced class
  still encode under its name and version.
* An UNREGISTERED dataclass that gets encoded is, by default (``unregistered="warn"``),
  registered under its qualified name ``module.QualName`` with an
  :class:`UnregisteredTypeWarning`: that name ties the stored data to a module path,
  so moving or renaming the class later breaks reading (until an alias is added).
  ``JsonCodec(unregistered="error")`` refuses such values with ``TypeError`` before
  anything is written; ``unregistered="register"`` registers silently (the old
  behaviour).  The workbench lists such types (``event_types_frame()``,
  ``registration == "implicit"``).
* An envelope whose type name is not registered at all decodes to that plain ``dict``
  (so notebooks can still show it); the workbench's ``decode_check`` reports it.

Decoding uses :mod:`orjson` (fast); encoding uses the standard library encoder with
``allow_nan=False`` so that NaN/Infinity are rejected instead of silently becoming
``null``; integers outside ``-2**63 .. 2**64-1`` (which orjson would read back as a
lossy float) are rejected with ``ValueError`` too.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import orjson

from ._errors import JournalIntegrityError, PersistenceError, SnapshotIntegrityError
from ._type_registry import (
    DecodeError,
    F,
    ReadPlan,
    TypeRegistry,
    UnregisteredTypeWarning,
    Upcaster,
    describe_callable,
)

__all__ = [
    "DecodeError",
    "JsonCodec",
    "UnregisteredTypeWarning",
    "Upcaster",
    "decode_stored",
    "default_codec",
    "event_type",
    "integrity_error",
    "upcaster",
]

T = TypeVar("T")


_TYPE = "$type"
_VERSION = "$version"
_VALUE = "$value"
#: The envelope keys of an encoded dataclass, public for readers of stored payloads
#: (the workbench's frames and streams); the codec itself uses the private names.
TYPE_KEY = _TYPE
VALUE_KEY = _VALUE

#: The integers orjson decodes exactly; beyond them it returns a (lossy) float.
_MIN_INT = -(2**63)
_MAX_INT = 2**64 - 1
#: Only an encoded text with a run of 19+ digits can hold such an integer (floats are
#: written with at most 17 significant digits), so the exact check rarely runs.
_LONG_DIGITS = re.compile(r"[0-9]{19}")
#: Leaf types that can never hide a reserved envelope (exact types, not subclasses).
_SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})


def _scalar_encoder() -> Callable[[Any], str]:
    """Writes the envelope of a simple dataclass (scalars only: no ``default`` hook
    needed): the standard library's C encoder built once (``JSONEncoder.encode`` builds
    it per call), with the same options as :meth:`JsonCodec.encode`."""
    encoder = json.JSONEncoder(allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has it
        return encoder.encode

    def refuse(value: Any) -> Any:
        raise TypeError(f"payload of type {type(value).__name__} is not JSON serializable")

    chunks = make(None, refuse, json.encoder.encode_basestring, None, ":", ",",
                  False, False, False)

    def encode(value: Any) -> str:
        return "".join(chunks(value, 0))

    return encode


_SCALAR_ENCODE = _scalar_encoder()


def _envelope_text(envelope: dict[str, Any], floats: bool) -> str:
    """The JSON text of a scalar envelope (see :func:`_scalar_encoder`).

    orjson writes exactly the standard encoder's bytes for ``str``/``int``/``bool``/
    ``None`` values (every code point is compared by a test) in a seventh of the time;
    a float keeps the standard ``repr`` (orjson spells ``1e+16`` as ``1e16``), and what
    orjson refuses (a lone surrogate, an integer beyond 64 bits) goes the standard way,
    whose checks word the error as :meth:`JsonCodec.encode` always has."""
    if not floats:
        try:
            return orjson.dumps(envelope).decode()
        except orjson.JSONEncodeError:
            pass
    return _SCALAR_ENCODE(envelope)


class JsonCodec(TypeRegistry):
    """Encodes values to JSON text and decodes them back, with a versioned dataclass registry.

    :param unregistered: what encoding an unregistered dataclass does: ``"warn"``
        (register it under ``module.QualName`` with an :class:`UnregisteredTypeWarning`,
        the default), ``"error"`` (``TypeError``, nothing is written) or ``"register"``
        (register it silently).
    """

    def __repr__(self) -> str:
        types = ", ".join(
            f"{name}@v{version}" if version != 1 else name
            for name, (version, _) in sorted(self._info.items())
        )
        return f"<JsonCodec types=[{types}] upcasters={len(self._upcasters)}>"

    # -- encoding -------------------------------------------------------------------
    def _default(self, value: Any) -> Any:
        cls = type(value)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            entry = self._by_class.get(cls)
            if entry is None:
                entry = self._register_implicitly(cls)
            names = self._field_names.get(cls)
            if names is None:
                names = self._field_names[cls] = tuple(f.name for f in dataclasses.fields(value))
            name, version = entry
            if version == 1:
                return {_TYPE: name, _VALUE: {n: getattr(value, n) for n in names}}
            return {_TYPE: name, _VERSION: version, _VALUE: {n: getattr(value, n) for n in names}}
        if isinstance(value, (tuple, set, frozenset)):
            return list(value)
        raise TypeError(f"payload of type {cls.__name__} is not JSON serializable: {value!r}")

    def encode(self, value: Any) -> str:
        """Return ``value`` as JSON text; ``TypeError``/``ValueError`` name what failed."""
        cls = type(value)
        if self._simple.get(cls):
            # A simple registered dataclass (see stored_value) whose fields hold only
            # scalars: its envelope is built here and written by the shared encoder
            # without a ``default`` hook (the same text; 4.2 -> 1.9 µs per event here).
            fields = {n: getattr(value, n) for n in self._field_names[cls]}
            kinds = {type(v) for v in fields.values()}
            if kinds <= _SCALAR_TYPES:
                name, version = self._by_class[cls]
                envelope = ({_TYPE: name, _VALUE: fields} if version == 1
                            else {_TYPE: name, _VERSION: version, _VALUE: fields})
                try:
                    text = _envelope_text(envelope, float in kinds)
                except ValueError as exc:  # NaN / Infinity
                    raise ValueError(f"payload cannot be serialized as JSON ({exc}): "
                                     f"{value!r:.200}") from None
                return self._checked_text(value, text, 1)
        envelopes = 0

        def default(item: Any) -> Any:
            nonlocal envelopes
            result = self._default(item)
            if type(result) is dict:  # only dataclasses become dicts: a typed envelope
                envelopes += 1
            return result

        try:
            # A fresh encoder per call (json builds its C encoder per call anyway) so the
            # hook can count the envelopes it writes, thread-safely.
            text = json.JSONEncoder(
                allow_nan=False, ensure_ascii=False, separators=(",", ":"), default=default
            ).encode(value)
        except ValueError as exc:  # NaN / Infinity, circular references
            raise ValueError(f"payload cannot be serialized as JSON ({exc}): {value!r:.200}") from None
        except RecursionError:
            raise _too_deep(value) from None
        return self._checked_text(value, text, envelopes)

    def encode_many(self, values: Sequence[Any]) -> list[str]:
        """``[self.encode(v) for v in values]`` — the same texts, the same first error —
        for a batch of simple registered dataclasses (a ``persist_all``) with the fast
        path's checks done once for the batch (valid UTF-8, one ``"$type":`` per
        envelope) or on the field values (integers in range) instead of per text;
        anything else, or a batch a check flags, is encoded value by value."""
        return self.encode_batch(values)[0]

    def encode_batch(self, values: Sequence[Any]) -> tuple[list[str], bool]:
        """:meth:`encode_many`, and whether every value took the batch path: then
        ``stored_value(v, text) is v`` for each (a simple frozen dataclass of scalars,
        just checked), so an append returns its events without asking again."""
        cls_codec = type(self)
        if (cls_codec.encode is not JsonCodec.encode or len(values) < 2
                or cls_codec.stored_value is not JsonCodec.stored_value):
            return [self.encode(value) for value in values], False
        simple, field_names, by_class = self._simple, self._field_names, self._by_class
        texts: list[str] = []
        for value in values:
            cls = type(value)
            if not simple.get(cls):
                return [self.encode(value) for value in values], False
            fields = {n: getattr(value, n) for n in field_names[cls]}
            floats = False
            for field in fields.values():
                kind = type(field)
                # Scalars only, and ints that read back exactly: what the per-event
                # digit-run check (a regex over the text) finds, asked of the values.
                if kind not in _SCALAR_TYPES or (
                        kind is int and not _MIN_INT <= field <= _MAX_INT):
                    return [self.encode(value) for value in values], False
                floats = floats or kind is float
            name, version = by_class[cls]
            try:
                texts.append(_envelope_text(
                    {_TYPE: name, _VALUE: fields} if version == 1
                    else {_TYPE: name, _VERSION: version, _VALUE: fields}, floats))
            except ValueError:  # NaN / Infinity: let encode() word it
                return [self.encode(value) for value in values], False
        # "\n" never extends a digit run or a '"$type":' across two texts.
        joined = "\n".join(texts)
        try:
            joined.encode("utf-8")
        except UnicodeEncodeError:
            return [self.encode(value) for value in values], False
        if joined.count('"$type":') != len(texts):
            return [self.encode(value) for value in values], False
        return texts, True

    def _checked_text(self, value: Any, text: str, envelopes: int) -> str:
        """``text`` (the encoding of ``value``) once it is valid UTF-8 and passes
        :meth:`_check_encoded`."""
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"payload contains text that is not valid UTF-8 ({exc.reason}): "
                             f"{exc.object[exc.start:exc.end]!r}") from None
        try:
            self._check_encoded(value, text, envelopes)
        except RecursionError:
            raise _too_deep(value) from None
        return text

    def _check_encoded(self, value: Any, text: str, envelopes: int) -> None:
        """The checks that walk ``value`` (rarely needed; see :meth:`encode`)."""
        if _LONG_DIGITS.search(text):
            bad = _out_of_range_int(value)
            if bad is not None:
                raise ValueError(
                    f"payload contains an integer that would not read back exactly (JSON "
                    f"integers must lie in {_MIN_INT}..{_MAX_INT}): {bad}"
                )
        # Every "$type" key appears in the text as '"$type":'.  When all of them are our
        # own envelopes no plain dict can misuse the reserved shape: skip the walk.
        if (_TYPE in text and text.count('"$type":') != envelopes
                and self._reserved_key_misused(value)):
            raise ValueError(
                f"a plain dict with exactly the keys {_TYPE!r} and {_VALUE!r} (and optionally "
                f"{_VERSION!r}) is reserved for typed payloads: {value!r:.200}"
            )

    def _reserved_key_misused(self, value: Any) -> bool:
        """Whether a plain dict shaped like a typed envelope hides anywhere in ``value``."""
        kind = type(value)
        if kind in _SCALAR_TYPES:
            return False
        if isinstance(value, dict):
            if _is_envelope_shape(value):
                return True
            return any(self._reserved_key_misused(v) for v in value.values())
        if isinstance(value, (list, tuple)):
            return any(self._reserved_key_misused(v) for v in value)
        names = self._field_names.get(kind)
        if names is None:
            if not dataclasses.is_dataclass(value) or isinstance(value, type):
                return False
            names = tuple(f.name for f in dataclasses.fields(value))
        return any(self._reserved_key_misused(getattr(value, n)) for n in names)

    def stored_value(self, value: Any, text: str) -> Any:
        """What ``decode(text)`` returns, ``text`` being ``encode(value)``.

        For a frozen dataclass registered (currently, at its version) without
        ``__post_init__`` whose fields are all plain ``str``/``int``/``float``/``bool``/
        ``None`` values, that is an equal new instance of the same class, so ``value``
        itself is returned (immutable, equal) without parsing; anything else is decoded.
        """
        cls = type(value)
        simple = self._simple.get(cls)
        if simple is None:
            simple = self._simple[cls] = _is_simple_dataclass(cls, self)
        if simple and all(
            type(getattr(value, name)) in _SCALAR_TYPES for name in self._field_names[cls]
        ):
            return value
        return self.decode(text)

    # -- decoding -------------------------------------------------------------------
    def decode(self, text: str | bytes) -> Any:
        """Return the value encoded in ``text``.

        Raises ``ValueError`` on invalid JSON and :class:`DecodeError` (a ``ValueError``)
        when a registered type cannot be read (see the module docstring).
        """
        value = orjson.loads(text)
        if isinstance(text, str):
            tags = text.count(_TYPE)
        else:
            tags = text.count(b"$type")
        if not tags:
            return value
        if tags == 1 and type(value) is dict:
            # Fast path for the common typed event: one envelope at the top, so nothing
            # inside it can be another envelope (the only "$type" in the text is its key).
            name = value.get(_TYPE)
            inner = value.get(_VALUE)
            if type(name) is str and type(inner) is dict:
                if len(value) == 2:  # version 1
                    cls = self._direct1.get(name)
                    if cls is not None:  # registered at version 1: no upcasting
                        try:
                            return cls(**inner)
                        except Exception:  # leave the handler: no chained context
                            pass
                        return self._revive_checked(value)  # raises, naming the error
                    plan = self._plans1.get(name)
                    if plan is None:
                        plan = self._plan(name, 1)
                elif len(value) == 3 and _VERSION in value:
                    version = value[_VERSION]
                    plan = self._plans.get((name, version)) if type(version) is int else None
                    if plan is None:
                        plan = self._plan(name, version)
                else:
                    plan = None
                if plan is not None:
                    cls, steps = plan
                    try:
                        for step in steps:
                            inner = step(inner)
                        return cls(**inner)
                    except Exception:  # leave the handler: no chained context
                        pass
                    # Re-read on the general path: it names the failing step precisely
                    # (DecodeError); pure upcasters fail the same way again.
                    return self._revive_checked(orjson.loads(text))
        return self._revive_checked(value)

    def _revive_checked(self, value: Any) -> Any:
        try:
            return self._revive(value)
        except RecursionError:
            raise ValueError("stored JSON is nested too deeply to decode (Python recursion "
                             "limit reached)") from None

    def _decode_error(self, name: str, version: object, plan: ReadPlan, exc: Exception) -> DecodeError:
        if isinstance(exc, DecodeError):
            return exc
        cls, steps = plan
        current = self.current_version(name)
        return DecodeError(
            name, version, current,
            f"the value does not fit {cls.__qualname__} after {len(steps)} upcaster(s) "
            f"({type(exc).__name__}: {exc})",
        )

    def _build(self, plan: ReadPlan, name: str, version: object, inner: dict[str, Any]) -> Any:
        cls, steps = plan
        try:
            for k, step in enumerate(steps):
                try:
                    inner = step(inner)
                except Exception as exc:
                    start = version if isinstance(version, int) else 1
                    raise DecodeError(
                        name, version, self.current_version(name),
                        f"upcaster {describe_callable(step)} from version {start + k} failed "
                        f"({type(exc).__name__}: {exc})",
                    ) from exc
                if type(inner) is not dict:
                    raise DecodeError(
                        name, version, self.current_version(name),
                        f"upcaster {describe_callable(step)} returned "
                        f"{type(inner).__name__}, not a dict",
                    )
            return cls(**{k: self._revive(v) for k, v in inner.items()})
        except Exception as exc:
            raise self._decode_error(name, version, plan, exc) from exc

    def _revive(self, value: Any) -> Any:
        if isinstance(value, dict):
            if _is_envelope_shape(value):
                name, inner = value[_TYPE], value[_VALUE]
                if type(name) is str and isinstance(inner, dict):
                    version = value.get(_VERSION, 1)
                    plan = None
                    if type(version) is int:
                        plan = (self._plans1.get(name) if version == 1
                                else self._plans.get((name, version)))
                    if plan is None:
                        plan = self._plan(name, version)
                    if plan is not None:
                        return self._build(plan, name, version, inner)
            return {k: self._revive(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._revive(v) for v in value]
        return value

    def describe(self, text: str | bytes) -> tuple[str | None, int | None]:
        """The ``(type name, stored version)`` of a payload's top-level envelope, or
        ``(None, None)`` for a plain value (no parsing of what is inside)."""
        value = orjson.loads(text)
        if type(value) is dict and _is_envelope_shape(value) and type(value[_TYPE]) is str:
            version = value.get(_VERSION, 1)
            return value[_TYPE], version if type(version) is int else None
        return None, None


def _too_deep(value: Any) -> ValueError:
    """The error for a value nested beyond what the encoder's walks can follow."""
    return ValueError(f"payload is nested too deeply to serialize (Python recursion limit "
                      f"reached): {type(value).__name__}")


def _is_envelope_shape(value: Mapping[str, Any]) -> bool:
    n = len(value)
    return (n == 2 or (n == 3 and _VERSION in value)) and _TYPE in value and _VALUE in value


def _out_of_range_int(value: Any) -> int | None:
    """The first ``int`` in ``value`` outside ``_MIN_INT..._MAX_INT``, or ``None``."""
    if isinstance(value, int):
        return None if _MIN_INT <= value <= _MAX_INT else int(value)
    if isinstance(value, dict):
        children: Any = value.values()
    elif isinstance(value, (list, tuple, set, frozenset)):
        children = value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        children = [getattr(value, f.name) for f in dataclasses.fields(value)]
    else:
        return None
    for child in children:
        bad = _out_of_range_int(child)
        if bad is not None:
            return bad
    return None


def _is_simple_dataclass(cls: type[Any], codec: JsonCodec) -> bool:
    """A frozen dataclass registered under a name, with only init fields and no
    ``__post_init__``: decoding its encoding rebuilds an equal instance field by field."""
    if not (dataclasses.is_dataclass(cls) and isinstance(cls, type)):
        return False
    params = getattr(cls, "__dataclass_params__", None)
    name = codec.type_name(cls)
    return (
        params is not None and bool(params.frozen)
        and name is not None and codec._by_name.get(name) is cls
        and not hasattr(cls, "__post_init__")
        and cls in codec._field_names
        and all(f.init for f in dataclasses.fields(cls))
    )




#: The codec used by stores unless one is passed explicitly.
default_codec = JsonCodec()


def event_type(
    name: str | None = None, *, version: int = 1, aliases: Iterable[str] = ()
) -> Callable[[type[T]], type[T]]:
    """Class decorator registering a dataclass with :data:`default_codec`.

    >>> from dataclasses import dataclass
    >>> @event_type("bank.Deposited", version=2, aliases=("bank.MoneyIn",))
    ... @dataclass(frozen=True)
    ... class Deposited:
    ...     amount: int
    ...     currency: str
    """

    def decorate(cls: type[T]) -> type[T]:
        return default_codec.register(cls, name, version=version, aliases=aliases)

    return decorate


def upcaster(name: str, from_version: int) -> Callable[[F], F]:
    """Decorator registering an upcaster on :data:`default_codec`
    (see :meth:`JsonCodec.upcaster`).

    >>> @upcaster("bank.Deposited", from_version=1)
    ... def deposited_v1_to_v2(value: dict) -> dict:
    ...     return {**value, "currency": "EUR"}
    """
    return default_codec.upcaster(name, from_version)


def decode_stored(
    codec: JsonCodec,
    payload: str,
    *,
    what: str,
    persistence_id: str,
    sequence_nr: int,
    position: str = "sequence_nr",
    error: type[PersistenceError] = JournalIntegrityError,
) -> Any:
    """Decode a payload read from a store; a row that cannot be decoded (not JSON, nested
    beyond the decoder's limit, no upcaster path, a row written by newer code, a value
    that no longer fits its class) raises ``error`` naming the stream, the position
    (``sequence_nr`` or ``revision``) and, for typed payloads, the type name and both
    versions, with the decoder's exception as ``__cause__``, never a raw decoder
    exception.  ``error`` is :class:`JournalIntegrityError` (events, durable states) or
    :class:`SnapshotIntegrityError` (snapshots)."""
    try:
        return codec.decode(payload)
    except (ValueError, TypeError, RecursionError) as exc:
        raise integrity_error(exc, payload, what=what, persistence_id=persistence_id,
                              sequence_nr=sequence_nr, position=position, error=error) from exc


def integrity_error(
    exc: BaseException,
    payload: str | bytes,
    *,
    what: str,
    persistence_id: str,
    sequence_nr: int,
    position: str = "sequence_nr",
    error: type[PersistenceError] = JournalIntegrityError,
) -> PersistenceError:
    """The ``error`` :func:`decode_stored` raises for ``exc`` (set ``__cause__`` yourself)."""
    head = payload[:80]
    message = (f"{what} of {persistence_id!r} at {position} {sequence_nr} cannot be decoded "
               f"({type(exc).__name__}: {exc}); stored text starts {head!r}")
    if issubclass(error, (JournalIntegrityError, SnapshotIntegrityError)):
        return error(message, persistence_id=persistence_id, sequence_nr=sequence_nr)
    return error(message)
