"""A small recursive diff of actor states (dicts, lists, dataclasses, plain values).

:func:`diff_states` returns a :class:`StateDiff`: an ordered mapping from a path
(``balance``, ``owners[2]``, ``limits.daily``) to a :class:`Change` with the old
and the new value (:data:`ABSENT` when the path did not exist on one side).
Dataclasses and mappings are compared field by field, lists and tuples item by item.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ABSENT", "Change", "StateDiff", "diff_states"]


class _Absent:
    """The marker for "this path did not exist on this side"."""

    _instance: _Absent | None = None

    def __new__(cls) -> _Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<absent>"

    def __bool__(self) -> bool:
        return False


ABSENT: Any = _Absent()

_MAX_REPR = 80


@dataclass(frozen=True, slots=True)
class Change:
    """One changed path: ``kind`` is ``"added"``, ``"removed"`` or ``"changed"``."""

    path: str
    old: Any
    new: Any

    @property
    def kind(self) -> str:
        if self.old is ABSENT:
            return "added"
        if self.new is ABSENT:
            return "removed"
        return "changed"

    def __str__(self) -> str:
        if self.kind == "added":
            return f"+ {self.path} = {_short(self.new)}"
        if self.kind == "removed":
            return f"- {self.path} (was {_short(self.old)})"
        return f"~ {self.path}: {_short(self.old)} → {_short(self.new)}"


@dataclass(frozen=True, slots=True)
class StateDiff(Mapping[str, Change]):
    """The changes between two states, in path order of discovery (a read-only mapping)."""

    changes: tuple[Change, ...] = ()

    def __getitem__(self, path: str) -> Change:
        for change in self.changes:
            if change.path == path:
                return change
        raise KeyError(path)

    def __iter__(self) -> Iterator[str]:
        return (c.path for c in self.changes)

    def __len__(self) -> int:
        return len(self.changes)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """``{path: {"old": ..., "new": ...}}`` (a side is omitted when absent)."""
        out: dict[str, dict[str, Any]] = {}
        for change in self.changes:
            entry: dict[str, Any] = {}
            if change.old is not ABSENT:
                entry["old"] = change.old
            if change.new is not ABSENT:
                entry["new"] = change.new
            out[change.path] = entry
        return out

    def _display_text_(self) -> str:
        """One line for a table cell (:func:`~actorpg_lab.lab.show`): the changes, ``; ``-joined."""
        return "; ".join(str(c) for c in self.changes) or "(no change)"

    def __str__(self) -> str:
        return "\n".join(str(c) for c in self.changes) if self.changes else "(no change)"

    def __repr__(self) -> str:
        inner = "; ".join(str(c) for c in self.changes)
        return f"StateDiff({inner})" if inner else "StateDiff(no change)"

    def _repr_html_(self) -> str:
        if not self.changes:
            return "<span class='actorpg-nochange'>(no change)</span>"
        colours = {"added": "#1a7f37", "removed": "#cf222e", "changed": "#9a6700"}
        rows = "".join(
            f"<li style='color:{colours[c.kind]}'><code>{html.escape(str(c))}</code></li>"
            for c in self.changes
        )
        return f"<ul class='actorpg-diff-list' style='margin:0;padding-left:1.2em'>{rows}</ul>"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 1] + "…"


def _as_mapping(value: Any) -> Mapping[str, Any] | None:
    if isinstance(value, Mapping):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    return None


def _join(prefix: str, key: Any) -> str:
    name = key if isinstance(key, str) and key.isidentifier() else repr(key)
    if not isinstance(key, str) or not key.isidentifier():
        return f"{prefix}[{name}]"
    return f"{prefix}.{name}" if prefix else name


def _walk(old: Any, new: Any, path: str, out: list[Change], depth: int) -> None:
    if old is new:
        return
    old_map, new_map = _as_mapping(old), _as_mapping(new)
    if depth < 50 and old_map is not None and new_map is not None and type(old) is type(new):
        for key in old_map:
            child = _join(path, key)
            if key in new_map:
                _walk(old_map[key], new_map[key], child, out, depth + 1)
            else:
                out.append(Change(child, old_map[key], ABSENT))
        for key in new_map:
            if key not in old_map:
                out.append(Change(_join(path, key), ABSENT, new_map[key]))
        return
    if (depth < 50 and isinstance(old, (list, tuple)) and isinstance(new, (list, tuple))
            and type(old) is type(new)):
        for i in range(max(len(old), len(new))):
            child = f"{path}[{i}]"
            if i >= len(new):
                out.append(Change(child, old[i], ABSENT))
            elif i >= len(old):
                out.append(Change(child, ABSENT, new[i]))
            else:
                _walk(old[i], new[i], child, out, depth + 1)
        return
    try:
        same = bool(old == new) and type(old) is type(new)
    except Exception:  # objects whose == raises or is ambiguous (arrays)
        same = False
    if not same:
        out.append(Change(path or "<root>", old, new))


def diff_states(old: Any, new: Any) -> StateDiff:
    """The changes from ``old`` to ``new`` (an empty :class:`StateDiff` when equal)."""
    out: list[Change] = []
    _walk(old, new, "", out, 0)
    return StateDiff(tuple(out))
