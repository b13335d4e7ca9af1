"""Event types in the journal, and the events the current code cannot decode.

:meth:`Workbench.event_types_frame <actorpg_lab.lab.Workbench.event_types_frame>`
answers "which types and versions does the journal hold, with which fields, and can my
code read them?" from one SQL scan (``sql/event_types.sql``): the payloads are grouped
by their envelope head (the text before ``"$value"``: type name and version) and by
their field names, so a class that changed without a new version shows up as a second
row of the same type and version.  One sample payload per group is decoded with the
current codec; ``undecodable`` counts the group's events when it fails (and the
payloads that are not JSON), so it is exact for what schema changes cause (type,
version, field names) and a value-level failure inside an otherwise readable group is
found by :meth:`~actorpg_lab.lab.Workbench.decode_check`, which decodes every event.

An envelope whose type name is not registered with the codec decodes to a plain
``dict``: both frames count it as undecodable (an actor's ``on_event`` would get a
dict), with ``registration == "unregistered"``.  ``"implicit"`` marks a type registered
on the fly from an unregistered dataclass (its name is its module path, see
:class:`~actorpg_lab.UnregisteredTypeWarning`), ``"alias"`` a stored name that resolves
through an alias.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import orjson
import pandas as pd

from ..._codec import JsonCodec
from ..._errors import DecodeError
from ..db.statements import event_type_of, load_sql, render
from ..frames.columns import parse_kind
from ..frames.filter import ids_json
from ..frames.strategies import at_once

if TYPE_CHECKING:
    from psycopg import sql

    from ..frames.loader import FrameLoader

__all__ = ["DECODE_CHECK_COLUMNS", "EVENT_TYPES_COLUMNS", "decode_check_frame", "decode_error",
           "event_types_frame"]

_log = logging.getLogger("actorpg_lab.lab.event_types")

EVENT_TYPES_COLUMNS = ["event_type", "version", "events", "streams", "first_seen", "last_seen",
                       "fields", "undecodable", "registration", "current_version", "error"]
DECODE_CHECK_COLUMNS = ["persistence_id", "sequence_nr", "event_type", "version", "error"]


def registration(codec: JsonCodec, name: str | None) -> str | None:
    """How ``name`` resolves with ``codec`` (see the module docstring)."""
    if name is None:
        return None
    canonical = codec.resolve(name)
    if canonical is None:
        return "unregistered"
    if canonical != name:
        return "alias"
    return "implicit" if codec.is_implicit(name) else "registered"


def decode_error(codec: JsonCodec, payload: str) -> str | None:
    """Why ``payload`` does not decode with ``codec`` now (``None`` when it does)."""
    try:
        value = codec.decode(payload)
    except DecodeError as exc:
        return str(exc)
    except Exception as exc:  # not JSON, a value the class rejects, ...
        return f"{type(exc).__name__}: {exc}"
    if type(value) is dict and type(value.get("$type")) is str and "$value" in value:
        return (f"type {value['$type']!r} is not registered with the codec (it reads as a "
                f"plain dict): register the class, or add the name to its aliases")
    return None


def _parts(frames: FrameLoader, *, checked: bool) -> dict[str, sql.Composable]:
    """``{shape}`` (the events of ``sql/event_types_rows.sql``), ``{sample_shape}`` (one
    stream's, ``$1``) and ``{row_not_json}`` for ``event_types*.sql``.

    Unchecked (the fast path), an envelope's ``"$value"`` text is parsed when it starts
    with ``{``: a row that is not JSON after all makes the query fail, and it is rerun
    checked, validating every row with ``IS JSON`` first (about twice the work; needs
    PostgreSQL 16, older servers trust the rows to be JSON).
    """
    from psycopg import sql

    version = frames.query(render("server_version")).column(0)[0].as_py()
    if version >= 160000:
        def is_object(expr: str) -> sql.Composable:
            return sql.SQL(f"({expr} IS JSON OBJECT)")

        def not_json(expr: str) -> sql.Composable:
            return sql.SQL(f"(NOT {expr} IS JSON)")
    else:
        def is_object(expr: str) -> sql.Composable:
            return sql.SQL(f"(left({expr}, 1) = '{{')")

        def not_json(expr: str) -> sql.Composable:
            return sql.SQL("false")
    inner_is_object = (is_object("v.inner") if checked
                       else sql.SQL("(left(v.inner, 1) = '{')"))

    def shape(rows: sql.Composable) -> sql.Composable:
        return sql.SQL(load_sql("event_types_shape")).format(
            events=sql.Identifier(frames.tables.events), inner_is_object=inner_is_object,
            type_of_payload=event_type_of("e"), rows=rows,
            payload_is_object=is_object("v.payload"), payload_not_json=not_json("v.payload"))
    return {"shape": shape(sql.SQL(load_sql("event_types_rows"))),
            "sample_shape": shape(sql.SQL("e.persistence_id = $1")),
            "row_not_json": not_json("e.payload")}


def _groups(frames: FrameLoader, parts: dict[str, sql.Composable],
            ids_text: str | None) -> list[dict[str, Any]]:
    """The rows of ``sql/event_types.sql`` in (kind, fields) order: for a journal the
    planner estimates at least ``parallel_min_rows`` events (and not narrowed to
    streams), two halves of the persistence_id range at once over the loader's two
    connections (the server parses every payload, ~2-4 us each: one backend per core),
    their groups merged — disjoint stream ranges, so events, streams and not-JSON counts
    add up and first/last/sample take the min/max."""
    statement = render("event_types", shape=parts["shape"], row_not_json=parts["row_not_json"])
    middle = None
    if ids_text is None:
        stats = frames.session.table_stats(frames.tables.events)
        middle = frames.halves(stats, frames.tables.events, "persistence_id")
    if middle is None:
        rows: list[dict[str, Any]] = frames.query(statement, [ids_text, None, None]).to_pylist()
        return rows

    def upper() -> list[dict[str, Any]]:
        batches = frames.query_batches(statement, [ids_text, middle, None], helper=True)
        return [row for batch in batches for row in batch.to_pylist()]

    lower, higher = at_once(
        lambda: frames.query(statement, [ids_text, None, middle]).to_pylist(), upper)
    rows = lower + higher
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = (row["kind"], None if row["fields"] is None else tuple(row["fields"]))
        seen = merged.get(key)
        if seen is None:
            merged[key] = dict(row)
            continue
        for name in ("events", "streams", "not_json"):
            seen[name] += row[name]
        seen["first_ts"] = min(seen["first_ts"], row["first_ts"])
        seen["last_ts"] = max(seen["last_ts"], row["last_ts"])
        seen["sample_id"] = min(seen["sample_id"], row["sample_id"])
    # (kind, fields) order as ORDER BY gives it (NULL fields last; C collation order).
    return sorted(merged.values(), key=lambda r: (r["kind"], r["fields"] is None,
                                                  r["fields"] or []))


def event_types_frame(frames: FrameLoader, codec: JsonCodec,
                      persistence_ids: str | Iterable[str] | None = None) -> pd.DataFrame:
    """One row per event type, version and set of field names (see the module docstring)."""
    ids_text, _ = ids_json(persistence_ids)
    if not frames.table_exists(frames.tables.events):
        return _empty_event_types()
    parts = _parts(frames, checked=False)
    try:
        groups = _groups(frames, parts, ids_text)
    except Exception as exc:  # a payload that is not JSON: validate every row
        _log.info("event_types_frame: rerunning with every payload validated (%s)",
                  str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        parts = _parts(frames, checked=True)
        groups = _groups(frames, parts, ids_text)
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in groups:
        name, version = parse_kind(row["kind"])
        stored_fields = row["fields"]
        fields = tuple(sorted(stored_fields)) if stored_fields is not None else None
        status = registration(codec, name)
        events = int(row["events"])
        error: str | None = None
        if row["not_json"] == events:
            error, bad = "the payloads are not JSON", events
        else:
            sample = _sample(frames, parts, row["sample_id"], row["kind"], stored_fields)
            if sample is not None:
                error = decode_error(codec, sample)
            bad = events if error is not None else int(row["not_json"])
            if error is None and bad:
                error = "some payloads are not JSON"
        key = (name, version, fields)
        current = merged.get(key)
        if current is None:
            merged[key] = {
                "event_type": name, "version": version, "events": events,
                "streams": int(row["streams"]), "first_seen": row["first_ts"],
                "last_seen": row["last_ts"], "fields": fields, "undecodable": bad,
                "registration": status,
                "current_version": codec.current_version(name) if name is not None else None,
                "error": error,
            }
        else:  # the same type and version written with and without an explicit "$version"
            current["events"] += events
            current["streams"] += int(row["streams"])
            current["first_seen"] = min(current["first_seen"], row["first_ts"])
            current["last_seen"] = max(current["last_seen"], row["last_ts"])
            current["undecodable"] += bad
            current["error"] = current["error"] or error
    if not merged:
        return _empty_event_types()
    frame = pd.DataFrame(list(merged.values()), columns=EVENT_TYPES_COLUMNS)
    return _typed_event_types(frame).sort_values(
        ["event_type", "version"], na_position="first", kind="stable").reset_index(drop=True)


def _sample(frames: FrameLoader, parts: dict[str, sql.Composable], pid: str, kind: str,
            fields: list[str] | None) -> str | None:
    """One stored payload of the group (``None`` if it was deleted meanwhile)."""
    table = frames.query(render("event_types_sample", shape=parts["sample_shape"]),
                         [pid, kind, None if fields is None else orjson.dumps(fields).decode()])
    return table.column(0)[0].as_py() if table.num_rows else None


def _typed_event_types(frame: pd.DataFrame) -> pd.DataFrame:
    for column in ("event_type", "fields", "registration", "error"):  # None, not NaN
        values = frame[column].astype(object)
        frame[column] = values.where(values.notna(), None)
    for column in ("version", "current_version"):
        frame[column] = frame[column].astype(pd.Int64Dtype())
    for column in ("events", "streams", "undecodable"):
        frame[column] = frame[column].astype("int64")
    for column in ("first_seen", "last_seen"):
        frame[column] = pd.to_datetime(frame[column], unit="ms", utc=True)
    return frame


def _empty_event_types() -> pd.DataFrame:
    return _typed_event_types(pd.DataFrame({c: [] for c in EVENT_TYPES_COLUMNS}))


def decode_check_frame(frames: FrameLoader, codec: JsonCodec,
                       persistence_ids: str | Iterable[str] | None = None) -> pd.DataFrame:
    """Every event of the selected streams that does not decode now: persistence_id,
    sequence_nr, event_type, version, error (empty when all decode)."""
    ids_text, _ = ids_json(persistence_ids)
    rows: list[tuple[Any, ...]] = []
    if frames.table_exists(frames.tables.events):
        statement = render("event_payloads", events=frames.tables.events)
        decode = codec.decode
        for batch in frames.query_batches(statement, [ids_text]):
            pids = batch.column(0).to_pylist()
            seqs = batch.column(1).to_pylist()
            payloads = batch.column(2).to_pylist()
            for pid, seq, payload in zip(pids, seqs, payloads, strict=True):
                try:
                    value = decode(payload)
                except Exception:
                    pass
                else:
                    if type(value) is not dict or "$type" not in value:
                        continue  # decoded (the common case: nothing more to do)
                error = decode_error(codec, payload)
                if error is not None:
                    name, version = _head(payload)
                    rows.append((pid, seq, name, version, error))
    frame = pd.DataFrame(rows, columns=DECODE_CHECK_COLUMNS)
    frame["persistence_id"] = frame["persistence_id"].astype(object)
    frame["sequence_nr"] = frame["sequence_nr"].astype("int64")
    frame["event_type"] = frame["event_type"].astype(object)
    frame["version"] = frame["version"].astype(pd.Int64Dtype())
    frame["error"] = frame["error"].astype(object)
    return frame


def _head(payload: str) -> tuple[str | None, int | None]:
    """Type name and version of a payload's top-level envelope (without trusting it)."""
    at = payload.find('"$value":')
    if at > 0 and payload.startswith('{"$type":"'):
        return parse_kind(payload[:at])
    return None, None
