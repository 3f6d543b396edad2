"""Reads that merge the pending history with the store's while it cannot be written
(:mod:`aether_nb.runtime.history_reads`): one point in time, and the store's own order.

A tester read a run's journal from a worker thread while the loop's history writes alternated between failing and
succeeding: some reads showed ~35 entries twice. The merged read took the pending batch, then read the store; the
loop's retry landed in between, so its records came from both. Here :class:`Interleaved` runs that retry at the
exact point (on another thread, as the loop would), for every merged read.

And a memory search among tied notes, 3 stored and 3 pending, answered the newest first while they were pending
and the oldest first once written (as both stores order ties), with scores computed in Python for the pending
ones where the DuckDB store computes them in single precision.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aether_nb.errors import StorageError
from aether_nb.runtime.history import HistoryStore
from aether_nb.store.duckdb import DuckDBStore
from aether_nb.store.memory import MemoryStore
from aether_nb.store.records import HistoryBatch, JournalEntry, MemoryRecord, NodeRecord, RejectedRecord, RunRecord

DISK_FULL = "No space left on device. Nothing of this write was kept; free disk space, then write again."
READS = ("list_runs", "load_journal", "list_nodes", "load_events", "kv_keys", "memory_query", "memory_search", "sql")


class Interleaved:
    """A DuckDB store whose history writes fail while ``failing`` is set, and whose next read first runs
    ``before_read`` on another thread (and waits for it): a write landing between a merged read's two halves."""

    def __init__(self, inner: DuckDBStore) -> None:
        self.inner = inner
        self.location = inner.location
        self.failing = False
        self.before_read: Callable[[], None] | None = None

    def write_history(self, batch: HistoryBatch, *, durable: bool = True) -> list[RejectedRecord]:
        if self.failing:
            raise StorageError(DISK_FULL, code="io")
        return self.inner.write_history(batch, durable=durable)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if name not in READS:
            return method

        def read(*args: Any, **kwargs: Any) -> Any:
            hook, self.before_read = self.before_read, None
            if hook is not None:
                worker = threading.Thread(target=hook)
                worker.start()
                worker.join(timeout=30)
                assert not worker.is_alive()
            return method(*args, **kwargs)

        return read


def _entry(i: int) -> JournalEntry:
    return JournalEntry("r1", f"inc_{i}", "inc", "tool", "fp", {"y": i}, True, float(i))


def _node(i: int, status: str) -> NodeRecord:
    return NodeRecord("r1", f"n{i}", "inc", "tool", status, None, (), {}, {}, None, float(i), None)


def _note(name: str, at: float, embedding: tuple[float, ...] = (0.25, 0.5, 0.75)) -> MemoryRecord:
    return MemoryRecord(name, "notebook", "note", {"text": name}, f"apple pie {name}", (), at, embedding=embedding)


def _add_pending(store: HistoryStore, i: int) -> None:
    """History that cannot be written (the write at the end of the block fails): it stays pending."""
    with pytest.raises(StorageError, match="No space left"), store.atomic():
        store.put_run(RunRecord("r1", "g", "succeeded" if i else "running", {}, "fp", 1.0, float(i)))
        store.append_journal(_entry(i))
        store.put_node(_node(0, "done"))
        store.put_node(_node(i, "running"))
        store.append_events("r1", [{"i": i}])
        store.kv_set("notebook", f"k{i}", i, None)
        store.memory_append(_note(f"m{i}", float(i)))


@pytest.fixture
def interleaved(tmp_path: Path) -> Iterator[tuple[HistoryStore, Interleaved]]:
    inner = Interleaved(DuckDBStore(tmp_path / "s.duckdb"))
    store = HistoryStore(inner)  # type: ignore[arg-type]
    try:
        yield store, inner
    finally:
        inner.failing = False
        store.close()


