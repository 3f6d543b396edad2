"""An event's JSON for the store (``Event.stored_json``): marked plain only when the store may skip its check, and
stored exactly as the unmarked JSON would be, whatever its payloads hold."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import uuid
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aether_nb.runtime.events import Event, NodeRan, make_event
from aether_nb.store.duckdb import DuckDBStore
from aether_nb.store.memory import MemoryStore
from aether_nb.store.records import HistoryBatch
from aether_nb.store.values import PlainJSON, is_plain


class Level(enum.Enum):
    HIGH = 2


class Name(str):
    pass


def _payloads() -> st.SearchStrategy[Any]:
    """What a payload may hold: plain JSON, and every value an encoder writes differently or refuses."""
    odd = st.sampled_from(
        [
            float("nan"),
            float("inf"),
            -float("inf"),
            uuid.UUID(int=7),
            Level.HIGH,
            Name("x"),
            2**70,
            ((1, [2]),),
            b"raw",
            {1: "int key"},
            {"deep": (("a",),)},
            "naïve",
            "\ud800",
        ]
    )
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(), st.text(max_size=4), odd)
    return st.recursive(
        scalars,
        lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)),
        max_leaves=6,
    )


def _value_for(f: dataclasses.Field[Any], data: st.DataObject) -> Any:
    kind = str(f.type)
    if kind == "str":
        return data.draw(st.text(max_size=5))
    if kind == "str | None":
        return data.draw(st.none() | st.text(max_size=5))
    if kind == "int":
        return data.draw(st.integers(0, 10**6))
    if kind == "bool":
        return data.draw(st.booleans())
    if kind in ("float", "float | None"):
        return data.draw(st.floats() | (st.none() if kind == "float | None" else st.floats()))
    if kind.startswith("tuple"):
        return tuple(data.draw(st.lists(st.text(max_size=4), max_size=3)))
    return data.draw(_payloads())


def _same(a: Any, b: Any) -> bool:
    """Equal, NaN included (what ``==`` says of JSON values, with NaN equal to itself)."""
    return json.dumps(a, sort_keys=True, default=repr) == json.dumps(b, sort_keys=True, default=repr)


def _stored_events(events: list[tuple[str, Any]], where: Path | None = None) -> list[Any] | str:
    """The events a fresh store (in memory, or a DuckDB file in ``where``) reads back after one batch, or the
    reason it refused them."""
    store = MemoryStore() if where is None else DuckDBStore(where / f"{len(list(where.iterdir()))}.duckdb")
    try:
        rejected = store.write_history(HistoryBatch(events=events))
        if rejected:
            return f"rejected: {[r.kind for r in rejected]}"
        return store.load_events("run-1")
    finally:
        store.close()


def _random_event(data: st.DataObject) -> Event:
    cls = data.draw(st.sampled_from(sorted(Event.registry.values(), key=lambda c: c.__name__)))
    values = {
        f.name: _value_for(f, data)
        for f in dataclasses.fields(cls)
        if f.init and f.name not in ("run_id", "seq") and (f.default is dataclasses.MISSING or data.draw(st.booleans()))
    }
    return make_event(cls, "run-1", 1, values)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_duckdb_store_keeps_a_marked_event_as_the_unmarked_one(data: st.DataObject, tmp_path: Path) -> None:
    """The DuckDB store (its history log, then its tables) reads back a marked event exactly as the unmarked."""
    event = _random_event(data)
    marked, plain = event.stored_json(), event.to_json()
    assert _same(_stored_events([("run-1", marked)], tmp_path), _stored_events([("run-1", plain)], tmp_path))


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_an_event_is_stored_the_same_marked_or_not(data: st.DataObject) -> None:
    """For every event class and any field values (NaN and infinite times, payloads holding NaN, UUIDs, enums,
    wide ints, nested tuples, bytes, non-string keys, non-ASCII text): ``stored_json`` is the same mapping as
    ``to_json``; it is marked plain only when every payload is plain and every time finite; and the store reads
    back (or refuses) exactly what it does for the unmarked JSON."""
    event = _random_event(data)
    cls = type(event)
    marked, plain = event.stored_json(), event.to_json()
    assert _same(dict(marked), plain)
    if type(marked) is PlainJSON:
        for f in dataclasses.fields(cls):
            v = getattr(event, f.name)
            if isinstance(v, float):
                assert math.isfinite(v), f.name
            elif str(f.type) == "JSON":
                assert v is None or is_plain(v), f.name
    assert _same(_stored_events([("run-1", marked)]), _stored_events([("run-1", plain)]))


def test_a_step_event_with_plain_payloads_is_marked_and_one_with_nan_is_not() -> None:
    """The common case is marked (the store skips its walk); a NaN output keeps its NaN through the store (an
    encoder that writes NaN as null would have lost it)."""
    fields: dict[str, Any] = {
        "node_id": "inc_1",
        "name": "inc",
        "node_kind": "tool",
        "parent": None,
        "parents": ("a_1",),
        "inputs": {"x": 1},
        "status": "DONE",
        "started_at": 1.5,
        "ts": 2.5,
        "outputs": {"y": 2},
    }
    ok = make_event(NodeRan, "run-1", 1, dict(fields)).stored_json()
    assert type(ok) is PlainJSON and ok["parents"] == ["a_1"]
    nan = make_event(NodeRan, "run-1", 2, {**fields, "outputs": {"y": float("nan")}}).stored_json()
    assert type(nan) is dict
    back = _stored_events([("run-1", nan)])
    assert isinstance(back, list) and math.isnan(back[0]["outputs"]["y"])
