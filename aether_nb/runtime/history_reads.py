"""Reads of a :class:`~aether_nb.runtime.history.HistoryStore` while its pending history cannot be written.

Why: a read of the history tables (``ag.runs()``, ``%aether runs``, ``ag.store().sql(...)``, a run's journal) first
writes the pending batch, so that it sees everything recorded before it. When the store cannot be written (disk
full, I/O error), that write fails, and the read failed with it: a user could not even list the runs to see what a
full disk kept out, though reading writes nothing. Such a read now answers from what the store holds plus the
pending records (:func:`unwritten`, which hands them over as a batch); they stay pending and are retried as before,
so nothing is lost, and the read's answer is what it would be once they are written.

:class:`MergedReads` holds those reads of the history store; each function merges the stored answer of one read
with the pending batch the way the store itself would merge them (the same order, filters and limits as
:class:`~aether_nb.store.memory.MemoryStore`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from aether_nb.store.protocol import Store
from aether_nb.store.records import JSON, HistoryBatch, JournalEntry, MemoryRecord, NodeRecord, RunRecord

__all__ = ["MergedReads", "events", "journal", "kv_keys", "memory_query", "memory_search", "nodes", "runs"]


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
) -> list[tuple[MemoryRecord, float]]:
    """The pending records scored as the stores score them (cosine similarity), merged with the stored hits."""
    q = [float(x) for x in vector]
    qn = math.sqrt(sum(x * x for x in q)) or 1.0
    scored: list[tuple[MemoryRecord, float]] = []
    for m in _pending_memory(batch, scope, kinds):
        if m.embedding is None or len(m.embedding) != len(q):
            continue
        en = math.sqrt(sum(x * x for x in m.embedding)) or 1.0
        dot = sum(a * b for a, b in zip(q, m.embedding, strict=True))
        scored.append((replace(m, embedding=None), dot / (qn * en)))
    merged = scored[::-1] + stored  # (on a tie, the newest first)
    merged.sort(key=lambda hit: hit[1], reverse=True)
    return merged[:limit]


class MergedReads:
    """The reads of :class:`~aether_nb.runtime.history.HistoryStore` that write its pending history first, and merge
    it when that write fails (:meth:`unwritten`)."""

    inner: Store

    def unwritten(self, run_id: str | None = None, *, kinds: str = "") -> HistoryBatch | None:
        """Write the pending history a read needs first: None; the pending records if they cannot be written."""
        raise NotImplementedError

    def list_runs(self, *, status: str | None = None, graph: str | None = None) -> list[RunRecord]:
        batch = self.unwritten()
        if batch is None:
            return self.inner.list_runs(status=status, graph=graph)
        return runs(self.inner.list_runs(graph=graph), batch, status, graph)

    def load_journal(self, run_id: str) -> list[JournalEntry]:
        batch = self.unwritten(run_id)
        stored = self.inner.load_journal(run_id)
        return stored if batch is None else journal(stored, batch, run_id)

    def list_nodes(self, run_id: str) -> list[NodeRecord]:
        batch = self.unwritten(run_id)  # (only this run's pending history matters to this read)
        stored = self.inner.list_nodes(run_id)
        return stored if batch is None else nodes(stored, batch, run_id)

    def load_events(self, run_id: str) -> list[JSON]:
        batch = self.unwritten(run_id)
        stored = self.inner.load_events(run_id)
        return stored if batch is None else events(stored, batch, run_id)

    def kv_keys(self, scope: str, prefix: str = "") -> list[tuple[str, float | None]]:
        batch = self.unwritten(kinds="kv")
        stored = self.inner.kv_keys(scope, prefix)
        return stored if batch is None else kv_keys(stored, batch, scope, prefix)

    def kv_purge(self, now: float) -> int:
        self.unwritten(kinds="kv")  # (a pending value set meanwhile is not purged: it is newer)
        return self.inner.kv_purge(now)

    def memory_query(
        self, scope: str, *, kinds: Sequence[str] | None = None, limit: int | None = None
    ) -> list[MemoryRecord]:
        batch = self.unwritten(kinds="memory")
        stored = self.inner.memory_query(scope, kinds=kinds, limit=limit)
        return stored if batch is None else memory_query(stored, batch, scope, kinds, limit)

    def memory_search(
        self, scope: str, vector: Sequence[float], *, kinds: Sequence[str] | None = None, limit: int = 10
    ) -> list[tuple[MemoryRecord, float]]:
        batch = self.unwritten(kinds="memory")
        stored = self.inner.memory_search(scope, vector, kinds=kinds, limit=limit)
        return stored if batch is None else memory_search(stored, batch, scope, vector, kinds, limit)

    def sql(self, query: str, params: Sequence[Any] | None = None) -> Any:
        """SQL over the store's tables (DuckDB store), after writing the pending history so queries see it; when it
        cannot be written, the query reads it laid over the tables (``unwritten=``), and it stays pending."""
        batch = self.unwritten()
        if batch is None:
            return self.inner.sql(query, params)  # type: ignore[attr-defined]
        return self.inner.sql(query, params, unwritten=batch)  # type: ignore[attr-defined]
