"""Run: the handle a user holds on one execution of an agent.

A run is a task on the loop that created it (the kernel's loop in a notebook). The step engine
(:mod:`aether_nb.runtime.execution`) executes its body and emits its events, which the run's recorder folds into
:attr:`Run.graph`, stores and hands out. A run survives the process: one rebuilt with ``ag.get_run(run_id)`` after a
restart can be answered and awaited, which re-executes the body and replays every completed step from the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aether_nb.errors import UsageError
from aether_nb.runtime import awaiting, storable
from aether_nb.runtime.answering import answer_run
from aether_nb.runtime.awaiting import RUN_STATUSES
from aether_nb.runtime.codec import preview
from aether_nb.runtime.context import NodeContext
from aether_nb.runtime.dormancy import only_parked
from aether_nb.runtime.events import Event, RunFinished, RunStarted, RunStatusChanged, RunWarning, WaitClosed
from aether_nb.runtime.execution import Execution, Scope, enter_scope, leave_scope
from aether_nb.runtime.failures import error_info
from aether_nb.runtime.interrupted import stopped_with_caller, tell_caller
from aether_nb.runtime.journal import Journal
from aether_nb.runtime.leftovers import Leftovers
from aether_nb.runtime.registry import Runnable, lookup
from aether_nb.runtime.run_state import RunState
from aether_nb.runtime.slots import outside_slots
from aether_nb.runtime.storable import SECRET_INPUTS, SECRET_INPUTS_FIX, durable_inputs, stored_outputs
from aether_nb.runtime.tracebacks import user_traceback
from aether_nb.store import redact
from aether_nb.store.records import JournalEntry, RunRecord, WaitRecord

if TYPE_CHECKING:
    from aether_nb.runtime.executors import Executor
    from aether_nb.runtime.session import Session

_log = redact.logger("aether_nb")


class Run(RunState):
    """One run of a graph_fn, a graphify graph or a state graph: ``await run`` for its outputs,
    ``run.answer(...)`` for its waits. What it holds and what users read of it (status, inputs, outputs, waits,
    DAG, history) is :class:`~aether_nb.runtime.run_state.RunState`'s; what acts on it is here.

    Do not construct directly: ``agent.start(...)``, ``ag.get_run(id)`` and ``ag.runs()`` hand them out.
    """

    @classmethod
    def from_store(cls, session: Session, record: RunRecord) -> Run:
        """A run known to the store; its DAG and event history are loaded when first needed."""
        return cls(session, record, stored=True)

    # -- awaiting, answering, cancelling -----------------------------------------------------------------------------
    def __await__(self) -> Any:
        return self.result().__await__()

    async def result(self) -> dict[str, Any]:
        """Wait for the run to end and return its outputs.

        An unfinished run no task of this process executes is resumed first. Awaiting does not own the run:
        cancelling the awaiting code leaves it going (``run.cancel()`` stops it), and the ``CancelledError`` says so.

        Raises:
            RunFailed: the run failed; ``__cause__`` is the original exception when it happened in this process.
            RunCancelled: the run was cancelled.
            UsageError: the run's own code awaits it (``code="awaits_itself"``): it would wait for its own end.
        """
        return await awaiting.result(self)

    async def answer(self, payload: Any = None, *, token: str | None = None) -> None:
        """Answer one of this run's waits (the only one when ``token`` is omitted).

        The answer is validated (a bad one raises :class:`~aether_nb.errors.InvalidAnswer` and the wait stays
        open) and stored; the run consumes it once it is in the store. In ``"sync"`` durability this returns once
        it is. An answer the store cannot write is taken back (nothing of it is written later) and its wait stays
        open, to be answered again once the store can be written: ``"sync"`` raises
        :class:`~aether_nb.errors.StorageError` (``code="answer_not_written"``), ``"async"`` (which returned
        before the write) says so with an ``answer_not_written`` warning on the run. A run not executing in this
        process is resumed so it can consume the answer: its task first runs in the next loop iteration, after the
        answer's write (in ``"sync"`` mode, once this has returned), and finds the answer only if that succeeded.
        """
        self._home.check(self.id, self._session.store)
        await answer_run(self, payload, token)

    async def until(self, reached: Callable[[], bool], timeout: float | None) -> None:
        """Return once ``reached()`` is true, checked after each event of the run (``reached`` may raise to give
        up). Raises TimeoutError after ``timeout`` seconds."""
        await self._events.until(reached, timeout)

    async def moved(self) -> None:
        """Return once a run that left memory resumed or finished."""
        await self._dormancy.changed()

    def end_stopped(self) -> None:
        """Record that a run whose task Stop cancelled before its body started ended cancelled (its task's done
        callback does, a loop turn after the code awaiting it was woken)."""
        if self._task is not None and self._task.cancelled() and self._cancel_requested and not self.done:
            self._finish("cancelled", error="cancelled")

    def cancel(self) -> bool:
        """Stop the run (False: it had finished). A run no task executes ends its history as a stopped one would."""
        if self.done:
            return False
        self._home.check(self.id, self._session.store)
        self._cancel_requested = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
            return True
        store = self._session.store
        for w in store.list_waits(self.id, status="open"):
            store.put_wait(replace(w, status="cancelled"))
            self.emit(WaitClosed, token=w.token, node_id=w.node_id, reason="cancelled")
        self._session.wake(self, self._dormancy.take())
        self._events.close_nodes("cancelled", None)
        self._update_record(status="cancelled")
        self.emit(RunFinished, status="cancelled")
        self._dormancy.wake()
        return True

    async def stop_with_caller(self, exc: BaseException) -> None:
        """The code that started this run and awaited its end (``await agent(...)``, ``await graph(...)``: it owned
        the run) was cancelled with ``exc`` (a kernel interrupt, ``asyncio.wait_for``'s timeout): stop the run too,
        note on ``exc`` that it was, and return once it ended; the caller then re-raises ``exc``.

        Why wait for its end: the note says the run was stopped, and code reading it as the cancel arrives
        (``wait_for`` raises its TimeoutError only once the awaiting code returned) found it still ``running``,
        its nested steps too, for a loop turn or more. A body that ignores its cancel keeps its caller waiting until
        it ends; a second cancel of the caller (a second interrupt) stops waiting (the run is told to stop all the
        same). A run that had ended already is left as it is, and ``exc`` carries no note."""
        if not self.cancel():
            return
        tell_caller(exc, stopped_with_caller(self.id, self.graph_name))
        task = self._task
        if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
            return  # (ended already, or on another loop: nothing to wait on here)
        # Cancelled again while waiting: the caller stops waiting, the run ends on its own. An error it ended
        # with is its record's to say: the caller goes on with its cancel.
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.shield(task)

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``callback(event)`` for every new event, on the loop's thread; returns the unsubscribe function.

        A callback that raises is unsubscribed and the run gets a warning saying so: an observer can never fail it.
        """
        if not callable(callback):
            raise UsageError(f"subscribe() takes a callable, got {type(callback).__name__}")
        if inspect.iscoroutinefunction(callback) or inspect.iscoroutinefunction(type(callback).__call__):
            # (it was accepted, and each call made a coroutine nobody ran: the callback never ran, and said nothing)
            raise UsageError(
                "subscribe() takes a plain function, called with each event on the loop's thread; for an async one, "
                "iterate the events in a task: `async for event in run.events(): ...`",
                run_id=self.id,
            )
        callbacks = self._events.callbacks
        callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in callbacks:
                callbacks.remove(callback)
                if not self._events.watched:  # parked and now unwatched: it may leave memory
                    self._on_loop(lambda: self._session.unwatched(self))

        return unsubscribe

    def promote(self, name: str | None = None, *, computed: str = "inputs") -> str:
        """``@graphify`` source reproducing this succeeded run as a static graph, checked against its journal (rules,
        and ``computed``: :mod:`aether_nb.runtime.promote`); ``%aether promote RUN_ID`` puts it into a new cell."""
        from aether_nb.runtime.promote import promote_source

        self._home.check(self.id, self._session.store)  # (its journal is in the store it came from)
        return promote_source(self, name, computed=computed)  # (None: its default name; others checked there)

    def to_taskgraph(self, name: str | None = None, *, computed: str = "inputs") -> Any:
        """The promoted graph as a checked :class:`~aether_nb.runtime.taskgraph.TaskGraph` (see :meth:`promote`)."""
        from aether_nb.runtime.promote import to_taskgraph

        self._home.check(self.id, self._session.store)
        return to_taskgraph(self, name, computed=computed)

    async def wait_for(self, *statuses: str, timeout: float | None = 60.0) -> str:
        """Wait until the run's status is one of ``statuses`` (default: any finished status); returns it.

        ``await run.wait_for("waiting")`` before answering, say. Wakes on the run's events, never polls.

        Raises:
            UsageError: an unknown status, the run finished in another status than the ones awaited, or nothing
                executes it (cut off by a restart: the message says how to resume it).
            TimeoutError: the status was not reached within ``timeout`` seconds (the message says where the run is).
        """
        return await awaiting.wait_for(self, statuses, timeout)

    async def events(self) -> AsyncIterator[Event]:
        """Every event of the run so far, then live ones until it finishes (a run not executing here: its history)."""
        async for event in self._events.stream(live=self.live):
            yield event

    # -- execution -----------------------------------------------------------------------------------------------------
    def start_execution(
        self,
        target: Runnable,
        inputs: dict[str, Any],
        *,
        resumed: bool,
        executor: Executor | None = None,
        journal: list[JournalEntry] | None = None,
    ) -> None:
        """Execute ``target`` as this run's body (``resumed``: replaying the journal of earlier executions, read
        from the store unless ``journal`` is it already; UsageError if it holds a class not defined here, or if the
        session has switched to another store since this object was made)."""
        self._home.check(self.id, self._session.store)
        if journal is None:
            journal = storable.readable_journal(self._session.store, self.id) if resumed else []
        loop = asyncio.get_running_loop()
        self._target = target
        self._inputs = inputs
        self._loop = loop
        self._thread = threading.get_ident()
        self._events.bind(loop)
        self._cancel_requested = False
        self._leftovers = Leftovers()
        if executor is not None:
            self._executor = executor
        replay = Journal(self.id, journal, self._events.call_arguments, failures=self.status != "failed")  # (retry)
        self._execution = Execution(self, replay, resumed=resumed)
        if self._evicted:
            # Back from eviction: the run's waits and event numbering are known here, not read back from the store.
            complete = self._dormancy.complete
            waits = self._dormancy.take()
            self._execution.known_waits = dict(waits) if complete else None
            self._session.wake(self, waits)
            self._events.loaded()
        self._evicted = False
        self._task = loop.create_task(self._main(resumed), name=f"aether_nb run {self.id}", context=outside_slots())
        self._task.add_done_callback(self._on_task_done)
        self._session.adopt(self)
        self._dormancy.wake()

    def resume(self, journal: list[JournalEntry] | None = None) -> None:
        """Execute an unfinished run that no task of this process executes (after a restart, or after it left
        memory): the body runs again and replays its journal. ``await run`` and ``run.answer`` do this for you."""
        if self.live or self.done:
            return
        target, entries = self.check_resumable() if journal is None else (self._resume_target(), journal)
        self.start_execution(target, self.inputs, resumed=True, journal=entries)

    def _resume_target(self) -> Runnable:
        target = self._target or lookup(self._record.kind, self.graph_name)
        if target is None:
            raise storable.target_missing(self._record)
        return target

    def check_resumable(self) -> tuple[Runnable, list[JournalEntry]]:
        """What a resume executes and the journal it replays, once it is known the run can resume here (checked
        by ``%aether resume``, and before an answer is stored, which would otherwise be consumed later by no one
        the person expects): its agent is defined, a loop runs, its inputs are stored, every value can be read."""
        self._home.check(self.id, self._session.store)
        target = self._resume_target()
        storable.check_loop(self.id)
        if self._inputs is None:
            self._inputs = storable.inputs_to_resume(self._record)
        return target, storable.readable_journal(self._session.store, self.id)

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        if task is not self._task:
            return  # the task of an evicted execution, ending after the run moved on (see evict)
        self.end_stopped()  # (a run cancelled before its task ever started never reaches _main's handler)
        self._session.unpark(self)
        if self.done:
            # Its execution and root scope point back here: dropped, so no cycle keeps a finished run alive.
            ex, self._root = self._execution, None
            if ex is not None:
                self._ended, self._execution = (ex.resumed, ex.failed_node(self._error)), None
            self._session.retire(self)

    @property
    def retirable(self) -> bool:
        """Whether the store can rebuild this finished run as it is: it succeeded or was cancelled, and its
        inputs and outputs are stored (a failed run keeps its exception object, a run whose inputs or outputs
        could not be stored keeps them: those stay in memory)."""
        if self.status not in ("succeeded", "cancelled") or self._kept_only_here or self.live:
            return False
        return durable_inputs(self._record)

    @property
    def evictable(self) -> bool:
        """Whether the run can leave memory while it waits: parked on waits only (the body not between steps),
        everything it did journaled, nobody following its events (a widget, ``run.events()``, ``subscribe``), and
        not being stopped. Why the last: ``cancel()`` cancels the task, which ends the run cancelled as it unwinds;
        an eviction in between (its followers dropped in the same loop turn, as re-running a cell does) detached
        that task, whose ending then said nothing, and the run stayed ``running`` with no task, for good."""
        ex, root = self._execution, self._root
        if self._cancel_requested:
            return False
        if not (self.live and self.status == "waiting" and ex is not None and ex.durable and root is not None):
            return False
        if self._events.watched or self._inputs is None or not durable_inputs(self._record):
            return False
        return only_parked(self._session, self.id, ex, root)

    def evict(self) -> list[str]:
        """Leave memory while waiting: keep the record and the waits, detach and cancel the parked task (it unwinds
        in the background; nothing it does on the way out reaches the run). Returns the tokens of the waits kept."""
        task, ex = self._task, self._execution
        if task is None or ex is None or not self.evictable:
            raise UsageError(f"run {self.id} cannot leave memory now (see Run.evictable)", run_id=self.id)
        self._dormancy.remember(ex.known_waits, resumed=ex.resumed)
        for live in self._session.live_waits_of(self.id):
            if self._session.pop_live_wait(live.record.token) is not None:
                self._dormancy.keep(live.record)
        self._evicted = True
        ex.detached = True  # a task of it that runs before the cancel reaches it starts no step (Scope.run_step)
        self._task = self._execution = self._root = None
        self._events.forget(self.status)  # loaded from the store if someone looks at it while dormant
        self._session.unpark(self)
        task.cancel()
        self._leftovers.cancel()  # (tasks its code started and left parked: the resumed execution does their work)
        return list(self._dormancy.waits)

    def dormant_wait(self, token: str) -> WaitRecord | None:
        """The record of an open wait this evicted run keeps, by token."""
        return self._dormancy.get(token)

    def wait_answered(self, record: WaitRecord, *, parked: bool, going_on: RunRecord | None = None) -> None:
        """One of its waits was answered (``parked``: a task here waits on it); a dormant run resumes to take it.
        ``going_on``: the record written with the answer (it no longer waits): a run no task executes reads it too
        (one executing, or resumed by the answer, says so itself as it goes on)."""
        if going_on is not None and not (self.live or self._evicted) and self._record.status == "waiting":
            self._record = going_on
        self._dormancy.answered(record)
        if self._execution is not None:
            self._execution.remember_answer(record)
        if not parked and self._evicted and not self.done:
            self._on_loop(self.resume)

    def _on_loop(self, fn: Callable[[], None]) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or threading.get_ident() == thread:
            fn()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(fn)

    async def _main(self, resumed: bool) -> None:
        assert self._execution is not None and self._target is not None and self._inputs is not None
        self._update_record(status="running", error=None)
        self.emit(RunStarted, graph=self.graph_name, inputs=preview(self._inputs), resumed=resumed)
        if not resumed and not durable_inputs(self._record):
            # said now, while the person can still act on it, not first after a restart when they answer
            fix = {"fix": SECRET_INPUTS_FIX}
            self.emit(RunWarning, node_id=None, code="inputs_not_durable", message=SECRET_INPUTS, detail=fix)
        execution = self._execution  # (a run that leaves memory detaches it: its ending is the resumed one's)
        root = self._root = Scope(execution, None)
        root.task = asyncio.current_task() if resumed else None  # a replay tells its own code's calls (binding)
        token = enter_scope(root)
        outputs: dict[str, Any] | None = None
        failed: BaseException | None = None
        try:
            outputs = await self._target.run_root(root, dict(self._inputs))
            root.check_unawaited()
        except asyncio.CancelledError:
            if not self._cancel_requested:
                raise  # the loop is going away: leave the run resumable
        except BaseException as exc:
            if execution.detached and isinstance(exc, Exception):  # (the resumed execution says how the run ends)
                _log.debug("run %s: its detached execution ended with %s: %s", self.id, type(exc).__name__, exc)
                return
            user_traceback(exc)
            self._error = failed = exc
            if not isinstance(exc, Exception):  # (KeyboardInterrupt, SystemExit: the run ends now, they go on)
                self._finish("failed", error=exc)
                raise
        finally:
            leave_scope(token)
            root.release()
        if execution.detached:
            return
        # Tasks its code started and left running (a gather's other branches after one failed, a fire-and-forget
        # call) end before the run says how it ended: nothing of it runs after that (see leftovers.py). A Stop while
        # they unwind ends it cancelled (_on_task_done).
        await self._leftovers.end()
        if self._cancel_requested:
            # Stopped, and the body returned all the same: Python's TaskGroup turns the cancel into its children's
            # ExceptionGroup when one failed, which an `except*` then swallowed (the steps after it were refused).
            # run.cancel() said it would stop: the run ends cancelled, not "succeeded" with a partial result.
            self._finish("cancelled", error="cancelled")
        elif failed is not None:
            self._finish("failed", error=failed)
        else:
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
            encoded, why = stored_outputs(outputs)
            if why is not None:
                self._kept_only_here = True
                self.emit(RunWarning, node_id=None, code="not_durable", message=why)
        message = None if error is None else (error if isinstance(error, str) else f"{type(error).__name__}: {error}")
        ex = self._execution
        known = None if ex is None else ex.known_waits
        self._session.close_waits(
            self.id, known=known, stored=ex is None or ex.resumed, left_open=() if ex is None else ex.left_open
        )
        failed_node = ex.failed_node(error) if isinstance(error, BaseException) and ex is not None else None
        self._events.close_nodes(status, message)
        self._update_record(status=status, outputs=encoded, error=message)
        self._leftovers.cancel()  # (one that ignored its cancel: it is refused every step from now on)
        self.emit(
            RunFinished,
            status=status,
            outputs=None if outputs is None else preview(outputs),
            error=None if error is None or isinstance(error, str) else error_info(error),
            failed_node=failed_node,
        )
        if self._session.store.durability == "sync":
            self._session.store.flush()
        self._session.unpark(self)
        self._dormancy.wake()
        self._session.housekeeping()

    def _update_record(self, **changes: Any) -> None:
        self._record = replace(self._record, updated_at=self._session.clock.now(), **changes)
        self._session.store.put_run(self._record)

    # -- what the step engine calls (StepHost) -----------------------------------------------------------------------
    def context_for(self, scope: Scope) -> NodeContext:
        return NodeContext(scope)

    def persist_waiting(self) -> None:
        """Record that the run waits: its ``waiting`` record and, if it was running, its status change go out
        in the same write as the wait that makes it wait (one durable write per pause). Nobody is told before
        :meth:`announce_waiting` (after that write): ``status`` still says ``running`` and the events are held."""
        if self._record.status != "running" or self._announcing:
            self._session.store.put_run(replace(self._record, status="waiting", updated_at=self._session.clock.now()))
            return
        self._announcing = True
        self._events.hold()
        self._update_record(status="waiting")
        self.emit(RunStatusChanged, status="waiting")

    def announce_waiting(self) -> None:
        """The write of :meth:`persist_waiting` returned (or failed): say what it recorded."""
        if self._announcing:
            self._announcing = False
            self._events.release()

    def refresh_status(self) -> None:
        """``running`` or ``waiting``, from whether a task of the run is parked on a wait now."""
        if self.status not in ("running", "waiting"):
            return
        waiting = self._session.parks(self.id)
        status = "waiting" if waiting else "running"
        if status != self.status:
            self._update_record(status=status)
            self.emit(RunStatusChanged, status=status)
        if waiting:
            self._session.park(self)
        else:
            self._session.unpark(self)

    def refresh_status_threadsafe(self) -> None:
        """:meth:`refresh_status` from any thread (a widget's answer arrives on a kernel subshell thread)."""
        self._on_loop(self.refresh_status)

    def start_node(self, **fields: Any) -> None:
        self._leftovers.note(self._task)  # (a task other than the run's own: ended with the body, see leftovers.py)
        self._events.start_node_with(fields)  # (the dict as it is: no second unpacking per step)

    def finish_node(self, node_id: str, status: str, **fields: Any) -> None:
        self._events.finish_node_with(node_id, status, fields)

    def emit(self, cls: type[Event], **fields: Any) -> None:
        """Record an event of this run (see :class:`~aether_nb.runtime.recorder.Recorder`); safe from any thread."""
        self._events.emit(cls, **fields)


__all__ = ["RUN_STATUSES", "Run"]
