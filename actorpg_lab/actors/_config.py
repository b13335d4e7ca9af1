"""Actor-system configuration: a HOCON string or a dict (nested or with dotted keys).

HOCON is parsed with :mod:`pyhocon` (imported only when a string is given).  The
user's configuration is merged over :data:`DEFAULTS`; look values up with dotted
paths::

    cfg = Config.load('actorpg.persistence.journal.plugin = "actorpg.persistence.journal.postgres"')
    cfg.get_str("actorpg.persistence.journal.plugin")
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "DEFAULTS",
    "DURABLE_STATE_PLUGIN_KEY",
    "JOURNAL_PLUGIN_KEY",
    "LIMITS_KEY",
    "SNAPSHOT_PLUGIN_KEY",
    "Config",
    "limits_from_config",
]

JOURNAL_PLUGIN_KEY = "actorpg.persistence.journal.plugin"
SNAPSHOT_PLUGIN_KEY = "actorpg.persistence.snapshot-store.plugin"
DURABLE_STATE_PLUGIN_KEY = "actorpg.persistence.durable-state-store.plugin"

#: HOCON: the store caps (:class:`~actorpg_lab.Limits`) of every store a system's plugins
#: create, in memory and on PostgreSQL; ``actorpg.persistence.<kind>.limits`` (kind
#: ``journal``, ``snapshot-store``, ``durable-state-store``) overrides them per kind::
#:
#:     actorpg.persistence.limits { max-payload-bytes = 1048576, max-tags-per-event = 32 }
#:     actorpg.persistence.journal.limits.max-tags-per-event = 8
LIMITS_KEY = "actorpg.persistence.limits"
#: The HOCON spelling of each :class:`~actorpg_lab.Limits` field.
_LIMIT_NAMES = {"max-payload-bytes": "max_payload_bytes", "max-tags-per-event": "max_tags_per_event"}

#: Defaults every system starts from: the in-memory plugins.
DEFAULTS: Mapping[str, Any] = {
    JOURNAL_PLUGIN_KEY: "actorpg.persistence.journal.inmem",
    SNAPSHOT_PLUGIN_KEY: "actorpg.persistence.snapshot-store.inmem",
    DURABLE_STATE_PLUGIN_KEY: "actorpg.persistence.durable-state-store.inmem",
    "actorpg.persistence.replay.page-size": 10_000,
    "actorpg.actor.terminate-timeout": 10.0,
}

_MISSING = object()


def _nest(source: Mapping[Any, Any], where: str = "config") -> dict[str, Any]:
    """A nested dict from a mapping whose keys may be dotted paths."""
    out: dict[str, Any] = {}
    for key, value in source.items():
        if not isinstance(key, str) or not key or any(not part for part in key.split(".")):
            raise ValueError(f"{where}: configuration keys must be non-empty dotted strings: {key!r}")
        if isinstance(value, Mapping):
            value = _nest(value, f"{where}.{key}")
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(f"{where}: {key!r} conflicts with the value at {part!r}")
            node = child
        _merge_into(node, {parts[-1]: value})
    return out


def _merge_into(target: dict[str, Any], source: Mapping[str, Any]) -> None:
    for key, value in source.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge_into(target[key], value)
        elif isinstance(value, Mapping):
            target[key] = {}
            _merge_into(target[key], value)
        else:
            target[key] = value


def _parse_hocon(text: str) -> dict[str, Any]:
    from pyhocon import ConfigFactory

    try:
        tree = ConfigFactory.parse_string(text)
    except Exception as exc:  # pyhocon raises ConfigException and pyparsing errors
        raise ValueError(f"cannot parse the actor-system configuration as HOCON: {exc}") from exc
    plain = tree.as_plain_ordered_dict() if hasattr(tree, "as_plain_ordered_dict") else dict(tree)
    return _nest(plain)


class Config:
    """An immutable view of a merged configuration tree; look up values by dotted path."""

    __slots__ = ("_tree",)

    def __init__(self, tree: Mapping[str, Any]) -> None:
        self._tree = tree

    @classmethod
    def load(cls, config: str | Mapping[str, Any] | Config | None = None) -> Config:
        """Parse ``config`` (HOCON text, a dict or ``None``) and merge it over :data:`DEFAULTS`."""
        if isinstance(config, Config):
            return config
        tree = _nest(DEFAULTS)
        if config is None:
            user: dict[str, Any] = {}
        elif isinstance(config, str):
            user = _parse_hocon(config)
        elif isinstance(config, Mapping):
            user = _nest(config)
        else:
            raise TypeError(
                f"config must be a HOCON string, a dict or None, got {type(config).__name__}: "
                f"{config!r:.200}"
            )
        _merge_into(tree, user)
        return cls(tree)

    def get(self, path: str, default: Any = _MISSING) -> Any:
        """The value at dotted ``path``; ``default`` (or ``KeyError``) when absent."""
        node: Any = self._tree
        for part in path.split("."):
            if not isinstance(node, Mapping) or part not in node:
                if default is _MISSING:
                    raise KeyError(f"no configuration value at {path!r}")
                return default
            node = node[part]
        return node

    def get_str(self, path: str) -> str:
        """The string at ``path``; ``TypeError`` naming the path when it is not a string."""
        value = self.get(path)
        if not isinstance(value, str) or not value:
            raise TypeError(f"configuration value {path!r} must be a non-empty string, got {value!r}")
        return value

    def get_number(self, path: str) -> float:
        """The number at ``path``; ``TypeError`` naming the path when it is not a number."""
        value = self.get(path)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"configuration value {path!r} must be a number, got {value!r}")
        return value

    def as_dict(self) -> dict[str, Any]:
        """A deep copy of the merged tree as nested dicts."""

        def copy(node: Any) -> Any:
            return {k: copy(v) for k, v in node.items()} if isinstance(node, Mapping) else node

        result: dict[str, Any] = copy(self._tree)
        return result

    def __repr__(self) -> str:
        return (
            f"<Config journal={self.get(JOURNAL_PLUGIN_KEY, None)!r} "
            f"snapshot-store={self.get(SNAPSHOT_PLUGIN_KEY, None)!r} "
            f"durable-state-store={self.get(DURABLE_STATE_PLUGIN_KEY, None)!r}>"
        )


def limits_from_config(config: Config, kind: str) -> dict[str, int] | None:
    """The :class:`~actorpg_lab.Limits` options for the stores of ``kind`` (``journal``,
    ``snapshot-store`` or ``durable-state-store``) from :data:`LIMITS_KEY` merged with
    ``actorpg.persistence.<kind>.limits`` (the kind's keys win), as ``Limits`` keyword
    arguments; ``None`` when neither is set.  Unknown keys and non-integer values are a
    ``ValueError``/``TypeError`` naming the configuration path."""
    merged: dict[str, int] = {}
    for path in (LIMITS_KEY, f"actorpg.persistence.{kind}.limits"):
        section = config.get(path, None)
        if section is None:
            continue
        if not isinstance(section, Mapping):
            raise TypeError(f"configuration value {path!r} must be an object with "
                            f"{sorted(_LIMIT_NAMES)}, got {section!r:.200}")
        for key, value in section.items():
            name = _LIMIT_NAMES.get(key) or (key if key in _LIMIT_NAMES.values() else None)
            if name is None:
                raise ValueError(f"unknown key {path}.{key} (known: {sorted(_LIMIT_NAMES)})")
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"configuration value {path}.{key} must be an int, got {value!r}")
            merged[name] = value
    return merged or None
