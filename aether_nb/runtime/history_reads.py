"""Reads of a :class:`~aether_nb.runtime.history.HistoryStore` while its pending history cannot be written.

Why: a read of the history tables (``ag.runs()``, ``%aether runs``, ``ag.store().sql(...)``, a run's journal) first
writes the pending batch, so that it sees everything recorded before it. When the store cannot be written (disk
full, I/O error), that write fails, and the read failed with it: a user could not even list the runs to see what a
full disk kept out, though reading writes nothing. Such a read now answers from what the store holds plus the
pending records (:func:`unwritten`, which hands them over as a batch); they stay pending and are retried as before,
so nothing is lost, and the read's answer is what it would be once they are written.

:class:`MergedReads` holds those reads of the history store; each function merges the stored answer of one read
with the pending batch the way the store itself would merge them (the same order, ties included, filters and
limits as both stores; memory-search scores as the store computes them, :mod:`aether_nb.store.cosine`).

A merged read must take the pending records and the store's answer at one point in time: a write that lands
between them (the loop retrying the batch while another thread reads) would show its records twice, from both.
The pending records come with the count of writes so far (:meth:`MergedReads.unwritten`); a read that sees it
changed reads again, and the second time under the writer's lock (:meth:`MergedReads.holding_writes`). Reads
with nothing pending, or whose write succeeds, take neither.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any, TypeVar

from aether_nb.store.cosine import Scorer, python_cosine
from aether_nb.store.protocol import Store
from aether_nb.store.records import JSON, HistoryBatch, JournalEntry, MemoryRecord, NodeRecord, RunRecord

__all__ = ["MergedReads", "events", "journal", "kv_keys", "memory_query", "memory_search", "nodes", "runs"]

T = TypeVar("T")


def runs(stored: list[RunRecord], batch: HistoryBatch, status: str | None, graph: str | None) -> list[RunRecord]:
    """``list_runs`` (``stored``: the store's answer without the status filter: a pending record may change it)."""
    merged = {r.run_id: r for r in stored}
    merged.update((r.run_id, r) for r in batch.runs)
    rows = [r for r in merged.values() if status in (None, r.status) and graph in (None, r.graph)]
    rows.sort(key=lambda r: r.created_at, reverse=True)  # (newest first, as the stores list them)
    return rows


def journal(stored: list[JournalEntry], batch: HistoryBatch, run_id: str) -> list[JournalEntry]:
    return stored + [e for e in batch.journal if e.run_id == run_id]


def nodes(stored: list[NodeRecord], batch: HistoryBatch, run_id: str) -> list[NodeRecord]:
    """A pending node replaces its stored record in place (a node keeps its position); new ones come last."""
    merged = {n.node_id: n for n in stored}
    for n in batch.nodes:
        if n.run_id == run_id:
            merged[n.node_id] = n
    return list(merged.values())


def events(stored: list[JSON], batch: HistoryBatch, run_id: str) -> list[JSON]:
    return stored + [e for r, e in batch.events if r == run_id]


def kv_keys(
    stored: list[tuple[str, float | None]], batch: HistoryBatch, scope: str, prefix: str
) -> list[tuple[str, float | None]]:
    keys = dict(stored)
    for s, k, _value, expires_at, deleted in batch.kv:
        if s == scope and k.startswith(prefix):
            if deleted:
                keys.pop(k, None)
            else:
                keys[k] = expires_at
    return sorted(keys.items())


def _pending_memory(batch: HistoryBatch, scope: str, kinds: Sequence[str] | None) -> list[MemoryRecord]:
    return [m for m in batch.memory if m.scope == scope and (kinds is None or m.kind in kinds)]


def memory_query(
    stored: list[MemoryRecord], batch: HistoryBatch, scope: str, kinds: Sequence[str] | None, limit: int | None
) -> list[MemoryRecord]:
    """Newest first: the pending records (recorded after every stored one) before the stored ones."""
    rows = [replace(m, embedding=None) for m in reversed(_pending_memory(batch, scope, kinds))] + stored
    return rows if limit is None else rows[:limit]


def memory_search(
    stored: list[tuple[MemoryRecord, float]],
    batch: HistoryBatch,
    scope: str,
    vector: Sequence[float],
    kinds: Sequence[str] | None,
    limit: int,
    score: Scorer = python_cosine,
) -> list[tuple[MemoryRecord, float]]:
    """The pending records scored as the store scores them (``score``: its cosine similarity, to the last bit),
    merged with the stored hits. Both stores order ties oldest first: every pending record is newer than every
    stored one, so on a tie the stored hits come first, then the pending ones in the order they were recorded."""
    pending = [m for m in _pending_memory(batch, scope, kinds) if m.embedding is not None]
    pending = [m for m in pending if len(m.embedding or ()) == len(vector)]
    scores = score(vector, [m.embedding or () for m in pending])
    merged = stored + [(replace(m, embedding=None), sc) for m, sc in zip(pending, scores, strict=True)]
    merged.sort(key=lambda hit: hit[1], reverse=True)  # (stable: ties keep that order)
    return merged[:limit]


class MergedReads:
    """The reads of :class:`~aether_nb.runtime.history.HistoryStore` that write its pending history first, and merge
    it when that write fails (:meth:`unwritten`)."""

    inner: Store
    score: Scorer  # how ``inner`` scores a memory search (:func:`aether_nb.store.cosine.scorer_of`)

    def unwritten(self, run_id: str | None = None, *, kinds: str = "") -> tuple[HistoryBatch, int] | None:
        """Write the pending history a read needs first: None; if it cannot be written, the pending records and
        the count of writes so far, taken together under the writer's lock."""
        raise NotImplementedError

    def written_since(self, writes: int) -> bool:
        """Whether a write reached the store since ``unwritten`` counted ``writes`` (one in progress is waited for)."""
        raise NotImplementedError

    def holding_writes(self) -> AbstractContextManager[Any]:
        """The lock every write to the store holds: no write lands while a read holds it too."""
        raise NotImplementedError

    def _consistent(self, read: Callable[[HistoryBatch | None], T], run_id: str | None = None, kinds: str = "") -> T:
        """``read(None)`` when nothing is pending (or it was just written), else ``read(batch)``, which merges the
        store's answer with ``batch``: read again if a write landed meanwhile, then under the writer's lock."""
        pending = self.unwritten(run_id, kinds=kinds)
        if pending is None:
            return read(None)
        answer = read(pending[0])
        if not self.written_since(pending[1]):
            return answer
        with self.holding_writes():  # (a write landed between the two: its records may be in both)
            pending = self.unwritten(run_id, kinds=kinds)
            return read(None if pending is None else pending[0])

    def list_runs(self, *, status: str | None = None, graph: str | None = None) -> list[RunRecord]:
        def read(batch: HistoryBatch | None) -> list[RunRecord]:
            if batch is None:
                return self.inner.list_runs(status=status, graph=graph)
            return runs(self.inner.list_runs(graph=graph), batch, status, graph)

        return self._consistent(read)

    def load_journal(self, run_id: str) -> list[JournalEntry]:
        def read(batch: HistoryBatch | None) -> list[JournalEntry]:
            stored = self.inner.load_journal(run_id)
            return stored if batch is None else journal(stored, batch, run_id)

        return self._consistent(read, run_id)

    def list_nodes(self, run_id: str) -> list[NodeRecord]:
        def read(batch: HistoryBatch | None) -> list[NodeRecord]:
            stored = self.inner.list_nodes(run_id)
            return stored if batch is None else nodes(stored, batch, run_id)

        return self._consistent(read, run_id)  # (only this run's pending history matters to this read)

    def load_events(self, run_id: str) -> list[JSON]:
        def read(batch: HistoryBatch | None) -> list[JSON]:
            stored = self.inner.load_events(run_id)
            return stored if batch is None else events(stored, batch, run_id)

        return self._consistent(read, run_id)

    def kv_keys(self, scope: str, prefix: str = "") -> list[tuple[str, float | None]]:
        def read(batch: HistoryBatch | None) -> list[tuple[str, float | None]]:
            stored = self.inner.kv_keys(scope, prefix)
            return stored if batch is None else kv_keys(stored, batch, scope, prefix)

        return self._consistent(read, kinds="kv")

    def kv_purge(self, now: float) -> int:
        self.unwritten(kinds="kv")  # (a pending value set meanwhile is not purged: it is newer)
        return self.inner.kv_purge(now)

    def memory_query(
        self, scope: str, *, kinds: Sequence[str] | None = None, limit: int | None = None
    ) -> list[MemoryRecord]:
        def read(batch: HistoryBatch | None) -> list[MemoryRecord]:
            stored = self.inner.memory_query(scope, kinds=kinds, limit=limit)
            return stored if batch is None else memory_query(stored, batch, scope, kinds, limit)

        return self._consistent(read, kinds="memory")

    def memory_search(
        self, scope: str, vector: Sequence[float], *, kinds: Sequence[str] | None = None, limit: int = 10
    ) -> list[tuple[MemoryRecord, float]]:
        def read(batch: HistoryBatch | None) -> list[tuple[MemoryRecord, float]]:
            stored = self.inner.memory_search(scope, vector, kinds=kinds, limit=limit)
            return stored if batch is None else memory_search(stored, batch, scope, vector, kinds, limit, self.score)

        return self._consistent(read, kinds="memory")

    def sql(self, query: str, params: Sequence[Any] | None = None) -> Any:
        """SQL over the store's tables (DuckDB store), after writing the pending history so queries see it; when it
        cannot be written, the query reads it laid over the tables (``unwritten=``), and it stays pending."""

        def read(batch: HistoryBatch | None) -> Any:
            if batch is None:
                return self.inner.sql(query, params)  # type: ignore[attr-defined]
            return self.inner.sql(query, params, unwritten=batch)  # type: ignore[attr-defined]

        return self._consistent(read)
