"""The versioned type registry behind :class:`~actorpg_lab.JsonCodec`.

Which dataclass is stored under which name and version, its aliases (former names),
the upcasters between versions, and the read plan a stored ``(name, version)`` takes
(the class to build and the upcasters to run first).  The rules are described in
:mod:`actorpg_lab._codec`; encoding and decoding JSON live there, the bookkeeping here.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Iterable
from typing import Any, Literal, TypeVar

from ._errors import DecodeError, UnregisteredTypeWarning
from ._types import _TYPE_NAMES

__all__ = [
    "DecodeError",
    "ReadPlan",
    "TypeRegistry",
    "Unregistered",
    "UnregisteredTypeWarning",
    "Upcaster",
    "describe_callable",
]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[[dict[str, Any]], dict[str, Any]])

#: An upcaster: version k's ``"$value"`` dict -> version k+1's.
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
Unregistered = Literal["warn", "error", "register"]

#: How a registered type is read: the class and the upcasters from a stored version on.
ReadPlan = tuple[type[Any], tuple[Upcaster, ...]]


def describe_callable(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


class TypeRegistry:
    """Names, versions, aliases and upcasters of registered dataclasses (see
    :class:`~actorpg_lab.JsonCodec`, which reads and writes JSON with them)."""

    def __init__(self, *, unregistered: Unregistered = "warn") -> None:
        if unregistered not in ("warn", "error", "register"):
            raise ValueError(
                f"unregistered must be 'warn', 'error' or 'register', got {unregistered!r}"
            )
        self.unregistered: Unregistered = unregistered
        #: Name or alias -> the class currently registered under it.
        self._by_name: dict[str, type[Any]] = {}
        #: Name or alias -> the canonical name.
        self._canonical: dict[str, str] = {}
        #: Canonical name -> (version, aliases).
        self._info: dict[str, tuple[int, tuple[str, ...]]] = {}
        #: Class -> (canonical name, version) it encodes with (replaced classes included).
        self._by_class: dict[type[Any], tuple[str, int]] = {}
        #: (module, qualname) -> the current class (re-registration replaces it).
        self._by_key: dict[tuple[str, str], type[Any]] = {}
        #: Canonical names registered implicitly (unregistered dataclasses encoded).
        self._implicit: set[str] = set()
        #: (name, from_version) -> upcaster.
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        #: Read plans, built lazily, dropped on every registry change.
        self._plans1: dict[str, ReadPlan] = {}  # version-1 rows (no "$version"): the hot path
        self._plans: dict[tuple[str, int], ReadPlan] = {}
        #: Version-1 rows of types registered at version 1 (no upcasters): the hottest path.
        self._direct1: dict[str, type[Any]] = {}
        #: Field names per dataclass, looked up once (``dataclasses.fields`` is slow).
        self._field_names: dict[type[Any], tuple[str, ...]] = {}
        #: Per dataclass: do its plain-scalar instances read back as equal new instances?
        self._simple: dict[type[Any], bool] = {}

    # -- registry -------------------------------------------------------------------
    def register(
        self,
        cls: type[T],
        name: str | None = None,
        *,
        version: int = 1,
        aliases: Iterable[str] = (),
    ) -> type[T]:
        """Register dataclass ``cls`` under ``name`` (default ``module.QualName``).

        ``version`` (an ``int >= 1``) is what new rows are written as; older rows are
        upgraded with the upcasters.  ``aliases`` are other names (e.g. the type's
        former names) whose rows read as ``cls``.  A class with the same module and
        qualified name as a registered one (a re-run notebook cell) replaces it; a name
        or alias held by another class is a ``ValueError``.
        """
        self._register(cls, name, version, aliases, implicit=False)
        return cls

    def _register(
        self, cls: type[Any], name: str | None, version: int, aliases: Iterable[str],
        *, implicit: bool,
    ) -> str:
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            raise TypeError(f"only dataclasses can be registered, got {cls!r}")
        type_name = name if name is not None else f"{cls.__module__}.{cls.__qualname__}"
        if not isinstance(type_name, str) or not type_name:
            raise ValueError(f"type name must be a non-empty str: {type_name!r}")
        if isinstance(version, bool) or not isinstance(version, int):
            raise TypeError(f"version must be an int, got {version!r}")
        if version < 1:
            raise ValueError(f"version must be >= 1, got {version!r}")
        if isinstance(aliases, str):
            raise TypeError(f"aliases must be a collection of names, not a str: {aliases!r}")
        alias_names = tuple(dict.fromkeys(aliases))
        for alias in alias_names:
            if not isinstance(alias, str) or not alias:
                raise ValueError(f"aliases must be non-empty strs: {alias!r}")
        alias_names = tuple(a for a in alias_names if a != type_name)
        key = (cls.__module__, cls.__qualname__)
        replaced = self._by_key.get(key)
        for n in (type_name, *alias_names):
            holder = self._by_name.get(n)
            if holder is not None and holder is not replaced:
                raise ValueError(f"type name {n!r} is already registered for {holder!r}")
        if replaced is not None:
            old = self._by_class[replaced][0]
            _, old_aliases = self._info.pop(old)
            for n in (old, *old_aliases):
                self._by_name.pop(n, None)
                self._canonical.pop(n, None)
            self._implicit.discard(old)
        for n in (type_name, *alias_names):
            self._by_name[n] = cls
            self._canonical[n] = type_name
        self._info[type_name] = (version, alias_names)
        self._by_class[cls] = (type_name, version)
        self._by_key[key] = cls
        _TYPE_NAMES[cls] = type_name  # PersistentEvent.event_type
        if implicit:
            self._implicit.add(type_name)
        self._changed()
        return type_name

    def upcaster(self, name: str, from_version: int) -> Callable[[F], F]:
        """Decorator registering an upcaster of type ``name`` from ``from_version`` to
        ``from_version + 1``: a pure function taking version ``from_version``'s
        ``"$value"`` dict and returning version ``from_version + 1``'s.

        ``name`` may be the type's name or one of its aliases.  Registering a function
        with the same module and qualified name again (a re-run cell) replaces it; a
        different function for the same step is a ``ValueError``.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"type name must be a non-empty str: {name!r}")
        if isinstance(from_version, bool) or not isinstance(from_version, int):
            raise TypeError(f"from_version must be an int, got {from_version!r}")
        if from_version < 1:
            raise ValueError(f"from_version must be >= 1, got {from_version!r}")

        def decorate(fn: F) -> F:
            if not callable(fn):
                raise TypeError(f"an upcaster must be callable, got {fn!r}")
            existing = self._upcasters.get((name, from_version))
            if existing is not None and existing is not fn and (
                describe_callable(existing) != describe_callable(fn)
            ):
                raise ValueError(
                    f"type {name!r} already has an upcaster from version {from_version}: "
                    f"{describe_callable(existing)}"
                )
            self._upcasters[(name, from_version)] = fn
            self._changed()
            return fn

        return decorate

    def _changed(self) -> None:
        self._plans1.clear()
        self._plans.clear()
        self._direct1.clear()
        self._simple.clear()

    def type_name(self, cls: type[Any]) -> str | None:
        """The registered name of ``cls`` or ``None``."""
        entry = self._by_class.get(cls)
        return None if entry is None else entry[0]

    def resolve(self, name: str) -> str | None:
        """The canonical name ``name`` (a name or an alias) reads as, or ``None``."""
        return self._canonical.get(name)

    def aliases_of(self, name: str) -> tuple[str, ...]:
        """The aliases of the type ``name`` (or alias) reads as (``()`` if unregistered)."""
        canonical = self._canonical.get(name)
        return () if canonical is None else self._info[canonical][1]

    def current_version(self, name: str) -> int | None:
        """The registered version of the type ``name`` (or alias) reads as, or ``None``."""
        canonical = self._canonical.get(name)
        return None if canonical is None else self._info[canonical][0]

    def is_implicit(self, name: str) -> bool:
        """Whether ``name`` was registered implicitly (an unregistered dataclass encoded)."""
        canonical = self._canonical.get(name)
        return canonical is not None and canonical in self._implicit

    def registered_types(self) -> dict[str, tuple[type[Any], int, tuple[str, ...]]]:
        """Canonical name -> (class, version, aliases), sorted by name."""
        return {name: (self._by_name[name], version, aliases)
                for name, (version, aliases) in sorted(self._info.items())}

    def upcast_chain(self, name: str, stored_version: int) -> list[str]:
        """The upcasters reading a ``name`` row stored at ``stored_version`` runs, as
        ``"v1->v2 module.function"`` strings (empty when it is read as is).

        Raises :class:`DecodeError` when there is no path (or ``name`` is unknown).
        """
        canonical = self._canonical.get(name)
        if canonical is None:
            raise DecodeError(name, stored_version, None, "type is not registered")
        self._plan(name, stored_version)  # validates the path
        return [
            f"v{k}->v{k + 1} {describe_callable(fn)}"
            for k, fn in zip(range(stored_version, self._info[canonical][0]),
                             self._steps(name, canonical, stored_version), strict=True)
        ]

    def _steps(self, name: str, canonical: str, version: int) -> list[Upcaster]:
        current, aliases = self._info[canonical]
        steps: list[Upcaster] = []
        for k in range(version, current):
            for candidate in (canonical, name, *aliases):
                fn = self._upcasters.get((candidate, k))
                if fn is not None:
                    steps.append(fn)
                    break
            else:
                hint = f"@upcaster({canonical!r}, from_version={k})"
                raise DecodeError(name, version, current,
                                  f"no upcaster from version {k} to {k + 1} (register one "
                                  f"with {hint})")
        return steps

    def _plan(self, name: str, version: object) -> ReadPlan | None:
        """How to read a ``name`` row at ``version``; ``None`` when ``name`` is unknown."""
        cls = self._by_name.get(name)
        if cls is None:
            return None
        canonical = self._canonical[name]
        current = self._info[canonical][0]
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise DecodeError(name, version, current, "\"$version\" must be an int >= 1")
        if version > current:
            raise DecodeError(
                name, version, current,
                "the row was written by newer code (stored version is newer than the "
                "registered one); read it with the code that registers that version",
            )
        plan: ReadPlan = (cls, tuple(self._steps(name, canonical, version)))
        if version == 1:
            self._plans1[name] = plan
            if not plan[1]:
                self._direct1[name] = cls
        else:
            self._plans[(name, version)] = plan
        return plan

    def _register_implicitly(self, cls: type[Any]) -> tuple[str, int]:
        name = f"{cls.__module__}.{cls.__qualname__}"
        if self.unregistered == "error":
            raise TypeError(
                f"dataclass {name} is not registered with the codec; register it with "
                f"@event_type('some.StableName') (or JsonCodec.register) before persisting it"
            )
        if self.unregistered == "warn":
            warnings.warn(
                f"dataclass {name} is not registered: it is stored under its qualified name "
                f"{name!r}, which ties the stored data to its module path (moving or renaming "
                f"the class breaks reading it); register it with "
                f"@event_type('some.StableName')",
                UnregisteredTypeWarning,
                stacklevel=4,
            )
        self._register(cls, None, 1, (), implicit=True)
        return self._by_class[cls]
