"""The persistence boundary: what the runtime and the services need from a store.

Two implementations pass one conformance suite (``tests/store``): :class:`~aether_nb.store.memory.MemoryStore`
for scripts and tests, and the DuckDB store for notebooks. Calls are synchronous on purpose: they are short, run on
the loop's thread, and the methods marked *durable* must have reached the store before they return, because the
runtime acts on them right after (a journal step is replayed on resume; a persisted wait may be answered by another
process).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from aether_nb.store.records import (
    JSON,
    ArtifactRecord,
    HistoryBatch,
    JournalEntry,
    MemoryRecord,
    NodeRecord,
    RejectedRecord,
    RunRecord,
    WaitRecord,
)


@runtime_checkable
class Store(Protocol):
    """Runs, their journal, waits, DAG nodes and events, plus the KV, memory and artifact tables."""

    location: str
    """Where the data lives (a file path, or ``":memory:"``), for messages and ``%aether store``."""

    # -- runs -------------------------------------------------------------------------------------------------
    def put_run(self, record: RunRecord) -> None:
        """Insert or replace a run. Durable."""

    def get_run(self, run_id: str) -> RunRecord | None: ...

    def list_runs(self, *, status: str | None = None, graph: str | None = None) -> list[RunRecord]:
        """Runs newest first, optionally filtered."""
        ...

    # -- journal ------------------------------------------------------------------------------------------------
    def append_journal(self, entry: JournalEntry) -> None:
        """Record a completed step. Durable: the step is never executed again once this returns."""

    def append_journal_many(self, entries: Sequence[JournalEntry]) -> None:
        """Record several completed steps in one transaction (group commit). Durable; all or nothing (a record
        the store cannot hold fails the call with StorageError and nothing is written)."""

    def load_journal(self, run_id: str) -> list[JournalEntry]:
        """Every journal entry of a run, in the order they were appended."""
        ...

    # -- waits --------------------------------------------------------------------------------------------------
    def put_wait(self, record: WaitRecord) -> None:
        """Insert or replace a wait by token. Durable."""

    def get_wait(self, token: str) -> WaitRecord | None: ...

    def list_waits(self, run_id: str | None = None, *, status: str | None = "open") -> list[WaitRecord]:
        """Waits oldest first; ``status=None`` lists all of them."""
        ...

    def expect_reads(self, run_ids: Sequence[str]) -> None:
        """A hint: these runs are about to be resumed, so their history will be read. A store may read it for all
        of them at once when the first is read (the DuckDB store does: one statement for a thousand runs)."""

    # -- DAG and events (cosmetic: may be batched) ------------------------------------------------------------
    def put_node(self, record: NodeRecord) -> None: ...

    def list_nodes(self, run_id: str) -> list[NodeRecord]:
        """A run's nodes in the order they started."""
        ...

    def append_events(self, run_id: str, events: Sequence[JSON]) -> None: ...

    def load_events(self, run_id: str) -> list[JSON]: ...

    def write_history(self, batch: HistoryBatch, *, durable: bool = True) -> list[RejectedRecord]:
        """Write the records of ``batch`` (runs, waits, journal entries, nodes, events, memory events, KV writes)
        as one durable step, and return the records it could not hold, each with the reason.

        ``durable=False`` (the runtime's ``"async"`` background batches): the write need only survive the
        process, not a power loss, until the next durable write (an empty batch will do) or :meth:`flush`; a
        store whose writes cost no sync ignores it. (A store may leave the parameter out: the runtime then
        writes every batch durably.)

        One bad record never blocks the others: a record the store cannot hold (a value that is not JSON or is
        nested too deeply, a field of the wrong type) is left out and returned, and the rest is written. Raises
        :class:`~aether_nb.errors.StorageError` only when nothing of the batch was written (I/O failure, closed
        store): the caller still holds the batch and may retry it whole."""
        ...

    # -- KV -----------------------------------------------------------------------------------------------------
    def kv_get(self, scope: str, key: str) -> tuple[JSON, float | None] | None:
        """The value and its expiry time (epoch seconds), or None. Expiry is the caller's to enforce."""
        ...

    def kv_set(self, scope: str, key: str, value: JSON, expires_at: float | None) -> None: ...

    def kv_delete(self, scope: str, key: str) -> bool: ...

    def kv_keys(self, scope: str, prefix: str = "") -> list[tuple[str, float | None]]:
        """Keys (with their expiry) starting with ``prefix``, sorted."""
        ...

    def kv_purge(self, now: float) -> int:
        """Delete every key whose expiry is at or before ``now``; returns how many went."""
        ...

    # -- memory -------------------------------------------------------------------------------------------------
    def memory_append(self, record: MemoryRecord) -> None: ...

    def memory_query(
        self, scope: str, *, kinds: Sequence[str] | None = None, limit: int | None = None
    ) -> list[MemoryRecord]:
        """Events of a scope, newest first."""
        ...

    def memory_search(
        self, scope: str, vector: Sequence[float], *, kinds: Sequence[str] | None = None, limit: int = 10
    ) -> list[tuple[MemoryRecord, float]]:
        """Events with an embedding of the same length as ``vector``, by cosine similarity to it, best first."""
        ...

    # -- artifacts ------------------------------------------------------------------------------------------------
    def artifact_put(self, record: ArtifactRecord, data: bytes) -> None: ...

    def artifact_get(self, artifact_id: str) -> tuple[ArtifactRecord, bytes] | None: ...

    def artifact_set_pinned(self, artifact_id: str, pinned: bool) -> bool:
        """Mark an artifact pinned (kept by any clean-up) or not; False when it does not exist."""
        ...

    def artifact_list(self) -> list[ArtifactRecord]:
        """All artifacts, newest first (filtering is the service's job)."""
        ...

    # -- lifecycle ------------------------------------------------------------------------------------------------
    def flush(self) -> None:
        """Write out anything batched."""

    def close(self) -> None:
        """Flush and release the store. Further calls raise :class:`~aether_nb.errors.StorageError`."""


def takes_durable(store: Store) -> bool:
    """Whether ``store.write_history`` takes ``durable`` (a store written for the protocol before it did not:
    the runtime then writes every batch durably)."""
    try:
        return "durable" in inspect.signature(store.write_history).parameters
    except (TypeError, ValueError):  # (a callable without a signature)
        return False
