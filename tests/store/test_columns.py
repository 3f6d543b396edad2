"""The fast path's type check of a batch (``columns.quick_types``): it says what a check of every field, record by
record, says, for any mix of well- and ill-typed journal entries, nodes and events."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from aether_nb.store.columns import quick_types
from aether_nb.store.records import HistoryBatch, JournalEntry, NodeRecord


class Name(str):
    pass


_odd = st.sampled_from([None, 1, 1.5, True, b"x", Name("n"), ("t",)])


def _maybe(good: st.SearchStrategy[Any], data: st.DataObject) -> Any:
    """A well-typed value, or (rarely: a batch has one ill-typed field or none, mostly) an ill-typed one."""
    return data.draw(_odd) if data.draw(st.integers(0, 79)) == 0 else data.draw(good)


def _reference(batch: HistoryBatch) -> bool:
    """The check written the obvious way: each field's type, record by record."""

    def is_(v: Any, *types: type) -> bool:
        return type(v) in types

    for x in batch.journal:
        if not all(is_(v, str) for v in (x.run_id, x.key, x.name, x.kind, x.fingerprint)):
            return False
        if not (is_(x.durable, bool) and is_(x.created_at, float)):
            return False
    for n in batch.nodes:
        if not all(is_(v, str) for v in (n.run_id, n.node_id, n.name, n.kind, n.status, *n.parents)):
            return False
        if not (is_(n.parent, str, type(None)) and all(is_(t, float, type(None)) for t in (n.started_at, n.ended_at))):
            return False
    return all(type(e) is tuple and len(e) == 2 and type(e[0]) is str for e in batch.events)


@settings(max_examples=1500, deadline=None)
@given(data=st.data())
def test_the_fast_type_check_agrees_with_a_check_of_every_field(data: st.DataObject) -> None:
    text = st.text(max_size=3)
    journal = [
        JournalEntry(
            run_id=_maybe(text, data),
            key=_maybe(text, data),
            name=_maybe(text, data),
            kind=_maybe(text, data),
            fingerprint=_maybe(text, data),
            value=None,
            durable=_maybe(st.booleans(), data),
            created_at=_maybe(st.floats(), data),
        )
        for _ in range(data.draw(st.integers(0, 3)))
    ]
    nodes = [
        NodeRecord(
            _maybe(text, data),
            _maybe(text, data),
            _maybe(text, data),
            _maybe(text, data),
            _maybe(text, data),
            _maybe(st.none() | text, data),
            tuple(_maybe(text, data) for _ in range(data.draw(st.integers(0, 2)))),
            None,
            None,
            None,
            _maybe(st.none() | st.floats(), data),
            _maybe(st.none() | st.floats(), data),
        )
        for _ in range(data.draw(st.integers(0, 3)))
    ]
    events: list[Any] = [
        data.draw(st.sampled_from([("run-1", {}), ("run-1", {}), (1, {}), ("run-1",), ("a", {}, 1), ["run-1", {}]]))
        for _ in range(data.draw(st.integers(0, 3)))
    ]
    batch = HistoryBatch(journal=journal, nodes=nodes, events=events)
    assert quick_types(batch) == _reference(batch)
