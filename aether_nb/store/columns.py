"""The fast path of :func:`~aether_nb.store.rows.encode_batch`: the journal, nodes and events of a batch (most of
any batch) encoded a column at a time, and checked a column at a time.

Each function returns the table's rows, or None when some record fails a check: that table is then encoded again
record by record (:mod:`aether_nb.store.rows`), which sets the failing record aside with its reason. JSON texts
are not redacted here: the caller redacts the whole batch in one pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import chain
from operator import attrgetter, itemgetter
from typing import Any

from aether_nb.store.records import HistoryBatch, JournalEntry, JSONText, NodeRecord
from aether_nb.store.values import MAX_JSON_DEPTH, db_text, json_column, json_depth

__all__ = ["Take", "event_columns", "journal_columns", "kv_columns", "node_columns", "quick_types"]

_STR: frozenset[type] = frozenset({str})
_OPT_STR: frozenset[type] = frozenset({str, type(None)})
_FLOAT: frozenset[type] = frozenset({float})
_OPT_FLOAT: frozenset[type] = frozenset({float, type(None)})
_BOOL: frozenset[type] = frozenset({bool})
_JSON_TEXT: frozenset[type] = frozenset({JSONText})
_TUPLE: frozenset[type] = frozenset({tuple})

Take = Callable[[int], Sequence[int]]
"""Hands out ``n`` consecutive order values at once (what ``n`` calls of ``next_ord`` would return)."""


def _types_in(allowed: frozenset[type], *columns: list[Any]) -> bool:
    return all(set(map(type, col)) <= allowed for col in columns)


def quick_types(batch: HistoryBatch) -> bool:
    """Whether the journal entries, nodes and events of ``batch`` pass the type checks of the fast path (their
    JSON values aside): when True, only a value that is not JSON can make one of them fail. (Every column is
    read with C-level ``map``s: a list comprehension per field was ~3 % of a W1 step in memory.)"""
    j, n, e = batch.journal, batch.nodes, batch.events
    return (
        all(set(map(type, map(get, j))) <= _STR for get in _JOURNAL_STR)
        and set(map(type, map(_DURABLE, j))) <= _BOOL
        and set(map(type, map(_CREATED, j))) <= _FLOAT
        and all(set(map(type, map(get, n))) <= _STR for get in _NODE_STR)
        and set(map(type, chain.from_iterable(map(_PARENTS, n)))) <= _STR
        and set(map(type, map(_PARENT, n))) <= _OPT_STR
        and all(set(map(type, map(get, n))) <= _OPT_FLOAT for get in _NODE_TIMES)
        and set(map(type, e)) <= _TUPLE
        and set(map(len, e)) <= _PAIR
        and set(map(type, map(_FIRST, e))) <= _STR
    )


_JOURNAL_STR = tuple(map(attrgetter, ("run_id", "key", "name", "kind", "fingerprint")))
_NODE_STR = tuple(map(attrgetter, ("run_id", "node_id", "name", "kind", "status")))
_NODE_TIMES = (attrgetter("started_at"), attrgetter("ended_at"))
_DURABLE, _CREATED = attrgetter("durable"), attrgetter("created_at")
_PARENTS, _PARENT, _FIRST = attrgetter("parents"), attrgetter("parent"), itemgetter(0)
_PAIR = frozenset({2})


def _texts(column: list[Any]) -> list[Any]:
    """A column of strings (and None) as stored: unchanged unless some value is not ASCII."""
    if "".join(filter(None, column)).isascii():  # (filter drops None, and empty strings, which are ASCII)
        return column
    return [None if v is None else db_text(v) for v in column]


def _orders(next_ord: Callable[[], int], take: Take | None, n: int) -> Sequence[int]:
    """``n`` consecutive order values: ``take(n)`` when the caller can hand out a range at once."""
    return take(n) if take is not None else [next_ord() for _ in range(n)]


def journal_columns(
    entries: list[JournalEntry], next_ord: Callable[[], int], take: Take | None = None
) -> list[tuple[Any, ...]] | None:
    if not entries:
        return []
    run_ids, keys, names, kinds, fps, durable, created, values = (
        list(map(attrgetter(f), entries))
        for f in ("run_id", "key", "name", "kind", "fingerprint", "durable", "created_at", "value")
    )
    if not (
        _types_in(_STR, run_ids, keys, names, kinds, fps) and _types_in(_BOOL, durable) and _types_in(_FLOAT, created)
    ):
        return None
    texts = json_column(values)
    if texts is None:
        return None
    ords = _orders(next_ord, take, len(entries))
    return list(
        zip(
            ords, _texts(run_ids), _texts(keys), _texts(names), _texts(kinds), _texts(fps), texts, durable, created,
            strict=True,
        )
    )  # fmt: skip


def node_columns(
    nodes: list[NodeRecord], next_ord: Callable[[], int], take: Take | None = None
) -> list[tuple[Any, ...]] | None:
    if not nodes:
        return []
    cols = [list(map(attrgetter(f), nodes)) for f in ("run_id", "node_id", "name", "kind", "status")]
    parent = list(map(attrgetter("parent"), nodes))
    parents = list(map(attrgetter("parents"), nodes))
    if not _types_in(_TUPLE, parents):
        # a tuple is written as the same JSON array as a list: only other sequences are copied (no list per node)
        parents = [ps if type(ps) is tuple else list(ps) for ps in parents]
    started = list(map(attrgetter("started_at"), nodes))
    ended = list(map(attrgetter("ended_at"), nodes))
    if not (
        _types_in(_STR, *cols, list(chain.from_iterable(parents)))
        and _types_in(_OPT_STR, parent)
        and _types_in(_OPT_FLOAT, started, ended)
    ):
        return None
    texts: list[list[str]] = []  # (a column at a time: the same texts as value by value)
    for values in (parents, *(list(map(attrgetter(f), nodes)) for f in ("inputs", "outputs", "error"))):
        done = json_column(values)
        if done is None:
            return None
        texts.append(done)
    ords = _orders(next_ord, take, len(nodes))
    run_ids, node_ids, names, kinds, statuses = (_texts(c) for c in cols)
    return list(
        zip(
            run_ids, node_ids, names, kinds, statuses, _texts(parent), *texts, started, ended, ords, strict=True,
        )
    )  # fmt: skip


def event_columns(
    events: list[Any], next_ord: Callable[[], int], take: Take | None = None
) -> list[tuple[Any, ...]] | None:
    if not events:
        return []
    if not (_types_in(_TUPLE, events) and set(map(len, events)) == {2}):
        return None
    run_ids = list(map(itemgetter(0), events))
    if not _types_in(_STR, run_ids):
        return None
    data = json_column(list(map(itemgetter(1), events)))
    if data is None:
        return None
    return list(zip(_texts(run_ids), _orders(next_ord, take, len(events)), data, strict=True))


def kv_columns(ops: list[Any]) -> list[tuple[Any, ...]] | None:
    """The KV operations of a batch as rows, when each is ``(scope, key, JSONText or deleted, expires_at or None,
    deleted)`` as the runtime's history makes them (a state graph's checkpoint per superstep: ~3 µs each record by
    record, ~1 here with the batch's redaction search). The texts were written by ``json.dumps`` or orjson: only
    their depth is checked."""
    if not ops:
        return []
    if not all(type(op) is tuple and len(op) == 5 for op in ops):
        return None
    scopes, keys, values, expires, deleted = (list(map(itemgetter(i), ops)) for i in range(5))  # (as apply.py)
    if not (_types_in(_STR, scopes, keys) and _types_in(_OPT_FLOAT, expires) and _types_in(_BOOL, deleted)):
        return None
    if not _types_in(_JSON_TEXT, [v for v, gone in zip(values, deleted, strict=True) if not gone]):
        return None  # (a value given as a Python object is dumped record by record)
    texts = ["null" if gone else str(v) for v, gone in zip(values, deleted, strict=True)]  # (str: not a subclass)
    for t in texts:  # a value nested n deep has at least 2n characters (see json_column)
        if (
            len(t) > 2 * MAX_JSON_DEPTH
            and t.count("[") + t.count("{") > MAX_JSON_DEPTH
            and json_depth(t) > MAX_JSON_DEPTH
        ):
            return None
    return list(zip(_texts(scopes), _texts(keys), texts, expires, deleted, strict=True))
