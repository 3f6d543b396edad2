"""Write-behind of run history: how a durable step costs microseconds instead of a database commit.

Every step of a run produces history (an event or two, a DAG node, a journal entry, maybe a run or wait record);
a durable write each would cost ~0.2 ms per step (a synced log append). :class:`HistoryStore` keeps it in memory
as records (nothing serialised on the hot path) and writes batches, serialised and redacted at once (``write_history``).

When history reaches the store is the *durability* setting (``ag.configure(durability=...)``): a wait and its
answer at the end of their loop iteration, steps within 0.2 s (``"async"``) or before their caller continues
(``"sync"``); :mod:`aether_nb.runtime.durability` says what each mode promises.

Any read through this store sees everything recorded before it: reads of history tables, KV keys, memory and
``sql`` write the pending batch first (or answer from it); when it cannot be written, they merge it with what the
store holds (:mod:`aether_nb.runtime.history_reads`): a full disk does not stop reads, and nothing is dropped.

When history cannot be written, whoever runs is told (:meth:`HistoryStore.add_failure_listener`):

* a record the store cannot hold (a value that is not JSON or nested too deeply, say) is left out of its batch,
  the rest of the batch is written, and listeners get a :class:`HistoryFailure` with ``will_retry=False`` naming
  the record, its run and node;
* a batch that cannot be written at all (disk full, I/O error, closed store) stays pending, is retried (with a
  growing delay, in the background), and listeners get a :class:`HistoryFailure` with ``will_retry=True`` naming
  every run and node with history pending. :meth:`HistoryStore.flush_history` raises
  :class:`~aether_nb.errors.StorageError` then; nothing already written is touched;
* except the records of a call that is told its write failed (:meth:`HistoryStore.claimed`, a :class:`Claim`: a
  "sync"-durability service call, an answer; ``atomic(refusable=True)``: an "async" one that had to write a full
  batch): they are taken out of the batch when it fails, never written later, so that a call that raised
  "nothing of this write was kept" really kept nothing.
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
from dataclasses import replace
from typing import Any

from aether_nb.errors import AetherError, StorageError
from aether_nb.runtime.durability import DURABILITY_MODES as DURABILITY_MODES  # (re-exported)
from aether_nb.runtime.durability import Durability, check_interval, exit_hook
from aether_nb.runtime.durability import check_durability as check_durability  # (re-exported)
from aether_nb.runtime.history_failures import (
    AsJSON,
    AsRecord,
    Claim,
    FailureListener,
    FailureReports,
    HistoryFailure,
    PendingHistory,
    dropped_failure,
    settle_futures,
)
from aether_nb.runtime.history_reads import MergedReads
from aether_nb.store.cosine import scorer_of
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

__all__ = ["DURABILITY_MODES", "Claim", "Durability", "HistoryFailure", "HistoryStore"]


_RETRY_MAX_S = 5.0

MAX_PENDING = 1_000
"""Write the batch early when it holds this many records, whatever its age (bounds memory and flush time). Few,
because a batch's objects are freed at once after its write, which gives back little of the garbage collector's
count: big batches bring full collections sooner (bench/README, "Batch size and the garbage collector")."""


class HistoryStore(MergedReads):
    """A :class:`~aether_nb.store.protocol.Store` that batches run history on its way to ``inner``.

    Args:
        inner: the real store (in-memory or DuckDB).
        durability: ``"async"`` or ``"sync"`` (see the module docstring).
        interval_s: how long ``"async"`` history may wait before it is written.
    """

    def __init__(self, inner: Store, *, durability: Durability = "async", interval_s: float = 0.2) -> None:
        self.inner = inner
        self.score = scorer_of(inner)
        self.writes = 0  # batches written: a read merging pending records checks none landed meanwhile
        self.location: str = inner.location
        self.durability: Durability = check_durability(durability)
        self.interval_s = check_interval(interval_s)
        self._lock = threading.RLock()
        self._defers = takes_durable(inner)  # the store can write a batch without syncing it
        self._unsynced = False  # a batch was written with durable=False and nothing durable since
        self._urgent = False  # the pending batch holds a record that must be durable (a wait, an answer)
        self._p = PendingHistory()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None
        # loops with a write scheduled at the end of their current iteration (weak: a closed loop just goes away)
        self._soon: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
        self._barriers: list[asyncio.Future[None]] = []
        self._holding = 0  # depth of atomic() blocks: no write may split what they add
        self._now_due = False  # a "sync"-durability step recorded inside an atomic block: written when it ends
        self._claims: list[Claim] = []  # claims whose records are pending: written by the next write, or taken back
        self._reports = FailureReports(self._lock)
        self._failing_since: float | None = None  # the pending batch failed to write (and is retried)
        self._retry_s = self.interval_s
        # Registered after ``inner`` registered its own exit hook, so it runs first (atexit is last-in-first-out).
        self._exit_hook = exit_hook(weakref.ref(self))
        atexit.register(self._exit_hook)

    # -- what the runtime adds ----------------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """How many records wait to be written."""
        return self._p.count

    def put_run(self, record: RunRecord) -> None:
        with self._lock:
            self._p.keep("run", record.run_id, record)
            self._added(urgent=self.durability == "sync", now=self.durability == "sync")

    def put_wait(self, record: WaitRecord) -> None:
        with self._lock:
            self._p.keep("wait", record.token, record)
            self._added(urgent=True)

    def append_journal(self, entry: JournalEntry) -> None:
        with self._lock:
            self._p.add_journal((entry,))
            self._added(urgent=self.durability == "sync", now=self.durability == "sync")

    def append_journal_many(self, entries: Sequence[JournalEntry]) -> None:
        with self._lock:
            self._p.add_journal(entries)
            self._added(urgent=self.durability == "sync", n=len(entries), now=self.durability == "sync")

    def memory_append(self, record: MemoryRecord) -> None:
        """Memory events (chat turns above all) travel with the run history: same batch, same durability."""
        with self._direct():
            self._p.add_memory(record)
            self._added(urgent=self.durability == "sync", now=self.durability == "sync")

    def put_node(self, record: NodeRecord) -> None:
        with self._lock:
            self._p.nodes[(record.run_id, record.node_id)] = record
            self._p.dirty.add(record.run_id)
            self._added(urgent=False)

    def append_events(self, run_id: str, events: Sequence[JSON]) -> None:
        with self._lock:
            self._p.events.extend((run_id, e) for e in events)
            self._p.dirty.add(run_id)
            self._added(urgent=False, n=len(events))

    def record(self, run_id: str, event: AsJSON, node: AsRecord | None) -> None:
        """The runtime's path for one event and the node it changed: kept as objects until the batch is written
        (``event.to_json()`` and ``node.to_record(run_id)`` then); an event naming its run is kept alone."""
        with self._lock:
            self._p.events.append(event if getattr(event, "run_id", None) == run_id else (run_id, event))
            self._p.dirty.add(run_id)
            if node is not None:
                self._p.nodes[(run_id, node.id)] = node
            self._added(urgent=False, n=1 if node is None else 2)

    @contextlib.contextmanager
    def atomic(self, *, refusable: bool = False) -> Iterator[None]:
        """Records added inside the block reach the store in the same batch: a step's journal entry and the
        writes it made (a memory record, a KV value) are written together or not at all (a block that raises
        takes back what it added). A block that ends with a write (:data:`MAX_PENDING` records pending, or no loop
        to write later) that fails leaves its records pending, retried (raised only with no loop), unless
        ``refusable`` (an ``"async"`` service call): then the error is raised and they are taken back, never
        written later, so that doing again what its caller was told did not happen does it once."""
        with self._block(False, refusable):
            yield

    @contextlib.contextmanager
    def claimed(self) -> Iterator[Claim]:
        """:meth:`atomic`, and the records added inside the block are a :class:`Claim`: written by the next write
        of the batch, or taken back out of it if that write fails (never written later). Settle it with
        :meth:`barrier` (``await store.barrier(claim)``) or :meth:`flush_claim`, which raise the write's error.
        A block inside a claimed one adds to the outer claim."""
        with self._block(True, False) as claim:
            yield claim

    @contextlib.contextmanager
    def _block(self, register: bool, refusable: bool) -> Iterator[Claim]:
        claim = Claim()
        with self._lock:
            outer, self._p.capture = self._p.capture, claim
            self._holding += 1
            try:
                yield claim
            except BaseException as exc:
                self._p.take_back([claim])  # a block that raises leaves nothing of itself pending
                claim.settle(exc)
                raise
            finally:
                self._p.capture = outer
                self._holding -= 1
            if outer is not None:
                outer.ops.extend(claim.ops)  # (a block inside another: what the outer one takes back, too)
            refusing = refusable and bool(claim.ops) and not self._holding  # (kept to take back if its write fails)
            if register and claim.ops:
                self._claims.append(claim)
            elif not refusing:
                claim.settle(None)  # (nothing to write, or nothing to take back once the block ended)
            if self._holding:
                return
            due = self._now_due and self._p.count
            self._now_due = self._now_due and not due
            loopless = self._loopless()
            write = not due and (self._p.count >= MAX_PENDING or loopless)
            if refusing and write:
                self._write(durable=loopless, refused=claim)  # (raises, its records taken back, when it fails)
                return
        if refusing:
            claim.settle(None)  # (its records stay pending: written with the batch, whenever that is)
        if due:
            self._write_in_background()  # ("sync" durability: the block's step is durable before anything else runs)
        elif write and not loopless:
            if not self._backing_off():
                self._write_in_background()  # (a failure is told to the listeners and retried, as for any step)
        elif write:
            try:
                self.flush_history()  # (a script's write-through is durable)
            except Exception:
                if claim.error is None:
                    raise  # (a claim taken back carries the error to whoever settles it: flush_claim, barrier)

    def _direct(self) -> contextlib.AbstractContextManager[Any]:
        """For a caller's own write (KV, memory): written through with no loop, so refusable (see atomic)."""
        return self._block(False, True) if self._loopless() else self._lock

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
            self.writes += 1
        if rejected:
            self._report(dropped_failure(rejected))
        return rejected

    # -- failures --------------------------------------------------------------------------------------------------
    def add_failure_listener(self, listener: FailureListener) -> Callable[[], None]:
        """Call ``listener(failure)`` whenever history cannot be written (see :class:`HistoryFailure`); returns
        a function that removes it. A listener runs on the thread that tried the write (normally the loop's), must
        be quick, and may record history itself (say, a warning event): that is written with the next batch."""
        return self._reports.add(listener)

    @property
    def failing(self) -> bool:
        """Whether pending history could not be written by the last try (it is retried); False again once a
        write succeeds (what a widget's "not written" notice checks before saying the store recovered)."""
        return self._failing_since is not None

    def take_dropped(self) -> list[HistoryFailure]:
        """The failures that dropped records since the last call (Session.flush raises them), and forget them."""
        return self._reports.take_dropped()

    def _report(self, failure: HistoryFailure) -> None:
        self._reports.report(failure)

    async def barrier(self, claim: Claim | None = None) -> None:
        """Return once everything recorded so far is in the store; concurrent callers share one write.

        With ``claim`` (see :meth:`claimed`): once the claim's records are in the store, whatever else is pending;
        raises the write's :class:`~aether_nb.errors.StorageError` if they could not be written, and then they
        were taken back: nothing of them is written later."""
        loop = asyncio.get_running_loop()
        if claim is not None:
            if not claim.settled:
                fut: asyncio.Future[None] = loop.create_future()
                claim.when_settled(lambda error: settle_futures([fut], error))
                with self._lock:
                    self._schedule_soon(loop)
                await fut
            if claim.error is not None:
                raise claim.error
            return
        with self._lock:
            if not self._p.count and not self._unsynced:
                return
            fut = loop.create_future()
            self._barriers.append(fut)
            self._schedule_soon(loop)
        await fut

    def flush_claim(self, claim: Claim) -> None:
        """:meth:`barrier` for code that cannot await (a sync service method): write the claim now unless it is
        written, and raise the write's error if it could not be (its records taken back)."""
        if not claim.settled:
            with contextlib.suppress(Exception):  # (the claim carries the error, if it is this write's)
                self.flush_history()
        if claim.error is not None:
            raise claim.error

    def drop_pending(self, error: BaseException) -> HistoryFailure | None:
        """Give up the pending history that ``error`` kept from being written: the session is leaving this store
        (``ag.configure(store=...)``) and nothing would retry it. Told to the listeners and logged as dropped (what
        a restart would have lost anyway); the failure is returned (None: nothing was pending)."""
        with self._lock:
            self._cancel_timer()
            claims, self._claims = self._claims, []
            self._p.take_back(claims)
            failure = self._p.failure(error, will_retry=False) if self._p.count else None
            self._p.clear()
        for claim in claims:
            claim.settle(error)
        if failure is not None:
            self._report(failure)
        return failure

    def flush_history(self, *, durable: bool = True) -> None:
        """Write the pending batch now, durably (``durable=False``, for ``"async"`` background writes: unless it
        holds a wait or an answer, or someone awaits :meth:`barrier`). A record the store cannot hold is dropped and
        reported (the rest is written); when the batch cannot be written at all it stays pending (retried by the
        next write), the listeners are told and :class:`~aether_nb.errors.StorageError` is raised."""
        self._write(durable=durable, refused=None)

    def _write(self, *, durable: bool, refused: Claim | None) -> None:
        """:meth:`flush_history`; ``refused``: a block's records (see :meth:`atomic`) taken back if this fails, in the
        same locked step as the failure (no other write can take them meanwhile)."""
        failure: HistoryFailure | None = None
        error: BaseException | None = None
        with self._lock:
            self._cancel_timer()
            barriers, self._barriers = self._barriers, []
            claims, self._claims = self._claims, []  # (a claim is durable when its caller is told it is written)
            durable = durable or bool(barriers or claims) or self._urgent or self.durability == "sync"
            durable = durable or not self._defers
            if refused is not None:
                claims.append(refused)  # (taken back with the others, settled with them, not made durable)
            if not self._p.count and not (durable and self._unsynced):
                settle_futures(barriers, None)
                for claim in claims:
                    claim.settle(None)
                return
            converted: list[RejectedRecord] = []
            batch = self._p.batch(converted)
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
                self._p.take_back(claims)  # told it failed, their callers may do it again: never written later
                failure = self._p.failure(error) if self._p.count else None
                settle_futures(barriers, error)
                self._retry_later()
            else:
                self._p.clear()
                self.writes += 1
                self._unsynced, self._urgent = not durable, False
                self._failing_since = None
                self._retry_s = self.interval_s
                failure = dropped_failure(rejected) if rejected else None
                settle_futures(barriers, None)
        for claim in claims:
            claim.settle(error)
        if failure is not None:
            self._report(failure)
        if error is not None:
            raise error

    def _added(self, *, urgent: bool, n: int = 1, now: bool = False) -> None:
        """``now``: write before this returns (a step's record in ``"sync"`` durability), not at the end of the loop
        turn: a task queued before that, or a sibling branch that blocks the loop (a sync call), would otherwise hold
        a completed step's record in memory, and a process killed meanwhile did the step again on resume."""
        self._p.count += n
        self._urgent = self._urgent or urgent
        if self._reports.reporting:
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
            if self._p.count == 0:
                return
        if self._p.count >= MAX_PENDING and not self._holding and not self._backing_off():
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
        with contextlib.suppress(Exception):  # no caller to raise to: the listeners were told, retried later
            self.flush_history(durable=False)

    def _retry_later(self) -> None:
        """The pending batch could not be written: retry it with a growing delay, whoever tried the write (with no
        loop in this thread, the next write, read or flush retries it). Under the lock."""
        if not self._p.count:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._retry_s = min(self._retry_s * 2, _RETRY_MAX_S)
        self._cancel_timer()
        self._timer = loop.call_later(self._retry_s, self._on_timer)
        self._timer_loop = loop

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- reads: never behind what was recorded ---------------------------------------------------------------------
    def get_run(self, run_id: str) -> RunRecord | None:
        with self._lock:
            hit = self._p.runs.get(run_id)
            if hit is not None:
                return hit
        return self.inner.get_run(run_id)

    def unwritten(self, run_id: str | None = None, *, kinds: str = "") -> tuple[HistoryBatch, int] | None:
        """Write the pending history a read needs (of run ``run_id``; of ``kinds``, "kv" or "memory") first: None;
        if it cannot be (a full disk), the pending records, which the read merges (:class:`MergedReads`), with the
        count of writes then: reads work while the store cannot be written; the records stay pending, retried."""
        p = self._p
        if run_id is not None and run_id not in p.dirty:
            return None
        if kinds and not (p.kv if kinds == "kv" else p.memory):
            return None
        try:
            if self._backing_off():  # (it failed moments ago: the retry timer tries again, not every read)
                raise StorageError("not written yet")
            self.flush_history(durable=False)
        except StorageError:
            with self._lock:  # (a copy of the live lists, taken with the count)
                batch = p.batch([])
                return replace(batch, journal=list(batch.journal), memory=list(batch.memory)), self.writes
        return None

    def written_since(self, writes: int) -> bool:
        with self._lock:
            return self.writes != writes

    def holding_writes(self) -> threading.RLock:
        return self._lock

    def get_wait(self, token: str) -> WaitRecord | None:
        with self._lock:
            hit = self._p.waits.get(token)
            if hit is not None:
                return hit
        return self.inner.get_wait(token)

    def unwritten_waits(self, run_id: str) -> set[str]:
        """Tokens of the run's wait records still in the pending batch, i.e. not in the store yet. ``Run.waits``
        lists an open wait only once it is written: the widget makes its controls from that list, and a control
        shown earlier could take an answer to a wait that a crash would lose."""
        with self._lock:
            return set(self._p.run_waits.get(run_id, ()))

    def list_waits(self, run_id: str | None = None, *, status: str | None = "open") -> list[WaitRecord]:
        with self._lock:
            pending = self._p.waits_of(run_id)
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

    # -- everything else goes straight to the real store -----------------------------------------------------------
    def kv_get(self, scope: str, key: str) -> tuple[JSON, float | None] | None:
        with self._lock:
            hit = self._p.kv.get((scope, key))
        return self.inner.kv_get(scope, key) if hit is None else None if hit[4] else (json.loads(hit[2]), hit[3])

    def kv_set(self, scope: str, key: str, value: JSON, expires_at: float | None) -> None:
        """Batched with the history (checkpoints of a state graph are KV writes, one per superstep). The value is
        serialised now: a value that is not JSON fails here rather than in a later write, and the batch keeps
        a copy the caller cannot change."""
        try:
            text = plain_json(value) or json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise StorageError(f"KV values must be JSON, got {type(value).__name__}: {exc}", code="not_json") from exc
        with self._direct():
            self._p.keep("kv", (scope, key), (scope, key, JSONText(text), expires_at, False))
            self._added(urgent=self.durability == "sync")

    def kv_delete(self, scope: str, key: str) -> bool:
        existed = self.kv_get(scope, key) is not None
        with self._direct():
            self._p.keep("kv", (scope, key), (scope, key, JSONText("null"), None, True))
            self._added(urgent=self.durability == "sync")
        return existed

    def artifact_put(self, record: ArtifactRecord, data: bytes) -> None:
        self.inner.artifact_put(record, data)

    def artifact_get(self, artifact_id: str) -> tuple[ArtifactRecord, bytes] | None:
        return self.inner.artifact_get(artifact_id)

    def artifact_set_pinned(self, artifact_id: str, pinned: bool) -> bool:
        return self.inner.artifact_set_pinned(artifact_id, pinned)

    def artifact_list(self) -> list[ArtifactRecord]:
        return self.inner.artifact_list()

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
        return f"HistoryStore({self.inner!r}, durability={self.durability!r}, pending={self._p.count})"
