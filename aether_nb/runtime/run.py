"""Run: the handle a user holds on one execution of an agent.

A run is a task on the loop that created it (the kernel's loop in a notebook). Its state is folded from its event
stream into :attr:`Run.graph`, persisted through the session's store, and survives the process: a run rebuilt with
``ag.get_run(run_id)`` after a restart can be answered and awaited, which re-executes the body and replays every
completed step from the journal.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aether_nb.errors import RunCancelled, RunFailed, UsageError
from aether_nb.runtime.codec import NotEncodable, decode, encode, preview
from aether_nb.runtime.events import (
    Event,
    NodeFinished,
    NodeStarted,
    NodeStatusChanged,
    RunFinished,
    RunStarted,
    RunStatusChanged,
    RunWarning,
)
from aether_nb.runtime.execution import Execution, Scope, _current_scope, error_info
from aether_nb.runtime.graph import RunGraph
from aether_nb.runtime.registry import Runnable, lookup
from aether_nb.runtime.waits import Wait
from aether_nb.store.records import FINISHED_RUN_STATUSES, RunRecord, WaitRecord
from aether_nb.store.redact import contains_secret

if TYPE_CHECKING:
    from aether_nb.runtime.session import Session

_NODE_EVENTS = (NodeStarted, NodeFinished, NodeStatusChanged)


class _StatusWatch(asyncio.Queue[Event]):
    """The queue of a :meth:`Run.wait_for`: it only looks at the status, so it does not keep a run in memory."""


class Run:
    """One run of a graph_fn: ``await run`` for its outputs, ``run.answer(...)`` for its waits.

    Do not construct directly: ``agent.start(...)``, ``ag.get_run(id)`` and ``ag.runs()`` hand them out.
    """

    def __init__(
        self,
        session: Session,
        record: RunRecord,
        *,
        target: Runnable | None = None,
        inputs: dict[str, Any] | None = None,
    ) -> None:
        self.session = session
        self._record = record
        self._graph = RunGraph(record.run_id, record.graph)
        self._graph.status = record.status
        self._event_log: list[Event] = []
        self._history_pending = False
        self._seq = 0
        self._subscribers: list[asyncio.Queue[Event]] = []
        self._callbacks: list[Callable[[Event], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None
        self._target = target
        self._inputs = inputs
        self._outputs: dict[str, Any] | None = None
        self._error: BaseException | None = None
        self._cancel_requested = False
        self._execution: Execution | None = None
        self._live_tokens: set[str] = set()  # waits a task of this run is parked on (see Session.add_live_wait)
        self._evicted = False  # parked, then dropped from memory: an answer resumes it from the journal
        self._dormant_waits: dict[str, WaitRecord] = {}  # the open waits of an evicted run, by token
        self._changed: asyncio.Future[None] | None = None  # awaiters of a dormant (evicted) run wait on this
        self._root: Scope | None = None  # the body's scope while it executes (see evictable)

    @classmethod
    def from_store(cls, session: Session, record: RunRecord) -> Run:
        """A run known to the store; its DAG and event history are loaded when first needed."""
        run = cls(session, record)
        run._history_pending = True
        return run

    def _load_history(self) -> None:
        self._history_pending = False
        for data in self.session.store.load_events(self.id):
            event = Event.from_json(data)
            self._event_log.append(event)
            self._graph.apply(event)
            self._seq = max(self._seq, event.seq)
        self._graph.status = self._record.status

    @property
    def _events(self) -> list[Event]:
        if self._history_pending:
            self._load_history()
        return self._event_log

    @property
    def graph(self) -> RunGraph:
        """The run's DAG: nodes (id, name, kind, status, inputs, outputs, error, timings) and edges."""
        if self._history_pending:
            self._load_history()
        return self._graph

    # -- what users read -------------------------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self._record.run_id

    @property
    def graph_name(self) -> str:
        return self._record.graph

    @property
    def status(self) -> str:
        """``pending``, ``running``, ``waiting``, ``succeeded``, ``failed`` or ``cancelled``."""
        return self._record.status

    @property
    def done(self) -> bool:
        return self.status in FINISHED_RUN_STATUSES

    @property
    def inputs(self) -> dict[str, Any]:
        if self._inputs is None:
            self._inputs = decode(self._record.inputs)
        return dict(self._inputs)

    @property
    def outputs(self) -> dict[str, Any] | None:
        """The outputs once the run succeeded, else None."""
        if self.status != "succeeded":
            return None
        if self._outputs is None:
            self._outputs = decode(self._record.outputs)
        return self._outputs

    @property
    def error(self) -> str | None:
        """The failure message of a failed run."""
        return self._record.error

    @property
    def waits(self) -> list[Wait]:
        """The run's open waits, oldest first."""
        if self._evicted:
            dormant = [w for w in self._dormant_waits.values() if w.status == "open"]
            return [Wait.from_record(w) for w in sorted(dormant, key=lambda w: w.created_at)]
        if self.live and self._execution is not None and not self._execution.resumed:
            # every open wait of a fresh execution is one its tasks are parked on: no store query
            lives = [self.session._live_waits[t].record for t in self._live_tokens]
            return [Wait.from_record(w) for w in sorted(lives, key=lambda w: w.created_at)]
        return [Wait.from_record(w) for w in self.session.store.list_waits(self.id, status="open")]

    @property
    def live(self) -> bool:
        """True while this process executes the run."""
        return self._task is not None and not self._task.done() and not self._evicted

    def __repr__(self) -> str:
        return f"Run({self.id!r}, graph={self.graph_name!r}, status={self.status!r})"

    # -- awaiting, answering, cancelling -----------------------------------------------------------------------------
    def __await__(self) -> Any:
        return self.result().__await__()

    async def result(self) -> dict[str, Any]:
        """Wait for the run to end and return its outputs.

        A run that is unfinished but not executing in this process (rebuilt from the store after a restart) is
        resumed first. Awaiting does not own the run: cancelling the awaiting code leaves the run going
        (``run.cancel()`` stops it).

        Raises:
            RunFailed: the run failed; ``__cause__`` is the original exception when it happened in this process.
            RunCancelled: the run was cancelled.
        """
        while True:
            task = self._task
            if task is None:
                if self.done:
                    return self._final()
                if self._evicted:  # parked and dropped from memory: an answer resumes it
                    await self._dormant()
                else:
                    self._resume()
                continue
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                if task.cancelled() and (self._evicted or self._task is not task):
                    continue  # evicted while parked (or already resumed): keep waiting for the outcome
                if not (task.cancelled() and self.done):
                    raise  # the awaiting code was cancelled, or the loop is going away
            return self._final()

    async def _dormant(self) -> None:
        """Wait (without a task of the run) until it is resumed or finished."""
        if self._changed is None or self._changed.done():
            self._changed = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._changed)

    def _wake(self) -> None:
        if self._changed is not None and not self._changed.done():
            self._changed.set_result(None)

    def _final(self) -> dict[str, Any]:
        if self.status == "succeeded":
            return dict(self.outputs or {})
        if self.status == "cancelled":
            raise RunCancelled(f"run {self.id} ({self.graph_name}) was cancelled", run_id=self.id)
        node_id = getattr(self._error, "_aether_node_id", None)
        where = f" at node {node_id}" if node_id else ""
        err = RunFailed(
            f"run {self.id} ({self.graph_name}) failed{where}: {self.error}",
            run_id=self.id,
            node_id=node_id,
        )
        if self._error is not None:
            raise err from self._error
        raise err

    async def answer(self, payload: Any = None, *, token: str | None = None) -> None:
        """Answer one of this run's waits (the only one when ``token`` is omitted).

        The answer is validated (a bad one raises :class:`~aether_nb.errors.InvalidAnswer` and the wait stays
        open) and persisted. A run not executing in this process is resumed so it can consume the answer.
        """
        open_waits = self.waits
        if token is None:
            if not open_waits:
                raise UsageError(f"run {self.id} has no open wait to answer (status {self.status})", run_id=self.id)
            if len(open_waits) > 1:
                listing = "; ".join(f"{w.node_id}: {w.prompt!r} token={w.token}" for w in open_waits)
                raise UsageError(
                    f"run {self.id} has {len(open_waits)} open waits; pass token=... to say which ({listing})",
                    run_id=self.id,
                    code="ambiguous_wait",
                )
            token = open_waits[0].token
        else:
            rec = self.session.store.get_wait(token)
            if rec is not None and rec.run_id != self.id:
                raise UsageError(f"that token belongs to run {rec.run_id}, not {self.id}", code="bad_token")
        self.session.answer(token, payload)
        if self._task is None and not self.done:
            self._resume()
        store = self.session.store
        if store.durability == "sync":
            await store.barrier()  # the answer is durable when this returns
        # else it is written at the end of this loop iteration (waits and answers never wait for the interval),
        # together with every other answer given in it: a thousand answers in a row cost one transaction

    def cancel(self) -> bool:
        """Stop the run. Returns False when it had already finished."""
        if self.done:
            return False
        self._cancel_requested = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
            return True
        store = self.session.store
        for w in store.list_waits(self.id, status="open"):
            store.put_wait(replace(w, status="cancelled"))
        for token in self._dormant_waits:
            self.session._dormant.pop(token, None)
        self._dormant_waits = {}
        self._update_record(status="cancelled")
        self._wake()
        return True

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``callback(event)`` for every new event, on the loop's thread; returns the unsubscribe function.

        The callback must be quick and must not raise (the notebook widget batches what it receives).
        """
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback) if callback in self._callbacks else None

    def promote(self, name: str | None = None) -> str:
        """``@graphify`` source that reproduces this (succeeded) run as a static graph.

        Tool calls become nodes, values that flowed between them become references, the run's inputs become the
        graph's inputs; see :mod:`aether_nb.runtime.promote` for the rules. ``%aether promote RUN_ID`` puts it
        into a new cell.
        """
        from aether_nb.runtime.promote import promote_source

        return promote_source(self, name or f"{self.graph_name}_static")

    def to_taskgraph(self, name: str | None = None) -> Any:
        """The promoted graph as a built :class:`~aether_nb.runtime.taskgraph.TaskGraph`."""
        from aether_nb.runtime.promote import to_taskgraph

        return to_taskgraph(self, name)

    async def wait_for(self, *statuses: str, timeout: float | None = 60.0) -> str:
        """Wait until the run's status is one of ``statuses`` (default: any finished status); returns it.

        Useful in notebooks and tests: ``await run.wait_for("waiting")`` before answering. Wakes on the run's
        events, never polls.

        Raises:
            UsageError: an unknown status, or the run finished in another status than the ones awaited.
            TimeoutError: the status was not reached within ``timeout`` seconds.
        """
        valid = {"pending", "running", "waiting", "succeeded", "failed", "cancelled"}
        wanted = set(statuses) or set(FINISHED_RUN_STATUSES)
        if not wanted <= valid:
            raise UsageError(f"statuses must be among {sorted(valid)}, got {sorted(wanted - valid)}")
        queue: asyncio.Queue[Event] = _StatusWatch()
        self._subscribers.append(queue)

        async def watch() -> str:
            while True:
                if self.status in wanted:
                    return self.status
                if self.done or not (self.live or self._evicted):
                    raise UsageError(
                        f"run {self.id} is {self.status} and not executing, so it will not become "
                        f"{' or '.join(sorted(wanted))}",
                        run_id=self.id,
                    )
                await queue.get()

        try:
            return await asyncio.wait_for(watch(), timeout)
        finally:
            self._subscribers.remove(queue)

    async def events(self) -> AsyncIterator[Event]:
        """Every event of the run so far, then live ones until it finishes.

        For a run not executing in this process, yields its stored history and stops.
        """
        queue: asyncio.Queue[Event] = asyncio.Queue()
        history = list(self._events)
        live = self.live
        if live:
            self._subscribers.append(queue)
        try:
            for event in history:
                yield event
            if not live or any(isinstance(e, RunFinished) and e.seq == self._seq for e in history[-1:]):
                return
            while True:
                event = await queue.get()
                yield event
                if isinstance(event, RunFinished):
                    return
        finally:
            if queue in self._subscribers:
                self._subscribers.remove(queue)

    # -- execution -----------------------------------------------------------------------------------------------------
    def _start(self, target: Runnable, inputs: dict[str, Any], *, resumed: bool) -> None:
        loop = asyncio.get_running_loop()
        self._target = target
        self._inputs = inputs
        self._loop = loop
        self._thread = threading.get_ident()
        self._cancel_requested = False
        journal = self.session.store.load_journal(self.id) if resumed else []
        self._execution = Execution(self, journal, resumed=resumed)
        if self._evicted:
            # Resuming from eviction: this process knows the run's waits and its event numbering, so neither is
            # read back from the store (the replay redraws the DAG's completed nodes).
            self._execution.known_waits = dict(self._dormant_waits)
            for token in self._dormant_waits:
                self.session._dormant.pop(token, None)
            self._dormant_waits = {}
            self._history_pending = False
        self._evicted = False
        self._task = loop.create_task(self._main(resumed), name=f"aether_nb run {self.id}")
        self._task.add_done_callback(self._on_task_done)
        self.session._adopt(self)
        self._wake()

    def _resume(self) -> None:
        target = self._target or lookup(self._record.kind, self.graph_name)
        if target is None:
            raise UsageError(
                f"run {self.id} needs {self._record.kind} {self.graph_name!r} to resume, and it is not defined in "
                "this process: run the cell that defines it, then resume (answers given so far are kept)",
                run_id=self.id,
                code="target_missing",
            )
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            raise UsageError(
                f"resuming run {self.id} needs a running event loop: `await run` in a notebook or async code",
                run_id=self.id,
            ) from None
        if self._inputs is None and not (self._record.meta or {}).get("durable_inputs", True):
            raise UsageError(
                f"run {self.id} was started with a secret among its inputs, and secrets are never stored, so it "
                "cannot be resumed in a new process; start a new run (pass secrets through configuration instead)",
                run_id=self.id,
                code="inputs_not_durable",
            )
        self._start(target, self.inputs, resumed=True)

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        if task is not self._task:
            return  # the task of an evicted execution, ending after the run moved on (see _evict)
        # A run cancelled before its task ever started never reaches _main's handler.
        if task.cancelled() and self._cancel_requested and not self.done:
            self._finish("cancelled", error="cancelled")
        self.session._parked.pop(self, None)

    @property
    def evictable(self) -> bool:
        """Whether the run can leave memory while it waits: it is parked on waits only (every step executing
        now is a wait or waits on its children; the body itself is not between steps), everything it did is
        journaled, and nobody follows its events (a widget, ``run.events()``, ``subscribe``)."""
        ex = self._execution
        if not (self.live and self.status == "waiting" and ex is not None and ex.durable and self._live_tokens):
            return False
        if self._callbacks or self._inputs is None or not (self._record.meta or {}).get("durable_inputs", True):
            return False
        if any(not isinstance(q, _StatusWatch) for q in self._subscribers):
            return False
        root_busy = self._root is None or self._root.active == 0
        return not root_busy and all(s.active > 0 or s.kind == "wait" or s.parked > 0 for s in ex.scopes)

    def _resume_if_dormant(self) -> None:
        if self._evicted and self._task is None and not self.done:
            self._resume()

    def _evict(self) -> None:
        """Leave memory while waiting: keep the record and the open waits, detach and cancel the parked task.

        Everything happens now, so the run is dormant at once (an answer resumes it from the journal); the old
        task only unwinds in the background, and nothing it does on the way out reaches the run any more: its
        waits are already off the live table, and its interruption leaves the stored waits open.
        """
        task = self._task
        assert task is not None
        for token in list(self._live_tokens):
            live = self.session.pop_live_wait(token)
            if live is not None:
                self._dormant_waits[token] = live.record
                self.session._dormant[token] = self
        self._evicted = True
        self._task = None
        self._execution = None
        self._root = None
        self._event_log = []
        self._graph = RunGraph(self.id, self.graph_name)
        self._history_pending = True  # loaded from the store if someone looks at it while dormant
        self.session._parked.pop(self, None)
        task.cancel()

    async def _main(self, resumed: bool) -> None:
        assert self._execution is not None and self._target is not None and self._inputs is not None
        self._update_record(status="running", error=None)
        self._emit(RunStarted, graph=self.graph_name, inputs=preview(self._inputs), resumed=resumed)
        root = self._root = Scope(self._execution, None)
        token = _current_scope.set(root)
        try:
            outputs = await self._target._run_root(root, dict(self._inputs))
            root.check_unawaited()
        except asyncio.CancelledError:
            if self._cancel_requested:
                self._finish("cancelled", error="cancelled")
                return
            raise  # the loop is going away: leave the run resumable
        except BaseException as exc:
            self._error = exc
            self._finish("failed", error=exc)
            if not isinstance(exc, Exception):
                raise
            return
        finally:
            _current_scope.reset(token)
        self._outputs = outputs
        self._finish("succeeded", outputs=outputs)

    def _finish(
        self,
        status: str,
        *,
        outputs: dict[str, Any] | None = None,
        error: BaseException | str | None = None,
    ) -> None:
        encoded: Any = None
        if outputs is not None:
            try:
                encoded = encode(outputs)
                if contains_secret(json.dumps(encoded)):
                    raise NotEncodable("the outputs contain a secret (an API key or credential)")
            except NotEncodable as exc:
                encoded = preview(outputs)
                self._emit(
                    RunWarning,
                    node_id=None,
                    code="not_durable",
                    message=f"{exc}. The outputs are kept in this process; the store holds a preview only.",
                )
        message = None if error is None else (error if isinstance(error, str) else f"{type(error).__name__}: {error}")
        self._close_waits()
        self._update_record(status=status, outputs=encoded, error=message)
        self._emit(
            RunFinished,
            status=status,
            outputs=None if outputs is None else preview(outputs),
            error=None if error is None or isinstance(error, str) else error_info(error),
        )
        if self.session.store.durability == "sync":
            self.session.store.flush()
        self.session._parked.pop(self, None)
        self._wake()
        self.session.housekeeping()

    def _close_waits(self) -> None:
        """A finished run answers nothing more: close its open waits and wake any task still parked on one."""
        store = self.session.store
        ex = self._execution
        if ex is not None and ex.known_waits is not None:  # resumed after an eviction: its waits are known
            for rec in ex.known_waits.values():
                if rec.status == "open" and rec.token not in self._live_tokens:
                    store.put_wait(replace(rec, status="closed"))
        elif ex is None or ex.resumed:  # waits of an earlier execution may be open in the store only
            for rec in store.list_waits(self.id, status="open"):
                store.put_wait(replace(rec, status="closed"))
        for token in list(self._live_tokens):
            live = self.session.pop_live_wait(token)
            if live is not None:
                store.put_wait(replace(live.record, status="closed"))
                live.loop.call_soon_threadsafe(live.future.cancel)

    def _update_record(self, **changes: Any) -> None:
        self._record = replace(self._record, updated_at=self.session.clock.now(), **changes)
        self.session.store.put_run(self._record)

    def _refresh_status(self) -> None:
        if self.status not in ("running", "waiting"):
            return
        waiting = bool(self._live_tokens)
        status = "waiting" if waiting else "running"
        if status != self.status:
            self._update_record(status=status)
            self._emit(RunStatusChanged, status=status)
        if waiting:
            self.session._park(self)
        else:
            self.session._parked.pop(self, None)

    def _emit(self, cls: type[Event], **fields: Any) -> None:
        """Create an event, fold it into the graph, persist it and hand it to every subscriber.

        Safe from any thread: off the loop's thread it hops onto the loop (keeping its timestamp).
        """
        fields.setdefault("ts", self.session.clock.now())
        if self._loop is not None and self._thread is not None and threading.get_ident() != self._thread:
            self._loop.call_soon_threadsafe(lambda: self._emit(cls, **fields))
            return
        events = self._events  # loads the stored history first, so sequence numbers continue from it
        self._seq += 1
        event = cls(run_id=self.id, seq=self._seq, **fields)
        events.append(event)
        node = self.graph.apply(event)
        self.session.store.record(self.id, event, node if isinstance(event, _NODE_EVENTS) else None)
        for observer in list(self.session.event_observers):
            observer(self, event)
        for queue in self._subscribers:
            queue.put_nowait(event)
        for callback in list(self._callbacks):
            callback(event)