def _read(store: HistoryStore, name: str) -> Any:
    if name == "list_runs":
        return store.list_runs()
    if name in ("load_journal", "list_nodes", "load_events"):
        return getattr(store, name)("r1")
    if name == "kv_keys":
        return store.kv_keys("notebook")
    if name == "memory_query":
        return store.memory_query("notebook")
    if name == "memory_search":
        return store.memory_search("notebook", [0.3, 0.3, 0.9], limit=10)
    sql = "select (select count(*) from journal), (select count(*) from events), (select count(*) from memory), "
    sql += "(select count(*) from kv), (select count(*) from nodes), (select list(status) from runs)"
    return store.sql(sql).rows


@pytest.mark.parametrize("name", READS)
def test_a_merged_read_shows_each_record_once_when_the_retried_write_lands_during_it(
    interleaved: tuple[HistoryStore, Interleaved], name: str
) -> None:
    store, inner = interleaved
    store.put_run(RunRecord("r1", "g", "running", {}, "fp", 1.0, 0.0))  # (written through: no loop)
    store.append_journal(_entry(0))
    store.put_node(_node(0, "running"))
    store.append_events("r1", [{"i": 0}])
    store.kv_set("notebook", "k0", 0, None)
    store.memory_append(_note("m0", 0.0))
    inner.failing = True
    for i in (1, 2, 3):
        _add_pending(store, i)
    assert store.pending

    def retry_lands() -> None:  # the loop's retry, while the store can be written again
        inner.failing = False
        store.flush_history()

    inner.before_read = retry_lands
    during = _read(store, name)
    assert inner.before_read is None and not store.pending  # (the retry ran inside the read, and wrote it all)
    assert during == _read(store, name)  # each record once, none missed: what the store answers now


def test_a_merged_read_that_no_write_interrupts_reads_once(interleaved: tuple[HistoryStore, Interleaved]) -> None:
    """No write between the two halves: merged as it was, the store read once, and the records stay pending."""
    store, inner = interleaved
    inner.failing = True
    _add_pending(store, 1)
    calls: list[int] = []
    inner.before_read = lambda: calls.append(1)
    assert [e.key for e in store.load_journal("r1")] == ["inc_1"]
    assert calls == [1] and store.pending


class FailingMemory(MemoryStore):
    failing = False

    def write_history(self, batch: HistoryBatch, *, durable: bool = True) -> list[RejectedRecord]:
        if self.failing:
            raise StorageError(DISK_FULL, code="io")
        return super().write_history(batch, durable=durable)


class FailingDuckDB(DuckDBStore):
    failing = False

    def write_history(self, batch: HistoryBatch, *, durable: bool = True) -> list[RejectedRecord]:
        if self.failing:
            raise StorageError(DISK_FULL, code="io")
        return super().write_history(batch, durable=durable)


@pytest.mark.parametrize("kind", ["memory", "duckdb"])
@pytest.mark.parametrize("limit", [2, 3, 5, 10])
def test_a_search_among_tied_notes_answers_while_pending_what_it_answers_once_written(
    tmp_path: Path, kind: str, limit: int
) -> None:
    """Three notes stored, three pending, all with the same embedding: the same hits, order and scores (to the
    last bit) before and after the write; the oldest first, as both stores order ties."""
    inner: FailingMemory | FailingDuckDB = FailingMemory() if kind == "memory" else FailingDuckDB(tmp_path / "s.db")
    store = HistoryStore(inner)
    try:
        for i in (1, 3, 5):
            store.memory_append(_note(f"old{i}", float(i)))
        store.memory_append(_note("other", 6.0, (0.9, 0.0, 0.1)))
        inner.failing = True
        for i in (1, 3, 5):
            with pytest.raises(StorageError), store.atomic():
                store.memory_append(_note(f"new{i}", 10.0 + i))
        query = [0.3, 0.3, 0.9]
        during = [(m.id, score) for m, score in store.memory_search("notebook", query, limit=limit)]
        assert store.pending == 3
        inner.failing = False
        store.flush_history()
        after = [(m.id, score) for m, score in store.memory_search("notebook", query, limit=limit)]
        assert during == after
        assert [hit for hit, _ in after] == ["old1", "old3", "old5", "new1", "new3", "new5", "other"][:limit]
    finally:
        inner.failing = False
        store.close()
