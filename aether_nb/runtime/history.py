"""Write-behind of run history: how a durable step costs microseconds instead of a database commit.

Every step of a run produces history (an event or two, a DAG node, a journal entry, maybe a run or wait record);
a durable write each would cost ~0.2 ms per step (a synced log append). :class:`HistoryStore` keeps it in memory
as records (nothing serialised on the hot path) and writes batches, serialised and redacted at once (``write_history``).

When history reaches the store (the *durability* setting, ``ag.configure(durability=...)``):

* A wait, and the answer to one, are written at the end of the loop iteration that made them (all of that
  iteration's in one write: 1,000 runs parking, or 1,000 answers given in a row). The runtime awaits the
  wait's write (:meth:`HistoryStore.barrier`) before it shows the prompt or says the run waits: a run that waits
  always survives the process.
* ``"async"`` (the default): steps, run records, nodes and events are written within ``interval_s`` (0.2 s), and
  when the process exits normally (kernel restart or shutdown). A process killed hard loses at most that window;
  a run resumed afterwards executes those steps again, like a step interrupted mid-way. These writes are not synced
  (``durable=False``): a power loss may also lose those since the last sync (a wait, answer, ``flush()``, log apply).
* ``"sync"``: a step is in the store before the code that called it continues (its caller awaits the write);
  steps completing in the same loop iteration share one write.

Any read through this store sees everything recorded before it: reads of history tables write the pending batch
first (or answer from it), and other calls (``sql``, KV, memory, artifacts) go to the real store unchanged.

When history cannot be written, whoever runs is told (:meth:`HistoryStore.add_failure_listener`):

* a record the store cannot hold (a value that is not JSON or nested too deeply, say) is left out of its batch,
  the rest of the batch is written, and listeners get a :class:`HistoryFailure` with ``will_retry=False`` naming
  the record, its run and node;
* a batch that cannot be written at all (disk full, I/O error, closed store) stays pending, is retried (with a
  growing delay, in the background), and listeners get a :class:`HistoryFailure` with ``will_retry=True`` naming
  every run and node with history pending. :meth:`HistoryStore.flush_history` raises
  :class:`~aether_nb.errors.StorageError` then; nothing already written is touched.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

from aether_nb.errors import AetherError, StorageError, UsageError, shown
from aether_nb.runtime.history_failures import (
    AsJSON,
    AsRecord,
    HistoryFailure,
    dropped_failure,
    events_as_json,
    nodes_as_records,
)
from aether_nb.store import redact
from aether_nb.store.protocol import Store, takes_durable
from aether_nb.store.records import (
    JSON,
    ArtifactRecord,
    HistoryBatch,
    JournalEntry,
    JSONText,
    MemoryRecord,
    NodeRecord,
    RejectedRecord,
    RunRecord,
    WaitRecord,
)
from aether_nb.store.values import plain_json

__all__ = ["DURABILITY_MODES", "Durability", "HistoryFailure", "HistoryStore"]


FailureListener = Callable[[HistoryFailure], None]
_RETRY_MAX_S = 5.0

Durability = Literal["async", "sync"]
DURABILITY_MODES: tuple[str, ...] = ("async", "sync")
MAX_PENDING = 1_000
"""Write the batch early when it holds this many records, whatever its age (bounds memory and flush time). Few,
because a batch's objects are freed at once after its write, which gives back little of the garbage collector's
count: big batches bring full collections sooner (bench/README, "Batch size and the garbage collector")."""

_log = redact.logger("aether_nb")


def check_durability(value: object) -> Durability:
    if value not in DURABILITY_MODES:
        raise UsageError(
            f"durability must be one of {list(DURABILITY_MODES)}, got {shown(value)}: 'async' writes steps within "
            "0.2 s (waits at once), 'sync' before each step's caller continues"
        )
    return value  # type: ignore[return-value]


def check_interval(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 60:
        raise UsageError(f"interval_s must be a number of seconds in (0, 60], got {shown(value)}")
    return float(value)


class HistoryStore:
    """A :class:`~aether_nb.store.protocol.Store` that batches run history on its way to ``inner``.

    Args:
        inner: the real store (in-memory or DuckDB).
        durability: ``"async"`` or ``"sync"`` (see the module docstring).
        interval_s: how long ``"async"`` history may wait before it is written.
    """

    def __init__(self, inner: Store, *, durability: Durability = "async", interval_s: float = 0.2) -> None:
        self.inner = inner
        self.location: str = inner.location
        self.durability: Durability = check_durability(durability)
        self.interval_s = check_interval(interval_s)
        self._lock = threading.RLock()
        self._defers = takes_durable(inner)  # the store can write a batch without syncing it
        self._unsynced = False  # a batch was written with durable=False and nothing durable since
        self._urgent = False  # the pending batch holds a record that must be durable (a wait, an answer)
        self._runs: dict[str, RunRecord] = {}
        self._waits: dict[str, WaitRecord] = {}
        self._run_waits: dict[str, dict[str, None]] = {}  # run id -> tokens of its pending waits, in order
        self._journal: list[JournalEntry] = []
        # Nodes and events as the runtime made them (a live GraphNode, an immutable Event): turned into records
        # and JSON when the batch is written, off the step's path.
        self._nodes: dict[tuple[str, str], NodeRecord | AsRecord] = {}
        self._events: list[tuple[str, JSON | AsJSON] | AsJSON] = []  # (see record)
        self._memory: list[MemoryRecord] = []
        self._dirty: set[str] = set()  # runs with pending journal entries, nodes or events
        self._kv: dict[tuple[str, str], tuple[str, str, JSONText, float | None, bool]] = {}  # the ops as written
        self._count = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None
        # loops with a write scheduled at the end of their current iteration (weak: a closed loop just goes away)
        self._soon: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
        self._barriers: list[asyncio.Future[None]] = []
        self._holding = 0  # depth of atomic() blocks: no write may split what they add
        self._now_due = False  # a "sync"-durability step recorded inside an atomic block: written when it ends
        self._listeners: list[FailureListener] = []
        self._dropped: list[HistoryFailure] = []  # dropped since the last take_dropped(): Session.flush raises them
        self._failing_since: float | None = None  # the pending batch failed to write (and is retried)
        self._retry_s = self.interval_s
        self._reporting = False
        # Registered after ``inner`` registered its own exit hook, so it runs first (atexit is last-in-first-out).
        self._exit_hook = _exit_hook(weakref.ref(self))
        atexit.register(self._exit_hook)

    # -- what the runtime adds ----------------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """How many records wait to be written."""
        return self._count

    def put_run(self, record: RunRecord) -> None:
        with self._lock:
            self._runs[record.run_id] = record
            self._added(urgent=self.durability == "sync", now=self.durability == "sync")

    def put_wait(self, record: WaitRecord) -> None:
        with self._lock:
            self._waits[record.token] = record
            self._run_waits.setdefault(record.run_id, {})[record.token] = None
            self._added(urgent=True)

    def append_journal(self, entry: JournalEntry) -> None:
        with self._lock:
            self._journal.append(entry)
            self._dirty.add(entry.run_id)
            self._added(urgent=self.durability == "sync", now=self.durability == "sync")

    def append_journal_many(self, entries: Sequence[JournalEntry]) -> None:
        with self._lock:
            self._journal.extend(entries)
            self._dirty.update(e.run_id for e in entries)
            self._added(urgent=self.durability == "sync", n=len(entries), now=self.durability == "sync")

    def memory_append(self, record: MemoryRecord) -> None:
        """Memory events (chat turns above all) travel with the run history: same batch, same durability."""
        with self._lock:
            self._memory.append(record)
            self._added(urgent=self.durability == "sync", now=self.durability == "sync")

    def put_node(self, record: NodeRecord) -> None:
        with self._lock:
            self._nodes[(record.run_id, record.node_id)] = record
            self._dirty.add(record.run_id)
            self._added(urgent=False)

    def append_events(self, run_id: str, events: Sequence[JSON]) -> None:
        with self._lock:
            self._events.extend((run_id, e) for e in events)
            self._dirty.add(run_id)
            self._added(urgent=False, n=len(events))

    def record(self, run_id: str, event: AsJSON, node: AsRecord | None) -> None:
        """The runtime's path for one event and the node it changed: kept as objects until the batch is written
        (``event.to_json()`` and ``node.to_record(run_id)`` then); an event naming its run is kept alone."""
        with self._lock:
            self._events.append(event if getattr(event, "run_id", None) == run_id else (run_id, event))
            self._dirty.add(run_id)
            if node is not None:
                self._nodes[(run_id, node.id)] = node
            self._added(urgent=False, n=1 if node is None else 2)

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        """Records added inside the block reach the store in the same batch: a step's journal entry and the
        writes it made (a memory record, a KV value) are written together or not at all."""
        with self._lock:
            self._holding += 1
            try:
                yield
            finally:
                self._holding -= 1
        if not self._holding and self._now_due and self._count:
            self._now_due = False
            self._write_in_background()  # ("sync" durability: the block's step is durable before anything else runs)
        elif not self._holding and (self._count >= MAX_PENDING or self._loopless()):
            self.flush_history(durable=self._loopless())  # (a script's write-through is durable)

    @staticmethod
    def _loopless() -> bool:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return True
        return False

    def write_history(self, batch: HistoryBatch, *, durable: bool = True) -> list[RejectedRecord]:  # (always durable)
        with self._lock:
            self.flush_history()
            rejected = list(self.inner.write_history(batch) or ())
        if rejected:
            self._report(dropped_failure(rejected))
        return rejected

    # -- failures --------------------------------------------------------------------------------------------------
    def add_failure_listener(self, listener: FailureListener) -> Callable[[], None]:
        """Call ``listener(failure)`` whenever history cannot be written (see :class:`HistoryFailure`); returns
        a function that removes it. A listener runs on the thread that tried the write (normally the loop's), must
        be quick, and may record history itself (say, a warning event): that is written with the next batch."""
        if not callable(listener):
            raise UsageError(f"a failure listener must be callable, got {type(listener).__name__}")
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    @property
    def failing(self) -> bool:
        """Whether pending history could not be written by the last try (it is retried); False again once a
        write succeeds (what a widget's "not written" notice checks before saying the store recovered)."""
        return self._failing_since is not None

    def take_dropped(self) -> list[HistoryFailure]:
        """The failures that dropped records since the last call (Session.flush raises them), and forget them."""
        with self._lock:
            out, self._dropped = self._dropped, []
        return out

    def _report(self, failure: HistoryFailure) -> None:
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
        self._reporting = True
        try:
            for listener in list(self._listeners):
                try:
                    listener(failure)
                except Exception:  # one listener's bug must not stop the others, nor the write path
                    _log.exception("aether_nb: a history failure listener raised")
        finally:
            self._reporting = False

    def _pending_failure(self, exc: BaseException) -> HistoryFailure:
        """What a failed write leaves pending, for the listeners (computed only on failure)."""
        runs: set[str] = set(self._runs) | self._dirty | {w.run_id for w in self._waits.values()}
        runs |= {m.run_id for m in self._memory if m.run_id is not None}
        nodes = {(w.run_id, w.node_id) for w in self._waits.values()} | {(e.run_id, e.key) for e in self._journal}
        nodes |= set(self._nodes)
        held = (self._runs, self._waits, self._journal, self._nodes, self._events, self._memory, self._kv)
        kinds = {k for k, h in zip(("run", "wait", "journal", "node", "event", "memory", "kv"), held, strict=True) if h}
        return HistoryFailure(str(exc), True, frozenset(runs), frozenset(nodes), frozenset(kinds), self._count)

    async def barrier(self) -> None:
        """Return once everything recorded so far is in the store; concurrent callers share one write."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if not self._count and not self._unsynced:
                return
            fut: asyncio.Future[None] = loop.create_future()
            self._barriers.append(fut)
            self._schedule_soon(loop)
        await fut

    def flush_history(self, *, durable: bool = True) -> None:
        """Write the pending batch now, durably (``durable=False``, for ``"async"`` background writes: unless it
        holds a wait or an answer, or someone awaits :meth:`barrier`). A record the store cannot hold is dropped and
        reported (the rest is written); when the batch cannot be written at all it stays pending (retried by the
        next write), the listeners are told and :class:`~aether_nb.errors.StorageError` is raised."""
        failure: HistoryFailure | None = None
        error: BaseException | None = None
        with self._lock:
            self._cancel_timer()
            barriers, self._barriers = self._barriers, []
            durable = durable or bool(barriers) or self._urgent or self.durability == "sync" or not self._defers
            if not self._count and not (durable and self._unsynced):
                _settle(barriers, None)
                return
            converted: list[RejectedRecord] = []
            batch = HistoryBatch(
                runs=list(self._runs.values()),
                waits=list(self._waits.values()),
                journal=self._journal,
                nodes=nodes_as_records(self._nodes, converted),
                events=events_as_json(self._events, converted),
                memory=self._memory,
                kv=list(self._kv.values()),
            )
            try:
                written = self.inner.write_history(batch) if durable else self.inner.write_history(batch, durable=False)
                rejected = converted + list(written or ())  # None: a store of the old protocol
            except Exception as exc:
                error = (
                    exc
                    if isinstance(exc, AetherError)
                    else StorageError(f"writing run history to {self.location} failed: {exc}", code="io")
                )
                if error is not exc:
                    error.__cause__ = exc
                if self._failing_since is None:
                    self._failing_since = time.monotonic()
                failure = self._pending_failure(error)
                _settle(barriers, error)
            else:
                self._runs, self._waits, self._nodes, self._run_waits = {}, {}, {}, {}
                self._journal, self._events, self._memory = [], [], []
                self._dirty = set()
                self._kv = {}
                self._count = 0
                self._unsynced, self._urgent = not durable, False
                self._failing_since = None
                self._retry_s = self.interval_s
                failure = dropped_failure(rejected) if rejected else None
                _settle(barriers, None)
        if failure is not None:
            self._report(failure)
        if error is not None:
            raise error

    def _added(self, *, urgent: bool, n: int = 1, now: bool = False) -> None:
        """``now``: write before this returns (a step's record in ``"sync"`` durability), not at the end of the loop
        turn: a task queued before that, or a sibling branch that blocks the loop (a sync call), would otherwise hold
        a completed step's record in memory, and a process killed meanwhile did the step again on resume."""
        self._count += n
        self._urgent = self._urgent or urgent
        if self._reporting:
            return  # a failure listener recording history: written with the next batch, never from inside a write
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop in this thread (a script, a worker thread): write through
            if not self._holding:  # (an atomic block writes when it ends)
                self.flush_history()
            return
        if now and not self._backing_off():
            if self._holding:
                self._now_due = True  # written when the atomic block ends (its records together)
            else:
                self._write_in_background()  # (a failure is retried and told as in the background)
            if self._count == 0:
                return
        if self._count >= MAX_PENDING and not self._holding and not self._backing_off():
            # A body that never yields to the loop (a long chain of steps that do not wait) would keep the timer
            # from firing: write now, which bounds the batch and the time history stays in memory.
            self._write_in_background()
        elif urgent:
            self._schedule_soon(loop)
        elif self._timer is None or self._timer_loop is not loop:
            self._cancel_timer()
            self._timer = loop.call_later(self.interval_s, self._on_timer)
            self._timer_loop = loop

    def _schedule_soon(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop not in self._soon:
            self._soon.add(loop)
            loop.call_soon(self._on_soon, loop)

    def _on_soon(self, loop: asyncio.AbstractEventLoop) -> None:
        self._soon.discard(loop)
        self._write_in_background()

    def _on_timer(self) -> None:
        self._timer = None
        self._write_in_background()

    def _backing_off(self) -> bool:
        """Whether the last write failed recently enough that the next try should wait for the retry timer."""
        since = self._failing_since
        return since is not None and time.monotonic() - since < self._retry_s

    def _write_in_background(self) -> None:
        try:
            self.flush_history(durable=False)
        except Exception:  # no caller to raise to: the listeners were told, the batch stays pending, retried later
            with self._lock:
                if self._count:
                    self._retry_s = min(self._retry_s * 2, _RETRY_MAX_S)
                    self._cancel_timer()
                    loop = asyncio.get_running_loop()
                    self._timer = loop.call_later(self._retry_s, self._on_timer)
                    self._timer_loop = loop

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- reads: never behind what was recorded ---------------------------------------------------------------------
    def get_run(self, run_id: str) -> RunRecord | None:
        with self._lock:
            hit = self._runs.get(run_id)
            if hit is not None:
                return hit
        return self.inner.get_run(run_id)

    def list_runs(self, *, status: str | None = None, graph: str | None = None) -> list[RunRecord]:
        self.flush_history(durable=False)
        return self.inner.list_runs(status=status, graph=graph)

    def load_journal(self, run_id: str) -> list[JournalEntry]:
        if run_id in self._dirty:  # only this run's pending history matters to this read
            self.flush_history(durable=False)
        return self.inner.load_journal(run_id)

    def get_wait(self, token: str) -> WaitRecord | None:
        with self._lock:
            hit = self._waits.get(token)
            if hit is not None:
                return hit
        return self.inner.get_wait(token)

    def unwritten_waits(self, run_id: str) -> set[str]:
        """Tokens of the run's wait records still in the pending batch, i.e. not in the store yet. ``Run.waits``
        lists an open wait only once it is written: the widget makes its controls from that list, and a control
        shown earlier could take an answer to a wait that a crash would lose."""
        with self._lock:
            return set(self._run_waits.get(run_id, ()))

    def list_waits(self, run_id: str | None = None, *, status: str | None = "open") -> list[WaitRecord]:
        with self._lock:
            if run_id is None:
                pending = dict(self._waits)
            else:  # by the run's own tokens: a thousand runs resumed together each read their waits (no scan)
                found = (self._waits[t] for t in self._run_waits.get(run_id, ()))
                pending = {w.token: w for w in found if w.run_id == run_id}
            if not pending:
                return self.inner.list_waits(run_id, status=status)
            merged = {w.token: w for w in self.inner.list_waits(run_id, status=None)}
            merged.update(pending)
        rows = [w for w in merged.values() if status is None or w.status == status]
        rows.sort(key=lambda w: w.created_at)
        return rows

    def expect_reads(self, run_ids: Sequence[str]) -> None:
        """The runtime is about to resume these runs: the real store may read their history in one go."""
        self.inner.expect_reads(run_ids)

    def list_nodes(self, run_id: str) -> list[NodeRecord]:
        if run_id in self._dirty:  # only this run's pending history matters to this read
            self.flush_history(durable=False)
        return self.inner.list_nodes(run_id)

    def load_events(self, run_id: str) -> list[JSON]:
        if run_id in self._dirty:  # only this run's pending history matters to this read
            self.flush_history(durable=False)
        return self.inner.load_events(run_id)

    # -- everything else goes straight to the real store -----------------------------------------------------------
    def kv_get(self, scope: str, key: str) -> tuple[JSON, float | None] | None:
        with self._lock:
            hit = self._kv.get((scope, key))
        if hit is None:
            return self.inner.kv_get(scope, key)
        _, _, text, expires_at, gone = hit
        return None if gone else (json.loads(text), expires_at)

    def kv_set(self, scope: str, key: str, value: JSON, expires_at: float | None) -> None:
        """Batched with the history (checkpoints of a state graph are KV writes, one per superstep). The value is
        serialised now: a value that is not JSON fails here rather than in a later write, and the batch keeps
        a copy the caller cannot change."""
        try:
            text = plain_json(value) or json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise StorageError(f"KV values must be JSON, got {type(value).__name__}: {exc}", code="not_json") from exc
        with self._lock:
            self._kv[(scope, key)] = (scope, key, JSONText(text), expires_at, False)
            self._added(urgent=self.durability == "sync")

    def kv_delete(self, scope: str, key: str) -> bool:
        existed = self.kv_get(scope, key) is not None
        with self._lock:
            self._kv[(scope, key)] = (scope, key, JSONText("null"), None, True)
            self._added(urgent=self.durability == "sync")
        return existed

    def kv_keys(self, scope: str, prefix: str = "") -> list[tuple[str, float | None]]:
        if self._kv:
            self.flush_history(durable=False)
        return self.inner.kv_keys(scope, prefix)

    def kv_purge(self, now: float) -> int:
        if self._kv:
            self.flush_history(durable=False)
        return self.inner.kv_purge(now)

    def memory_query(
        self, scope: str, *, kinds: Sequence[str] | None = None, limit: int | None = None
    ) -> list[MemoryRecord]:
        self._flush_memory()
        return self.inner.memory_query(scope, kinds=kinds, limit=limit)

    def memory_search(
        self, scope: str, vector: Sequence[float], *, kinds: Sequence[str] | None = None, limit: int = 10
    ) -> list[tuple[MemoryRecord, float]]:
        self._flush_memory()
        return self.inner.memory_search(scope, vector, kinds=kinds, limit=limit)

    def _flush_memory(self) -> None:
        if self._memory:
            self.flush_history(durable=False)

    def artifact_put(self, record: ArtifactRecord, data: bytes) -> None:
        self.inner.artifact_put(record, data)

    def artifact_get(self, artifact_id: str) -> tuple[ArtifactRecord, bytes] | None:
        return self.inner.artifact_get(artifact_id)

    def artifact_set_pinned(self, artifact_id: str, pinned: bool) -> bool:
        return self.inner.artifact_set_pinned(artifact_id, pinned)

    def artifact_list(self) -> list[ArtifactRecord]:
        return self.inner.artifact_list()

    def sql(self, query: str, params: Sequence[Any] | None = None) -> Any:
        """SQL over the store's tables (DuckDB store), after writing the pending history so queries see it."""
        self.flush_history(durable=False)
        return self.inner.sql(query, params)  # type: ignore[attr-defined]

    def flush(self) -> None:
        """Write the pending history, then whatever the real store batches itself."""
        self.flush_history()
        self.inner.flush()

    def close(self) -> None:
        """Write the pending history and close the real store."""
        try:
            self.flush_history()
        finally:
            atexit.unregister(self._exit_hook)
            self.inner.close()

    def __getattr__(self, name: str) -> Any:
        # Store-specific extras (``closed``, ``path``, ``read_only``...) of the real store.
        if name.startswith("_") or name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return f"HistoryStore({self.inner!r}, durability={self.durability!r}, pending={self._count})"


def _settle(futures: list[asyncio.Future[None]], exc: BaseException | None) -> None:
    here = None if HistoryStore._loopless() else asyncio.get_running_loop()
    for fut in futures:
        loop = fut.get_loop()
        if loop is here:
            _resolve(fut, exc)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(_resolve, fut, exc)


def _resolve(fut: asyncio.Future[None], exc: BaseException | None) -> None:
    if not fut.done():  # (a barrier cancelled while it waited is settled already)
        if exc is None:
            fut.set_result(None)
        else:
            fut.set_exception(exc)


def _exit_hook(ref: weakref.ReferenceType[HistoryStore]) -> Callable[[], None]:
    def flush_at_exit() -> None:
        """A normal exit (kernel restart or shutdown, end of a script) writes what is still pending."""
        store = ref()
        if store is None or not store.pending:
            return
        try:
            store.flush_history()
        except Exception as exc:  # nobody left to raise to at exit: say what was lost
            _log.error("aether_nb: %d history records could not be written at exit: %s", store.pending, exc)

    return flush_at_exit
