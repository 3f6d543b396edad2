"""RunState: the state of a run in this process, and what it tells about itself.

The read side of :class:`~aether_nb.runtime.run.Run`, apart so that ``run.py`` holds what acts on a run (executing,
answering, cancelling, leaving memory, hosting the step engine). Every field is set here, where each says what it
holds; :class:`~aether_nb.runtime.run.Run` changes them as the run goes on. Nothing here starts, writes or waits:
a property reads the record, the recorder or the execution in progress (a stored run's DAG and history are loaded
when first read).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aether_nb.runtime import storable
from aether_nb.runtime.codec import decode
from aether_nb.runtime.dormancy import Dormancy
from aether_nb.runtime.events import Event
from aether_nb.runtime.graph import RunGraph
from aether_nb.runtime.leftovers import Leftovers
from aether_nb.runtime.recorder import Recorder
from aether_nb.runtime.waits import Wait
from aether_nb.store import redact
from aether_nb.store.records import FINISHED_RUN_STATUSES, RunRecord

if TYPE_CHECKING:
    from aether_nb.runtime.execution import Execution, Scope
    from aether_nb.runtime.executors import Executor
    from aether_nb.runtime.registry import Runnable
    from aether_nb.runtime.session import Session


class RunState:
    """A run's state and the read side of it (subclassed by :class:`~aether_nb.runtime.run.Run`, the class users
    get: do not construct either directly)."""

    def __init__(self, session: Session, record: RunRecord, *, stored: bool = False) -> None:
        self._session = session
        self._record = record
        self._home = storable.StoreHome(session.store)  # (a held object must not resume in another store)
        self._events = Recorder(session, self, record.run_id, record.graph, record.status, stored=stored)
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None
        self._target: Runnable | None = None
        self._inputs: dict[str, Any] | None = None
        self._outputs: dict[str, Any] | None = None
        self._error: BaseException | None = None
        self._cancel_requested = False
        self._executor: Executor | None = None
        self._execution: Execution | None = None
        self._ended: tuple[bool, str | None] = (False, None)  # its last execution's: resumed, failed node
        self._evicted = False  # parked, then dropped from memory: an answer resumes it from the journal
        self._announcing = False  # "waiting" recorded, its write not returned yet (Run.persist_waiting)
        self._kept_only_here = False  # outputs this process holds that the store does not (not encodable)
        self._dormancy = Dormancy()  # what the run keeps while evicted: its open waits, its awaiters' future
        self._root: Scope | None = None  # the body's scope while it executes (see Run.evictable)
        self._leftovers = Leftovers()  # tasks its code started that start steps: ended with the body (leftovers.py)

    @property
    def history(self) -> list[Event]:
        """Every event of the run so far, oldest first (loaded from the store for a run rebuilt from it)."""
        return self._events.history

    @property
    def event_log(self) -> list[Event]:
        """The run's event list itself, growing as events come (a copy is :attr:`history`); do not modify it. A new
        list replaces it when the history is reloaded (after it left memory): a folding observer tells by identity."""
        return self._events.log

    @property
    def graph(self) -> RunGraph:
        """The run's DAG: nodes (id, name, kind, status, inputs, outputs, error, timings) and edges."""
        return self._events.graph(self._record.status)

    @property
    def graph_in_memory(self) -> RunGraph | None:
        """:attr:`graph` when it needs no read of the store; None for a run whose history is in the store only."""
        return self._events.graph_in_memory()

    def ran_meta(self, node_id: str) -> Any:
        """The meta step ``node_id`` ran with (see :meth:`StepHost.ran_meta`)."""
        return self._events.ran_meta(node_id, self._record.status)

    def ran_parents(self, node_id: str) -> tuple[str, ...] | None:
        """The edges step ``node_id`` ended with before (see :meth:`StepHost.ran_parents`)."""
        return self._events.ran_parents(node_id, self._record.status)

    def runs_again(self, node_id: str) -> bool:
        """Whether node ``node_id`` runs its code again, cut off before (see :meth:`StepHost.runs_again`)."""
        return self._events.runs_again(node_id, self._record.status)

    @property
    def id(self) -> str:
        return self._record.run_id

    @property
    def session(self) -> Session:
        """The session the run belongs to (its store, clock and services)."""
        return self._session

    @property
    def graph_name(self) -> str:
        return self._record.graph

    @property
    def record(self) -> RunRecord:
        """The run's stored record (status, inputs, timestamps...) as this process knows it."""
        return self._record

    @property
    def status(self) -> str:
        """``pending``, ``running``, ``waiting``, ``succeeded``, ``failed`` or ``cancelled``."""
        return "running" if self._announcing and self._record.status == "waiting" else self._record.status

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
        """The failure message of a failed run, its secrets masked as the store keeps it (printed in a notebook, it
        is saved with the notebook)."""
        error = self._record.error
        return None if error is None else redact.redact_text(error)

    @property
    def waits(self) -> list[Wait]:
        """The run's open waits, oldest first; a wait opened just now is listed once it is in the store."""
        if self._evicted and self._dormancy.complete:
            return self._dormancy.open_waits()
        unwritten = self._session.store.unwritten_waits(self.id)
        if self.live and self._execution is not None and not self._execution.resumed:
            # every open wait of a fresh execution is one its tasks are parked on: no store query
            lives = [live.record for live in self._session.live_waits_of(self.id) if live.record.token not in unwritten]
            return [Wait.from_record(w) for w in sorted(lives, key=lambda w: w.created_at)]
        stored = self._session.store.list_waits(self.id, status="open")
        return [Wait.from_record(w) for w in stored if w.token not in unwritten]

    @property
    def live(self) -> bool:
        """True while this process executes the run."""
        return self._task is not None and not self._task.done() and not self._evicted

    @property
    def resumed(self) -> bool:
        """Whether this process replays an earlier execution of the run (after a restart, or after eviction)."""
        return self._execution.resumed if self._execution is not None else self._ended[0]

    @property
    def evicted(self) -> bool:
        """True while the run waits outside memory (see ``ag.configure(max_live_waiting=...)``)."""
        return self._evicted

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_requested

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The task of its latest execution in this process (None: none since it was loaded, or it left memory)."""
        return self._task

    @property
    def failed_node(self) -> str | None:
        """The node a failed run's error was raised at, when known."""
        return self._execution.failed_node(self._error) if self._execution is not None else self._ended[1]

    @property
    def exception(self) -> BaseException | None:
        """The exception a run that failed in this process failed with (the store keeps only its text)."""
        return self._error

    @property
    def executor(self) -> Executor | None:
        """Where this run's sync tool bodies run (None: the session's default)."""
        return self._executor if self._executor is not None else self._session.executor

    def __repr__(self) -> str:
        return f"Run({self.id!r}, graph={self.graph_name!r}, status={self.status!r})"
