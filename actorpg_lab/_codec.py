"""JSON codec for payloads (events, snapshot states, durable states).

Plain JSON values (``dict`` with ``str`` keys, ``list``, ``str``, ``int``, ``float``,
``bool``, ``None``) round-trip unchanged.  Dataclass instances round-trip through a
type registry: they are written as ``{"$type": NAME, "$value": {field: value, ...}}``
and read back as instances of the registered class.  Register a class with
:func:`event_type` (a decorator) or :meth:`JsonCodec.register`; a dataclass encoded
before it was registered is registered on the fly under its qualified name.

Decoding uses :mod:`orjson` (fast); encoding uses the standard library encoder with
``allow_nan=False`` so that NaN/Infinity are rejected instead of silently becoming
``null``; integers outside ``-2**63 .. 2**64-1`` (which orjson would read back as a
lossy float) are rejected with ``ValueError`` too.  An object of type
``{"$type": ..., "$value": ...}`` whose name is not registered is returned as that
plain ``dict`` (so notebooks can still show it).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

import orjson

__all__ = ["JsonCodec", "default_codec", "event_type"]

T = TypeVar("T")

_TYPE = "$type"
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


class JsonCodec:
    """Encodes values to JSON text and decodes them back, with a dataclass registry."""

    def __init__(self) -> None:
        self._by_name: dict[str, type[Any]] = {}
        self._by_class: dict[type[Any], str] = {}
        #: Field names per dataclass, looked up once (``dataclasses.fields`` is slow).
        self._field_names: dict[type[Any], tuple[str, ...]] = {}
        #: Per dataclass: do its plain-scalar instances read back as equal new instances?
        self._simple: dict[type[Any], bool] = {}
        self._encoder = json.JSONEncoder(
            allow_nan=False, ensure_ascii=False, separators=(",", ":"), default=self._default
        )

    def __repr__(self) -> str:
        return f"<JsonCodec registered={sorted(self._by_name)!r}>"

    # -- registry -------------------------------------------------------------------
    def register(self, cls: type[T], name: str | None = None) -> type[T]:
        """Register dataclass ``cls`` under ``name`` (default: ``module.QualName``)."""
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            raise TypeError(f"only dataclasses can be registered, got {cls!r}")
        type_name = name if name is not None else f"{cls.__module__}.{cls.__qualname__}"
        if not isinstance(type_name, str) or not type_name:
            raise ValueError(f"type name must be a non-empty str: {type_name!r}")
        existing = self._by_name.get(type_name)
        if existing is not None and existing is not cls:
            raise ValueError(f"type name {type_name!r} is already registered for {existing!r}")
        self._by_name[type_name] = cls
        self._by_class[cls] = type_name
        return cls

    def type_name(self, cls: type[Any]) -> str | None:
        """The registered name of ``cls`` or ``None``."""
        return self._by_class.get(cls)

    # -- encoding -------------------------------------------------------------------
    def _default(self, value: Any) -> Any:
        cls = type(value)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            name = self._by_class.get(cls)
            if name is None:
                self.register(cls)
                name = self._by_class[cls]
            names = self._field_names.get(cls)
            if names is None:
                names = self._field_names[cls] = tuple(f.name for f in dataclasses.fields(value))
            return {_TYPE: name, _VALUE: {n: getattr(value, n) for n in names}}
        if isinstance(value, (tuple, set, frozenset)):
            return list(value)
        raise TypeError(f"payload of type {cls.__name__} is not JSON serializable: {value!r}")

    def encode(self, value: Any) -> str:
        """Return ``value`` as JSON text; ``TypeError``/``ValueError`` name what failed."""
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
                f"a plain dict with exactly the keys {_TYPE!r} and {_VALUE!r} is reserved for "
                f"typed payloads: {value!r:.200}"
            )

    def _reserved_key_misused(self, value: Any) -> bool:
        """Whether a plain dict shaped like a typed envelope hides anywhere in ``value``."""
        kind = type(value)
        if kind in _SCALAR_TYPES:
            return False
        if isinstance(value, dict):
            if len(value) == 2 and _TYPE in value and _VALUE in value:
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

        For a frozen, registered dataclass without ``__post_init__`` whose fields are all
        plain ``str``/``int``/``float``/``bool``/``None`` values, that is an equal new
        instance of the same class, so ``value`` itself is returned (immutable, equal)
        without parsing; anything else is decoded.
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
        """Return the value encoded in ``text`` (raises ``ValueError`` on invalid JSON)."""
        value = orjson.loads(text)
        if isinstance(text, str):
            tags = text.count(_TYPE)
        else:
            tags = text.count(b"$type")
        if not tags:
            return value
        if tags == 1 and type(value) is dict and len(value) == 2:
            # Fast path for the common typed event: one envelope at the top, so nothing
            # inside it can be another envelope (the only "$type" in the text is its key).
            name = value.get(_TYPE)
            cls = self._by_name.get(name) if type(name) is str else None
            inner = value.get(_VALUE)
            if cls is not None and type(inner) is dict:
                return cls(**inner)
        try:
            return self._revive(value)
        except RecursionError:
            raise ValueError("stored JSON is nested too deeply to decode (Python recursion "
                             "limit reached)") from None

    def _revive(self, value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) == 2 and _TYPE in value and _VALUE in value:
                cls = self._by_name.get(value[_TYPE])
                inner = value[_VALUE]
                if cls is not None and isinstance(inner, dict):
                    return cls(**{k: self._revive(v) for k, v in inner.items()})
            return {k: self._revive(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._revive(v) for v in value]
        return value


def _too_deep(value: Any) -> ValueError:
    """The error for a value nested beyond what the encoder's walks can follow."""
    return ValueError(f"payload is nested too deeply to serialize (Python recursion limit "
                      f"reached): {type(value).__name__}")


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


def event_type(name: str | None = None) -> Callable[[type[T]], type[T]]:
    """Class decorator registering a dataclass with :data:`default_codec`.

    >>> @event_type("bank.Deposited")
    ... @dataclass(frozen=True)
    ... class Deposited:
    ...     amount: int
    """

    def decorate(cls: type[T]) -> type[T]:
        return default_codec.register(cls, name)

    return decorate
