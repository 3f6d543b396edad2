"""The pending history of a :class:`~aether_nb.runtime.history.HistoryStore` and what happens when it cannot be
written (issue 12): :class:`PendingHistory`, the batch (how it becomes records one by one, so that one record that
cannot be serialised is dropped alone); :class:`HistoryFailure`, what the listeners are told; :class:`Claim`, what a
call whose write failed takes back; :func:`settle_futures`, how those awaiting a write learn how it went.

:class:`~aether_nb.runtime.history.HistoryStore` builds these and hands them to its failure listeners.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aether_nb.errors import UsageError
from aether_nb.store import redact
from aether_nb.store.records import (
    JSON,
    HistoryBatch,
    JournalEntry,
    JSONText,
    MemoryRecord,
    NodeRecord,
    RejectedRecord,
    RunRecord,
    WaitRecord,
)

__all__ = [
    "AsJSON",
    "AsRecord",
    "Claim",
    "FailureListener",
    "FailureReports",
    "HistoryFailure",
    "KVOp",
    "PendingHistory",
    "dropped_failure",
    "events_as_json",
    "nodes_as_records",
    "settle_futures",
]

_log = redact.logger("aether_nb")

_settling = threading.Lock()  # (a claim settles on the thread that wrote: its callbacks are added from others)

KVOp = tuple[str, str, JSONText, float | None, bool]
"""A pending KV write as written: scope, key, value (JSON text), expiry, deleted."""


class AsJSON(Protocol):
    def to_json(self) -> dict[str, JSON]: ...


class AsRecord(Protocol):
    id: str

    def to_record(self, run_id: str) -> NodeRecord: ...


@dataclass(frozen=True)
class HistoryFailure:
    """History that could not be written, as told to :meth:`HistoryStore.add_failure_listener` listeners.

    Attributes:
        error: what went wrong (the store's message).
        will_retry: True when the history is still pending and will be written again (the store failed as a
            whole: disk full, I/O error); False when ``records`` were dropped for good (the store cannot hold
            them), the rest of their batch having been written.
        run_ids: the runs concerned.
        nodes: ``(run_id, node_id)`` of the DAG nodes concerned (journal entries, waits, nodes).
        kinds: the kinds of records concerned (``"journal"``, ``"node"``, ``"event"``, ``"wait"``, ``"run"``,
            ``"memory"``, ``"kv"``).
        count: how many records.
        records: the dropped records with their reasons (empty when ``will_retry``).
    """

    error: str
    will_retry: bool
    run_ids: frozenset[str]
    nodes: frozenset[tuple[str, str]]
    kinds: frozenset[str]
    count: int
    records: tuple[RejectedRecord, ...] = ()


FailureListener = Callable[[HistoryFailure], None]


class FailureReports:
    """Who hears that history could not be written (``HistoryStore.add_failure_listener``), and the dropped records
    that ``Session.flush`` raises once (``take_dropped``). ``lock``: the store's."""

    def __init__(self, lock: Any) -> None:
        self._lock = lock
        self._listeners: list[FailureListener] = []
        self._dropped: list[HistoryFailure] = []  # dropped since the last take_dropped()
        self.reporting = False  # listeners are being told (what they record is written with the next batch)

    def add(self, listener: FailureListener) -> Callable[[], None]:
        if not callable(listener):
            raise UsageError(f"a failure listener must be callable, got {type(listener).__name__}")
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def take_dropped(self) -> list[HistoryFailure]:
        with self._lock:
            out, self._dropped = self._dropped, []
        return out

    def report(self, failure: HistoryFailure) -> None:
        """Tell the listeners (outside the lock: they may record history, which must not write meanwhile)."""
        if not failure.will_retry:
            with self._lock:
                self._dropped.append(failure)
        _log.warning(
            "aether_nb: %d history record(s) of run(s) %s %s: %s",
            failure.count,
            ", ".join(sorted(failure.run_ids)[:5]) or "-",
            "could not be written yet (will retry)" if failure.will_retry else "could not be written and were dropped",
            failure.error,
        )
        self.reporting = True
        try:
            for listener in list(self._listeners):
                try:
                    listener(failure)
                except Exception:  # one listener's bug must not stop the others, nor the write path
                    _log.exception("aether_nb: a history failure listener raised")
        finally:
            self.reporting = False


class PendingHistory:
    """The pending batch of a :class:`~aether_nb.runtime.history.HistoryStore`: the records waiting to be written.

    Nodes and events are kept as the runtime made them (a live ``GraphNode``, an immutable ``Event``) and turned
    into records and JSON when the batch is written (:meth:`batch`), off the step's path."""

    __slots__ = (
        "capture", "count", "dirty", "events", "journal", "kv", "memory", "nodes", "run_waits", "runs", "waits",
    )  # fmt: skip

    def __init__(self) -> None:
        self.runs: dict[str, RunRecord] = {}
        self.waits: dict[str, WaitRecord] = {}
        self.run_waits: dict[str, dict[str, None]] = {}  # run id -> tokens of its pending waits, in order
        self.journal: list[JournalEntry] = []
        self.nodes: dict[tuple[str, str], NodeRecord | AsRecord] = {}
        self.events: list[tuple[str, JSON | AsJSON] | AsJSON] = []  # (see HistoryStore.record)
        self.memory: list[MemoryRecord] = []
        self.dirty: set[str] = set()  # runs with pending journal entries, nodes or events
        self.kv: dict[tuple[str, str], KVOp] = {}  # the ops as written
        self.count = 0  # records added (a keyed one replaced still counts): when to write early, ``pending``
        self.capture: Claim | None = None  # what the innermost atomic()/claimed() block adds (see Claim)

    def keep(self, kind: str, key: Any, record: Any) -> None:
        """Add a keyed record (``"run"``, ``"wait"``, ``"kv"``): it replaces the pending one of the same key."""
        held: dict[Any, Any] = self.runs if kind == "run" else self.waits if kind == "wait" else self.kv
        if self.capture is not None:
            self.capture.note(kind, key, record, held.get(key))
        held[key] = record
        if kind == "wait":
            self.run_waits.setdefault(record.run_id, {})[key] = None

    def waits_of(self, run_id: str | None) -> dict[str, WaitRecord]:
        """The pending wait records (of run ``run_id``: by its own tokens, so that a thousand runs resumed together
        each read their waits without a scan), by token."""
        if run_id is None:
            return dict(self.waits)
        found = (self.waits[t] for t in self.run_waits.get(run_id, ()))
        return {w.token: w for w in found if w.run_id == run_id}

    def add_journal(self, entries: Sequence[JournalEntry]) -> None:
        if self.capture is not None:
            for entry in entries:
                self.capture.note("journal", None, entry)
        self.journal.extend(entries)
        if len(entries) == 1:  # (a step's entry: no generator per step)
            self.dirty.add(entries[0].run_id)
        else:
            self.dirty.update(e.run_id for e in entries)

    def add_memory(self, record: MemoryRecord) -> None:
        if self.capture is not None:
            self.capture.note("memory", None, record)
        self.memory.append(record)

    def clear(self) -> None:
        """The batch was written (or given up): start a new one (new containers: the written batch keeps its)."""
        self.runs, self.waits, self.nodes, self.run_waits = {}, {}, {}, {}
        self.journal, self.events, self.memory = [], [], []
        self.dirty = set()
        self.kv = {}
        self.count = 0

    def _held(self) -> tuple[Any, ...]:
        return (self.runs, self.waits, self.journal, self.nodes, self.events, self.memory, self.kv)

    def batch(self, rejected: list[RejectedRecord]) -> HistoryBatch:
        """The batch to write; a node or event that cannot become a record is left out and added to ``rejected``."""
        return HistoryBatch(
            runs=list(self.runs.values()),
            waits=list(self.waits.values()),
            journal=self.journal,
            nodes=nodes_as_records(self.nodes, rejected),
            events=events_as_json(self.events, rejected),
            memory=self.memory,
            kv=list(self.kv.values()),
        )

    def failure(self, exc: BaseException, *, will_retry: bool = True) -> HistoryFailure:
        """What a failed write leaves pending, for the listeners (computed only on failure)."""
        runs: set[str] = set(self.runs) | self.dirty | {w.run_id for w in self.waits.values()}
        runs |= {m.run_id for m in self.memory if m.run_id is not None}
        nodes = {(w.run_id, w.node_id) for w in self.waits.values()} | {(e.run_id, e.key) for e in self.journal}
        nodes |= set(self.nodes)
        names = ("run", "wait", "journal", "node", "event", "memory", "kv")
        kinds = {k for k, h in zip(names, self._held(), strict=True) if h}
        return HistoryFailure(str(exc), will_retry, frozenset(runs), frozenset(nodes), frozenset(kinds), self.count)

    def take_back(self, claims: Sequence[Claim]) -> None:
        """Take the records of ``claims`` out of the batch (see :class:`Claim`)."""
        taken = sum(claim.take_back(self) for claim in claims)
        if taken:
            self.count = max(self.count - taken, 1) if any(self._held()) else 0


class Claim:
    """The records one call added to the pending history: written together by the next write of the batch, or, if
    that write fails, taken back out of the batch at once and never written later.

    Why: a call whose write failed is told so (``StorageError``: "nothing of this write was kept ... then write
    again"), and its caller acts on that: a body retries its ``memory.record``, a person answers the question
    again. Left pending and retried in the background, the failed write was written anyway, later: the record
    twice, or an answer the caller was told was not given consumed by the run. The other records of the batch
    (other runs, other steps, the events and nodes of this one) stay pending and are retried as before.

    Used by "sync"-durability service calls (``effects.ServiceCall``) and by answers (``Session.give``); a block of
    ``HistoryStore.atomic()`` uses one too, to take back what it added when it raises.
    """

    __slots__ = ("_callbacks", "error", "ops", "settled")

    def __init__(self) -> None:
        self.ops: list[tuple[str, Any, Any, Any]] = []  # (kind, key, the record added, the one it replaced)
        self.settled = False
        self.error: BaseException | None = None
        self._callbacks: list[Callable[[BaseException | None], None]] = []

    def note(self, kind: str, key: Any, record: Any, replaced: Any = None) -> None:
        self.ops.append((kind, key, record, replaced))

    def when_settled(self, callback: Callable[[BaseException | None], None]) -> None:
        """Call ``callback(error)`` once the claim is written (``None``) or taken back (the write's error); at
        once if it is already. It runs on the thread that tried the write, outside the store's lock."""
        with _settling:
            if not self.settled:
                self._callbacks.append(callback)
                return
        callback(self.error)

    def settle(self, error: BaseException | None) -> None:
        """The claim's records were written (``error`` None) or taken back (``error``): tell the callbacks."""
        with _settling:
            if self.settled:
                return
            self.settled, self.error = True, error
            callbacks, self._callbacks = self._callbacks, []
        self.ops.clear()
        for callback in callbacks:
            try:
                callback(error)
            except Exception:  # one callback's bug must not keep the others (or the write path) from going on
                _log.exception("aether_nb: a callback of a history write raised")

    def take_back(self, pending: PendingHistory) -> int:
        """Take the claim's records out of ``pending`` (a keyed record another call replaced since stays: it is
        not this call's any more; the record this call replaced comes back); returns how many were taken."""
        taken = 0
        for kind, key, record, replaced in reversed(self.ops):
            if kind in ("journal", "memory"):
                held: list[Any] = pending.journal if kind == "journal" else pending.memory
                for i in range(len(held) - 1, -1, -1):
                    if held[i] is record:
                        del held[i]
                        taken += 1
                        break
                continue
            keyed: dict[Any, Any] = pending.runs if kind == "run" else pending.waits if kind == "wait" else pending.kv
            run_id = record.run_id if kind == "wait" else None
            if keyed.get(key) is not record:
                continue
            taken += 1
            if replaced is not None:
                keyed[key] = replaced
                continue
            del keyed[key]
            tokens = pending.run_waits.get(run_id) if run_id is not None else None
            if run_id is not None and tokens is not None:
                tokens.pop(key, None)
                if not tokens:
                    del pending.run_waits[run_id]
        self.ops.clear()
        return taken

    def __repr__(self) -> str:
        state = "pending" if not self.settled else "written" if self.error is None else "taken back"
        return f"<history claim of {len(self.ops)} record(s), {state}>"


def nodes_as_records(
    pending: dict[tuple[str, str], NodeRecord | AsRecord], rejected: list[RejectedRecord]
) -> list[NodeRecord]:
    """The pending nodes as records; a node that cannot become one is left out and reported."""
    out: list[NodeRecord] = []
    for (run_id, node_id), n in pending.items():
        try:
            out.append(n if isinstance(n, NodeRecord) else n.to_record(run_id))
        except Exception as exc:  # a node whose data cannot be turned into a record: this one only is dropped
            rejected.append(RejectedRecord("node", run_id, node_id, f"{type(exc).__name__}: {exc}", node_id))
    return out


def events_as_json(
    pending: list[tuple[str, JSON | AsJSON] | AsJSON], rejected: list[RejectedRecord]
) -> list[tuple[str, JSON]]:
    """The pending events as JSON, each with its run id; an event that cannot become JSON is left out and
    reported. A pending event is ``(run_id, event)`` or, when it names its run (``event.run_id``), the event."""
    out: list[tuple[str, JSON]] = []
    for item in pending:
        if type(item) is tuple:
            run_id, e = item
        else:
            e = item
            run_id = item.run_id  # type: ignore[union-attr]
        if isinstance(e, dict):
            out.append((run_id, e))
            continue
        try:
            stored = getattr(e, "stored_json", None)  # (an Event: its typed fields need no check by the store)
            out.append((run_id, e.to_json() if stored is None else stored()))
        except Exception as exc:  # one event that cannot be serialised: this one only is dropped
            rejected.append(
                RejectedRecord(
                    "event",
                    run_id,
                    getattr(e, "kind", None),
                    f"{type(exc).__name__}: {exc}",
                    getattr(e, "node_id", None),
                )
            )
    return out


def dropped_failure(rejected: Sequence[RejectedRecord]) -> HistoryFailure:
    first = rejected[0]
    more = f" (and {len(rejected) - 1} more)" if len(rejected) > 1 else ""
    where = " ".join(
        x for x in (first.kind, first.key and repr(first.key), first.run_id and f"of run {first.run_id}") if x
    )
    return HistoryFailure(
        error=f"{where}: {first.error}{more}",
        will_retry=False,
        run_ids=frozenset(r.run_id for r in rejected if r.run_id is not None),
        nodes=frozenset((r.run_id, r.node_id) for r in rejected if r.run_id is not None and r.node_id is not None),
        kinds=frozenset(r.kind for r in rejected),
        count=len(rejected),
        records=tuple(rejected),
    )


def settle_futures(futures: list[asyncio.Future[None]], exc: BaseException | None) -> None:
    """Tell those awaiting a write (``HistoryStore.barrier``) how it went, each on its own loop (thread-safely)."""
    here = None if _loopless() else asyncio.get_running_loop()
    for fut in futures:
        loop = fut.get_loop()
        if loop is here:
            _resolve_future(fut, exc)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(_resolve_future, fut, exc)


def _resolve_future(fut: asyncio.Future[None], exc: BaseException | None) -> None:
    if not fut.done():  # (a barrier cancelled while it waited is settled already)
        if exc is None:
            fut.set_result(None)
        else:
            fut.set_exception(exc)


def _loopless() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return True
    return False
