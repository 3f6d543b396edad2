"""Session: the one object a run gets its store, clock and services from, and the owner of the set of runs.

A run is handed its session when it starts and passes it down explicitly (scope -> NodeContext -> services).
Exactly one *default* session exists per process — the notebook's — built lazily by the factory that
``aether_nb`` installs (it wires the built-in services); tests build their own sessions and pass them around.

What the session owns: the runs this process knows (live or rebuilt from the store), the waits their tasks are
parked on (so an answer from any thread finds its task), the waits of runs that left memory, and which waiting runs
stay in memory (:meth:`Session.park`). What a run owns (its status, its execution, its events) it changes itself;
the session only calls its public methods.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NamedTuple

from aether_nb.errors import StorageError, UsageError, shown
from aether_nb.runtime.checks import check_run_id
from aether_nb.runtime.clock import Clock, SystemClock
from aether_nb.runtime.history import HistoryFailure, HistoryStore
from aether_nb.runtime.waits import Wait
from aether_nb.store.protocol import Store
from aether_nb.store.records import RunRecord, WaitRecord

if TYPE_CHECKING:
    from aether_nb.runtime.answering import Given
    from aether_nb.runtime.context import NodeContext
    from aether_nb.runtime.events import Event
    from aether_nb.runtime.execution import StepHost
    from aether_nb.runtime.executors import Executor
    from aether_nb.runtime.run import Run

_log = logging.getLogger(__name__)
ServiceFactory = Callable[..., Any]
Presenter = Callable[[Wait], Awaitable[None]]


MAX_LIVE_WAITING = 64
"""Default of :attr:`Session.max_live_waiting` (``ag.configure(max_live_waiting=...)``)."""
EVICT_SCAN = 64
"""How many of the oldest parked runs a new park examines for eviction (see :meth:`Session.park`)."""


class LiveWait(NamedTuple):
    """A wait a task of this process is parked on: answering it resolves ``future`` on ``loop``."""

    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    run: StepHost
    record: WaitRecord


class Session:
    """Store, clock, services and the runs of one notebook (or one test).

    Args:
        store: where runs, journal, waits and service data live (default: a fresh in-memory store).
        clock: time source for deadlines and timestamps (default: the system clock).
        id_factory: makes new run ids (default: ``run-<8 hex>``); tests pass a deterministic one.
    """

    def __init__(
        self,
        store: Store | None = None,
        *,
        clock: Clock | None = None,
        id_factory: Callable[[], str] | None = None,
    ) -> None:
        if store is None:
            from aether_nb.store.memory import MemoryStore  # not imported with aether_nb: a DuckDB user never needs it

            store = MemoryStore()
        self._store = HistoryStore(store)
        self._store.add_failure_listener(self._history_not_written)  # history-failure wiring (see below)
        self._warned: set[tuple[str, str | None, str]] = set()
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._id_factory = id_factory or _random_run_id
        self.service_factories: dict[str, ServiceFactory] = {}
        self.services: dict[str, Any] = {}
        self.config: dict[str, Any] = {}
        self.executor: Executor | None = None
        """Where sync tool bodies run by default (None: a thread pool; ``ag.configure(executor=...)``)."""
        self.wait_presenter: Callable[[NodeContext], Presenter | None] | None = None
        self.answer_hooks: dict[str, Callable[[WaitRecord, Any], Any]] = {}
        self.run_observers: list[Callable[[Run], None]] = []
        self.returned_observers: list[Callable[[Run], None]] = []
        """Told of a run that ``start(run_id=...)`` returned as it is, executing nothing: finished, or already
        executing here (the notebook shows it where the call was made, as it shows a run that starts)."""
        self.event_observers: list[Callable[[Run, Event], None]] = []
        self._runs: dict[str, Run] = {}  # runs this process executes, and finished ones the store cannot rebuild
        self._finished: weakref.WeakValueDictionary[str, Run] = weakref.WeakValueDictionary()  # see retire()
        self._last_housekeeping = float("-inf")
        self._live_waits: dict[str, LiveWait] = {}
        self._live_by_run: dict[str, set[str]] = {}  # run id -> tokens its tasks are parked on
        self._parked: dict[Run, None] = {}  # live runs that wait, oldest first (see park)
        self._dormant: dict[str, Run] = {}  # token -> the evicted run that waits on it
        self._deadlines: dict[str, asyncio.Task[None]] = {}  # run id -> wakes the evicted run at its first deadline
        self.max_live_waiting = MAX_LIVE_WAITING

    @property
    def store(self) -> HistoryStore:
        """The store, behind the write-behind of run history (:mod:`aether_nb.runtime.history`)."""
        return self._store

    @store.setter
    def store(self, store: Store) -> None:
        current = self._store
        if isinstance(store, HistoryStore):
            self._store = store
        else:
            self._store = HistoryStore(store, durability=current.durability, interval_s=current.interval_s)
        self._store.add_failure_listener(self._history_not_written)

    def use_store(self, store: Store) -> None:
        """Leave the current store for ``store`` (``ag.configure(store=...)``; the caller checked that no run is
        live): the current store's pending history is written, the store closed, and its runs forgotten.

        A pending history the current store cannot write (its disk is full, its files broken) is dropped, not
        kept: it is reported (an error logged, a ``not_durable`` warning on its runs, the failure listeners) and
        the switch goes on. Why: the person switches away *because* that store cannot be written; refusing with
        the old store's ``StorageError`` left them on it, with a retry loop that could not succeed, and nothing
        would ever write that history once the session moved on anyway. A close that fails is logged too."""
        old = self._store
        try:
            old.flush_history()
        except StorageError as exc:
            lost = old.drop_pending(exc)
            if lost is not None:
                _log.error(
                    "aether_nb: leaving the store %s, which cannot be written (%s): %d history record(s) of run(s) %s "
                    "were not written and are lost (those runs, if resumed, run those steps again)",
                    old.location,
                    exc,
                    lost.count,
                    ", ".join(sorted(lost.run_ids)[:5]) or "-",
                )
        if store is not old and store is not old.inner:
            try:
                old.close()
            except Exception as exc:  # (its writes were given up above: the file stays as the disk last held it)
                _log.error("aether_nb: closing the store %s failed: %s", old.location, exc)
        self.store = store
        self.forget_runs()

    # -- live waits --------------------------------------------------------------------------------------------------
    def add_live_wait(self, fut: asyncio.Future[Any], run: StepHost, record: WaitRecord) -> None:
        """A task of ``run`` is parked on ``fut`` for this wait (indexed by token and by run)."""
        self._live_waits[record.token] = LiveWait(fut, fut.get_loop(), run, record)
        self._live_by_run.setdefault(run.id, set()).add(record.token)

    def pop_live_wait(self, token: str, future: asyncio.Future[Any] | None = None) -> LiveWait | None:
        """Forget a live wait (only if it is still ``future``'s, when given: a resumed run may wait on the same
        token again while the task of its evicted execution unwinds)."""
        live = self._live_waits.get(token)
        if live is None or (future is not None and live.future is not future):
            return None
        del self._live_waits[token]
        tokens = self._live_by_run.get(live.run.id)
        if tokens is not None:
            tokens.discard(token)
            if not tokens:
                del self._live_by_run[live.run.id]
        return live

    def live_wait(self, token: str) -> LiveWait | None:
        """The live wait a task of this process is parked on for ``token``, if any."""
        return self._live_waits.get(token)

    def live_tokens(self, run_id: str) -> set[str]:
        """The tokens of the waits the tasks of run ``run_id`` are parked on now."""
        return set(self._live_by_run.get(run_id, ()))

    def live_waits_of(self, run_id: str) -> list[LiveWait]:
        """The waits the tasks of run ``run_id`` are parked on now."""
        return [self._live_waits[t] for t in self._live_by_run.get(run_id, ())]

    def close_waits(
        self, run_id: str, *, known: dict[str, WaitRecord] | None, stored: bool, left_open: Iterable[str] = ()
    ) -> None:
        """Run ``run_id`` finished and answers nothing more: close its open waits (``known``: the ones this process
        knows; ``stored``: look for waits of earlier executions in the store; ``left_open``: tokens of waits whose
        task was cancelled, e.g. by a failing sibling) and wake any task still parked."""
        store = self.store
        parked = set(self._live_by_run.get(run_id, ()))
        for token in left_open:
            rec = store.get_wait(token)
            if rec is not None and rec.status == "open" and token not in parked:
                store.put_wait(replace(rec, status="closed"))
        if known is not None:  # resumed after an eviction: its waits are known
            for rec in known.values():
                if rec.status == "open" and rec.token not in parked:
                    store.put_wait(replace(rec, status="closed"))
        elif stored:
            for rec in store.list_waits(run_id, status="open"):
                if rec.token not in parked:
                    store.put_wait(replace(rec, status="closed"))
        for token in parked:
            live = self.pop_live_wait(token)
            if live is not None:
                store.put_wait(replace(live.record, status="closed"))
                live.loop.call_soon_threadsafe(live.future.cancel)

    def parks(self, run_id: str) -> int:
        """How many waits tasks of run ``run_id`` are parked on in this process (an answered one no longer counts,
        even before its task has taken the answer)."""
        return len(self._live_by_run.get(run_id, ()))

    # -- waiting runs that leave memory --------------------------------------------------------------------------------
    def park(self, run: Run) -> None:
        """``run`` waits. Beyond :attr:`max_live_waiting` parked runs, the oldest evictable ones leave memory
        (their tasks end; an answer resumes them from the journal), so a thousand waiting runs cost a thousand
        records, not a thousand suspended tasks with their DAGs and events. A run that is watched, busy between
        steps, or not fully journaled stays (see ``Run.evictable``) until it can leave (see :meth:`unwatched`).

        Only the :data:`EVICT_SCAN` oldest parked runs and ``run`` itself are examined: runs that cannot leave
        yet (a thousand state-graph threads paused by one ``gather``, each followed by its ``ainvoke`` until it
        returns) would otherwise be examined again by every park, quadratic in the number of waiting runs."""
        self._parked.setdefault(run, None)
        excess = len(self._parked) - self.max_live_waiting
        if excess <= 0:
            return
        for old in [*itertools.islice(self._parked, EVICT_SCAN), run]:
            if excess <= 0:
                break
            if old in self._parked and old.evictable:
                self._evict(old)
                excess -= 1

    def unwatched(self, run: Run) -> None:
        """``run`` lost its last follower (a subscriber, a ``run.events()`` stream): if it is parked beyond
        :attr:`max_live_waiting` and can leave memory now, it does."""
        if run in self._parked and len(self._parked) > self.max_live_waiting and run.evictable:
            self._evict(run)

    def _evict(self, run: Run) -> None:
        self._parked.pop(run, None)
        tokens = run.evict()
        for token in tokens:
            self._dormant[token] = run
        self._wake_at_deadline(run, tokens)

    def _wake_at_deadline(self, run: Run, tokens: list[str]) -> None:
        """A run that left memory goes on at the earliest deadline of its waits (a ``context.sleep``, a question's
        or a ``receive()``'s ``timeout_s``), as a live one does: nothing woke it, and ``await run`` hung past the
        deadline (any sleeping run beyond ``max_live_waiting``). One timer task per such run; an answer that
        resumes it first cancels it (:meth:`wake`)."""
        deadlines = [
            rec.deadline
            for token in tokens
            if (rec := run.dormant_wait(token)) is not None and rec.deadline is not None and rec.status == "open"
        ]
        if not deadlines:
            return
        when = min(deadlines)

        async def at_deadline() -> None:
            await self.clock.sleep_until(when)
            self._deadlines.pop(run.id, None)
            if run.evicted and not run.done:
                run.resume()

        self._deadlines[run.id] = asyncio.get_running_loop().create_task(at_deadline())

    def unpark(self, run: Run) -> None:
        """``run`` no longer waits in memory (it runs again, finished, or left memory)."""
        self._parked.pop(run, None)

    def wake(self, run: Run, tokens: Iterable[str]) -> None:
        """``run`` executes again (resumed after leaving memory): its waits, ``tokens`` (the ones :meth:`park`
        registered for it), are live ones again. By token, not by a scan: a thousand runs woken together would
        otherwise cost a million comparisons."""
        for token in tokens:
            if self._dormant.get(token) is run:
                del self._dormant[token]
        timer = self._deadlines.pop(run.id, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()

    # -- runs ------------------------------------------------------------------------------------------------------
    def flush(self) -> None:
        """Make everything the runs of this session have recorded so far durable in the store.

        Raises:
            StorageError: the pending history cannot be written now (it stays pending and is retried), or some
                history recorded since the last ``flush()`` could not be stored and was dropped (which records,
                of which runs, and why, are in the message; the runs carry a ``not_durable`` warning).
        """
        self.store.flush()
        dropped = self.store.take_dropped()
        if dropped:
            count = sum(f.count for f in dropped)
            runs = sorted({r for f in dropped for r in f.run_ids})
            raise StorageError(
                f"{count} history record(s) could not be stored and were dropped (runs {', '.join(runs) or '-'}): "
                f"{'; '.join(f.error for f in dropped[:3])}. The rest of the history was written; a dropped step "
                "runs again if its run is resumed.",
                run_id=runs[0] if len(runs) == 1 else None,
                code="not_durable",
            )

    # -- history-failure wiring: HistoryStore tells the session, the session tells the runs --------------------
    def _history_not_written(self, failure: HistoryFailure) -> None:
        """Each run of this session whose history could not be written (finished ones too: async history often
        fails after the run returned) gets one RunWarning per node and kind of failure: ``history_not_written``
        (pending, retried) or ``not_durable`` (dropped)."""
        from aether_nb.runtime.events import RunWarning

        code = "history_not_written" if failure.will_retry else "not_durable"
        for run_id in sorted(failure.run_ids):
            run = self.held_run(run_id)
            if run is None:
                continue
            node_ids: list[str | None] = []
            node_ids += [n for r, n in sorted(failure.nodes) if r == run_id][:20]
            if not node_ids:
                node_ids.append(None)
            for node_id in node_ids:
                if (run_id, node_id, code) in self._warned:
                    continue
                self._warned.add((run_id, node_id, code))
                what = "is not written to the store yet (retried)" if failure.will_retry else "could not be stored"
                run.emit(
                    RunWarning,
                    node_id=node_id,
                    code=code,
                    message=f"history {what}: {failure.error}",
                    detail={"error": failure.error},
                )

    def new_run_id(self) -> str:
        while True:
            run_id = self._id_factory()
            if self.held_run(run_id) is None and self.store.get_run(run_id) is None:
                return run_id

    def housekeeping(self, *, every_s: float = 60.0) -> None:
        """Background clean-up after runs: expired KV keys are purged (at most once per ``every_s``).

        A store that cannot be written does not fail the run that finished: the purge writes the pending history
        first, and a failing write is told to the runs (a warning each), stays pending and is retried; it was
        raised here too, from the end of a run that had succeeded (``await run`` raised StorageError with
        ``run.status == "succeeded"``). It is logged, and the purge tried again after the next run."""
        now = self.clock.now()
        if now - self._last_housekeeping >= every_s:
            self._last_housekeeping = now
            try:
                self.store.kv_purge(now)
            except StorageError as exc:
                self._last_housekeeping = float("-inf")
                _log.warning("purging expired KV keys failed, tried again after the next run: %s", exc)

    def present_wait(self, context: NodeContext) -> Presenter | None:
        """How a wait without its own presenter (e.g. a DualStageTool's) is shown: the channel's default."""
        return None if self.wait_presenter is None else self.wait_presenter(context)

    def get_run(self, run_id: str) -> Run:
        """The run with this id: the live object if this process runs it, else rebuilt from the store."""
        check_run_id(run_id)
        run = self.held_run(run_id)
        if run is not None:
            return run
        record = self.store.get_run(run_id)
        if record is None:
            raise UsageError(
                f"no run {shown(run_id)} in this session's store ({self.store.location}); ag.runs() lists the runs "
                "it knows",
                run_id=run_id,
                code="run_not_found",
            )
        return self._from_record(record)

    def _from_record(self, record: RunRecord) -> Run:
        """The run object of a stored record: the one held, or a new one the session keeps (see retire)."""
        from aether_nb.runtime.run import Run  # run.py builds on this module; a Run is made here only on demand

        held = self.held_run(record.run_id)
        if held is not None:
            return held
        run = Run.from_store(self, record)
        if run.done:
            self._finished[record.run_id] = run
        else:
            self._runs[record.run_id] = run
        return run

    def held_run(self, run_id: str) -> Run | None:
        """The run object of ``run_id`` this session holds now, if any (see :meth:`retire`)."""
        run = self._runs.get(run_id)
        return run if run is not None else self._finished.get(run_id)

    def retire(self, run: Run) -> None:
        """``run`` finished and the store holds everything it reports: the session stops keeping it alive.

        Why: a notebook that runs thousands of agents would otherwise keep every finished run (its DAG, events,
        values) in memory for the kernel's lifetime, and each of those objects makes every garbage collection
        slower. While anyone holds the run (a variable, a widget), lookups still return that same object; once
        nobody does, :meth:`get_run` rebuilds it from the store. A run whose outputs or error exist only in this
        process is not retired (see ``Run.retirable``)."""
        if self._runs.get(run.id) is run and run.retirable:
            del self._runs[run.id]
            self._finished[run.id] = run

    def runs(self, status: str | None = None, graph: str | None = None) -> list[Run]:
        """Runs the store knows, newest first (live runs are returned as their live objects)."""
        valid = {"pending", "running", "waiting", "succeeded", "failed", "cancelled"}
        if status is not None and (not isinstance(status, str) or status not in valid):
            raise UsageError(f"status must be one of {sorted(valid)}, got {shown(status)}")
        if graph is not None and not isinstance(graph, str):
            raise UsageError(f"graph must be a graph's name (a string), got {type(graph).__name__}")
        return [self._from_record(rec) for rec in self.store.list_runs(status=status, graph=graph)]

    def known_runs(self) -> Iterator[Run]:
        """The run objects this session holds (live ones and ones looked up)."""
        return iter([*self._runs.values(), *self._finished.values()])

    def adopt(self, run: Run) -> None:
        """``run`` starts executing in this session: it is the object every lookup of its id returns."""
        self._finished.pop(run.id, None)
        self._runs[run.id] = run
        for observer in list(self.run_observers):
            observer(run)

    def returned(self, run: Run) -> None:
        """``start(run_id=...)`` returned ``run`` without executing anything (see :attr:`returned_observers`)."""
        for observer in list(self.returned_observers):
            observer(run)

    def forget_runs(self) -> None:
        """Drop the run objects (the store changed: they belong to the old one)."""
        live = [r.id for r in self._runs.values() if r.live]
        if live:
            raise UsageError(f"runs {live} are executing on the current store; await or cancel them first")
        self._runs.clear()
        self._finished.clear()
        self._parked.clear()
        self._dormant.clear()
        for timer in self._deadlines.values():
            timer.cancel()
        self._deadlines.clear()

    # -- answers ---------------------------------------------------------------------------------------------------
    def find_wait(self, token: str) -> WaitRecord | None:
        """The record of the wait with ``token``: this process's own when a run here waits on it (live, or left
        memory), else the store's. Why not always the store: a thousand answers in a row would be a thousand
        queries, each scanning the waits table."""
        live = self._live_waits.get(token)
        if live is not None:
            return live.record
        sleeper = self._dormant.get(token)
        if sleeper is not None:
            return sleeper.dormant_wait(token)
        return self.store.get_wait(token)

    def answer(self, token: str, payload: Any) -> WaitRecord:
        """Validate and deliver an answer to the wait with ``token``; returns the answered record.

        The answer is stored first, and the run gets it only once it is in the store (a task awaiting the wait in
        this process is woken then, thread-safely: widget callbacks on other threads may call this). With no live
        task, the answer waits in the store until the run resumes. An answer the store cannot write is taken
        back, the wait stays open and the run says so (see :mod:`aether_nb.runtime.answering`).

        Raises:
            UsageError: unknown token, or the wait is no longer open.
            InvalidAnswer: the payload does not fit; nothing changed and the wait stays open.
            StorageError: the answer was written at once (no loop runs in this thread) and that failed: nothing
                of it was kept, the wait stays open.
        """
        return self.give(token, payload).record

    def give(self, token: str, payload: Any) -> Given:
        """:meth:`answer`, returning also the claim that settles once the answer is written (or taken back):
        ``await session.store.barrier(given.written)`` raises the write's error."""
        from aether_nb.runtime.answering import give  # (answering builds on this module)

        return give(self, token, payload)


def _random_run_id() -> str:
    import secrets

    return f"run-{secrets.token_hex(4)}"


_default: Session | None = None
_default_factory: Callable[[], Session] = Session


def set_default_session_factory(factory: Callable[[], Session]) -> None:
    """Install how the process's default session is built (``aether_nb`` installs its wired one)."""
    global _default_factory
    _default_factory = factory


def default_session() -> Session:
    """The process's one default session, built on first use."""
    global _default
    if _default is None:
        _default = _default_factory()
    return _default


def set_default_session(session: Session | None) -> Session | None:
    """Replace the default session (``ag.configure`` and test fixtures); returns the previous one."""
    global _default
    previous, _default = _default, session
    return previous
