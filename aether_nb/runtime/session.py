"""Session: the one object a run gets its store, clock and services from.

A run is handed its session when it starts and passes it down explicitly (scope -> NodeContext -> services).
Exactly one *default* session exists per process — the notebook's — built lazily by the factory that
``aether_nb`` installs (it wires the built-in services); tests build their own sessions and pass them around.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NamedTuple

from aether_nb.errors import StorageError, UsageError
from aether_nb.runtime.clock import Clock, SystemClock
from aether_nb.runtime.codec import encode
from aether_nb.runtime.history import HistoryFailure, HistoryStore
from aether_nb.runtime.waits import Wait, normalise_answer
from aether_nb.store.protocol import Store
from aether_nb.store.records import WaitRecord
from aether_nb.store.redact import contains_secret

if TYPE_CHECKING:
    from aether_nb.runtime.context import NodeContext
    from aether_nb.runtime.events import Event
    from aether_nb.runtime.run import Run

ServiceFactory = Callable[..., Any]
Presenter = Callable[[Wait], Awaitable[None]]


MAX_LIVE_WAITING = 64
"""Default of :attr:`Session.max_live_waiting` (``ag.configure(max_live_waiting=...)``)."""


class LiveWait(NamedTuple):
    """A wait a task of this process is parked on: answering it resolves ``future`` on ``loop``."""

    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    run: Run
    record: WaitRecord


class Session:
    """Store, clock, services and the live runs of one notebook (or one test).

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
        self.wait_presenter: Callable[[NodeContext], Presenter | None] | None = None
        self.answer_hooks: dict[str, Callable[[WaitRecord, Any], Any]] = {}
        self.run_observers: list[Callable[[Run], None]] = []
        self.event_observers: list[Callable[[Run, Event], None]] = []
        self._runs: dict[str, Run] = {}
        self._last_housekeeping = float("-inf")
        self._live_waits: dict[str, LiveWait] = {}
        self._parked: dict[Run, None] = {}  # live runs that wait, oldest first (see _park)
        self._dormant: dict[str, Run] = {}  # token -> the evicted run that waits on it
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

    def add_live_wait(self, fut: asyncio.Future[Any], run: Run, record: WaitRecord) -> None:
        """A task of ``run`` is parked on ``fut`` for this wait (indexed by token and by run)."""
        self._live_waits[record.token] = LiveWait(fut, fut.get_loop(), run, record)
        run._live_tokens.add(record.token)

    def pop_live_wait(self, token: str, future: asyncio.Future[Any] | None = None) -> LiveWait | None:
        """Forget a live wait (only if it is still ``future``'s, when given: a resumed run may wait on the same
        token again while the task of its evicted execution unwinds)."""
        live = self._live_waits.get(token)
        if live is None or (future is not None and live.future is not future):
            return None
        del self._live_waits[token]
        live.run._live_tokens.discard(token)
        return live

    def _park(self, run: Run) -> None:
        """``run`` waits. Beyond :attr:`max_live_waiting` parked runs, the oldest evictable ones leave memory
        (their tasks end; an answer resumes them from the journal), so a thousand waiting runs cost a thousand
        records, not a thousand suspended tasks with their DAGs and events. A run that is watched, busy between
        steps, or not fully journaled stays (see ``Run.evictable``)."""
        self._parked.setdefault(run, None)
        excess = len(self._parked) - self.max_live_waiting
        if excess <= 0:
            return
        for old in list(self._parked):
            if excess <= 0:
                break
            if old.evictable:
                self._parked.pop(old, None)
                old._evict()
                excess -= 1

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
            run = self._runs.get(run_id)
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
                run._emit(RunWarning, node_id=node_id, code=code, message=f"history {what}: {failure.error}")

    def new_run_id(self) -> str:
        while True:
            run_id = self._id_factory()
            if run_id not in self._runs and self.store.get_run(run_id) is None:
                return run_id

    def housekeeping(self, *, every_s: float = 60.0) -> None:
        """Background clean-up after runs: expired KV keys are purged (at most once per ``every_s``)."""
        now = self.clock.now()
        if now - self._last_housekeeping >= every_s:
            self._last_housekeeping = now
            self.store.kv_purge(now)

    def present_wait(self, context: NodeContext) -> Presenter | None:
        """How a wait without its own presenter (e.g. a DualStageTool's) is shown: the channel's default."""
        return None if self.wait_presenter is None else self.wait_presenter(context)

    # -- runs -----------------------------------------------------------------------------------------------------
    def get_run(self, run_id: str) -> Run:
        """The run with this id: the live object if this process runs it, else rebuilt from the store."""
        from aether_nb.runtime.run import Run

        if not isinstance(run_id, str) or not run_id:
            raise UsageError(f"run_id must be a non-empty string, got {run_id!r}")
        run = self._runs.get(run_id)
        if run is not None:
            return run
        record = self.store.get_run(run_id)
        if record is None:
            raise UsageError(
                f"no run {run_id!r} in this session's store ({self.store.location}); ag.runs() lists the runs it knows",
                run_id=run_id,
                code="run_not_found",
            )
        run = Run.from_store(self, record)
        self._runs[run_id] = run
        return run

    def runs(self, status: str | None = None, graph: str | None = None) -> list[Run]:
        """Runs the store knows, newest first (live runs are returned as their live objects)."""
        valid = {"pending", "running", "waiting", "succeeded", "failed", "cancelled"}
        if status is not None and status not in valid:
            raise UsageError(f"status must be one of {sorted(valid)}, got {status!r}")
        return [self.get_run(rec.run_id) for rec in self.store.list_runs(status=status, graph=graph)]

    def _adopt(self, run: Run) -> None:
        self._runs[run.id] = run
        for observer in list(self.run_observers):
            observer(run)

    # -- answers ---------------------------------------------------------------------------------------------------
    def answer(self, token: str, payload: Any) -> WaitRecord:
        """Validate and deliver an answer to the wait with ``token``.

        The answer is persisted first; a task awaiting the wait in this process is then woken (thread-safely, so
        widget callbacks on other threads may call this). With no live task, the answer waits in the store until
        the run resumes.

        Raises:
            UsageError: unknown token, or the wait is no longer open.
            InvalidAnswer: the payload does not fit the wait; nothing changed and the wait stays open.
        """
        if not isinstance(token, str) or not token:
            raise UsageError(f"token must be a non-empty string, got {token!r}", code="bad_token")
        live = self._live_waits.get(token)
        sleeper = self._dormant.get(token)
        if live is not None:
            rec: WaitRecord | None = live.record
        elif sleeper is not None:
            rec = sleeper._dormant_waits.get(token)
        else:
            rec = self.store.get_wait(token)
        if rec is None:
            raise UsageError(
                "no wait has this token; a token belongs to one wait of one run — use run.waits to see the open ones",
                code="bad_token",
            )
        if rec.status != "open":
            raise UsageError(
                f"wait {rec.node_id!r} of run {rec.run_id} is {rec.status}, it cannot be answered again",
                run_id=rec.run_id,
                node_id=rec.node_id,
                code="wait_closed",
            )
        hook = self.answer_hooks.get(rec.kind)
        if hook is not None:
            payload = hook(rec, payload)
        value = normalise_answer(rec, payload)
        encoded = encode(value)
        if contains_secret(json.dumps(encoded)):
            # A secret is never stored: a live wait gets it in memory only; a dormant run cannot keep it.
            if live is None:
                raise UsageError(
                    "this answer contains a secret (an API key or credential), which aether_nb never stores, and "
                    f"run {rec.run_id} is not executing to receive it directly: resume it first (`await run`), "
                    "then answer",
                    run_id=rec.run_id,
                    node_id=rec.node_id,
                    code="secret_answer",
                )
            answered = replace(rec, status="closed", meta={**(rec.meta or {}), "secret_answer": True})
        else:
            answered = replace(rec, status="answered", answer=encoded)
        self.store.put_wait(answered)
        if sleeper is not None and token in sleeper._dormant_waits:
            sleeper._dormant_waits[token] = answered
        owner = self._runs.get(rec.run_id)
        known = None if owner is None or owner._execution is None else owner._execution.known_waits
        if known is not None and token in known:
            known[token] = answered  # a resumed execution that has not reached this wait yet finds the answer
        dormant = self._runs.get(rec.run_id)
        if live is None and dormant is not None and dormant._evicted and not dormant.done:
            # an evicted run of this session: resume it on its loop so the answer is consumed
            if dormant._loop is not None and threading.get_ident() != dormant._thread:
                dormant._loop.call_soon_threadsafe(dormant._resume_if_dormant)
            else:
                dormant._resume_if_dormant()
        if live is not None:
            self.pop_live_wait(token)
            fut, loop, run = live.future, live.loop, live.run
            loop.call_soon_threadsafe(_resolve, fut, value)
            # the run stops being "waiting" as soon as its last open wait is answered, not a loop turn later
            if threading.get_ident() == run._thread:
                run._refresh_status()
            else:
                loop.call_soon_threadsafe(run._refresh_status)
        return answered


def _random_run_id() -> str:
    import secrets

    return f"run-{secrets.token_hex(4)}"


def _resolve(fut: asyncio.Future[Any], value: Any) -> None:
    if not fut.done():
        fut.set_result(value)


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
