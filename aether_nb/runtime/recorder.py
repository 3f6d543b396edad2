"""The event side of a run: every event it emits, numbered, folded into its DAG, stored and handed to subscribers.

A :class:`~aether_nb.runtime.run.Run` owns one recorder. The step engine reports through the run (``emit``,
``start_node``, ``finish_node``); the recorder turns that into the run's event stream, which the widget, the store and
``run.events()`` all follow, so what the widget shows is exactly what was stored. A subscriber that raises is
isolated: an observer can never fail the run it watches.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from aether_nb.errors import UsageError, shown
from aether_nb.runtime.events import (
    Event,
    NodeFinished,
    NodeRan,
    NodeStarted,
    NodeStatusChanged,
    RunFinished,
    RunStarted,
    RunWarning,
    ServiceCalled,
    make_event,
)
from aether_nb.runtime.graph import FINAL_NODE_STATUSES, RunGraph
from aether_nb.store import redact

if TYPE_CHECKING:
    from aether_nb.runtime.session import Session

_NODE_EVENTS = (NodeStarted, NodeFinished, NodeRan, NodeStatusChanged)
_log = redact.logger("aether_nb")


class StatusWatch(asyncio.Queue[Event]):
    """The queue of a ``Run.wait_for``: it only looks at the status, so it does not keep a run in memory."""


class Recorder:
    """Events of one run (see the module docstring).

    Args:
        session: where events are stored and who observes them.
        owner: the run, handed to the session's event observers with each event.
        run_id, graph_name: the run's identity.
        status: the run's status when the recorder starts (a stored run's).
        stored: whether the run's history is in the store (loaded when first needed).
    """

    def __init__(
        self, session: Session, owner: Any, run_id: str, graph_name: str, status: str, *, stored: bool
    ) -> None:
        self._session = session
        # Weak: the run owns this recorder, and a strong reference back would make every finished run a cycle
        # that only a full garbage collection frees (with its DAG and events: ~2,000 objects a 1,000-step run).
        self._owner: Callable[[], Any] = weakref.ref(owner)
        self._run_id = run_id
        self._graph_name = graph_name
        self._status = status
        self._graph = RunGraph(run_id, graph_name)
        self._graph.status = status
        self._log: list[Event] = []
        self._pending = stored
        self.seq = 0
        self.queues: list[asyncio.Queue[Event]] = []
        self.callbacks: list[Callable[[Event], None]] = []
        self._starting: dict[str, dict[str, Any]] = {}  # nodes started this loop turn, not yet announced
        self._announce: asyncio.Handle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None
        self._holds = 0  # hold() depth: events are recorded and stored, but handed out only at release()
        self._held: list[Event] = []
        self._ran_metas: dict[str, Any] = {}  # node id -> meta, of the tool steps of a run that left memory
        # node id -> its edges, of the nodes done (failed) when the run left memory: see _done_before, ran_parents
        self._done_parents: dict[str, tuple[str, ...]] | None = None
        self._failed_parents: dict[str, tuple[str, ...]] | None = None
        self._open_ids: frozenset[str] = frozenset()  # the nodes not ended when it left (see close_nodes)
        self._done_calls: set[tuple[str | None, str]] = set()  # the service calls done when it left memory
        self._stored_upto = 0  # back from leaving memory: the events up to this seq are in the store only

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Events are made on ``loop``'s thread from now on (others hop onto it)."""
        self._loop = loop
        self._thread = threading.get_ident()

    def forget(self, status: str) -> None:
        """Drop the history held in memory (the run left memory): it is read back from the store when needed.

        The code versions its tool steps ran with are kept (a few strings), and the edges of its ended steps (the
        tuples the DAG holds): a resume in this process does not read the history back, and a replayed step
        compares its tool's version with the one that made its result, and moves its scope on along its edges."""
        done: dict[str, tuple[str, ...]] = {}
        failed: dict[str, tuple[str, ...]] = {}
        still = []
        for node in self._graph.nodes:
            if isinstance(node.meta, dict) and "tool_version" in node.meta:
                self._ran_metas[node.id] = node.meta
            if node.status == "DONE":
                done[node.id] = node.parents
            elif node.status in ("FAILED", "FAILED_TIMEOUT"):
                failed[node.id] = node.parents
            elif node.status not in FINAL_NODE_STATUSES:
                still.append(node.id)
        self._done_calls |= self._graph.done_calls()
        if done:
            self._done_parents = done if self._done_parents is None else {**self._done_parents, **done}
        if failed:
            self._failed_parents = failed if self._failed_parents is None else {**self._failed_parents, **failed}
        # (left memory again before anyone looked: nodes open before the last time and not reached since stay open)
        self._open_ids = frozenset([*still, *(n for n in self._open_ids if n not in self._graph)])
        self._log = []
        self._graph = RunGraph(self._run_id, self._graph_name)
        self._status = status
        self._pending = True
        self._stored_upto = 0  # (all of it is in the store now)

    def loaded(self) -> None:
        """The run resumes after leaving memory, keeping its numbering: the history it made before is read from the
        store only when someone looks at it (:meth:`_complete`), never by the resume itself (read already if someone
        looked while it was out of memory)."""
        self._stored_upto = self.seq if self._pending else 0
        self._pending = False

    def _load(self) -> None:
        self._pending = False
        self._fold(self._session.store.load_events(self._run_id))
        self._graph.status = self._status

    def _fold(self, stored: list[Any]) -> None:
        """Append stored events to the log and the DAG. A resumption's replayed steps are marked as the live DAG
        marked them (their replays are not stored again: see ``RunGraph.mark_resumed``)."""
        for data in stored:
            event = Event.from_json(data)
            self._log.append(event)
            if type(event) is RunStarted and event.resumed:
                self._graph.mark_resumed()
            self._graph.apply(event)
            self.seq = max(self.seq, event.seq)

    def _complete(self) -> None:
        """Put the history a run made before it left memory back in front of what it did since it came back: the
        DAG and the events then read as a run that never left (its replayed steps keep the times they first ran
        at). A new list replaces the log (see ``Run.event_log``)."""
        upto, self._stored_upto = self._stored_upto, 0
        since, status = self._log, self._graph.status
        self._log = []
        self._graph = RunGraph(self._run_id, self._graph_name)
        seq = self.seq
        self._fold([d for d in self._session.store.load_events(self._run_id) if d["seq"] <= upto])
        for event in since:
            self._log.append(event)
            self._graph.apply(event)
        self.seq = seq
        self._graph.status = status

    @property
    def history(self) -> list[Event]:
        """Every event handed out so far, oldest first (not those a :meth:`hold` keeps back: a reader that then
        subscribes gets them once, when they are released)."""
        if self._pending:
            self._load()
        elif self._stored_upto:
            self._complete()
        return self._log[: len(self._log) - len(self._held)] if self._held else list(self._log)

    @property
    def log(self) -> list[Event]:
        """The event list itself (see ``Run.event_log``)."""
        if self._pending:
            self._load()
        elif self._stored_upto:
            self._complete()
        return self._log

    def ran_meta(self, node_id: str, status: str) -> Any:
        """The meta node ``node_id`` ran with (its tool's code version), if this run recorded one (what is in memory
        and the metas kept when it left memory: a replay never reads the history back)."""
        graph = self.graph(status) if self._pending else self._graph
        if node_id in graph:
            return graph.node(node_id).meta
        return self._ran_metas.get(node_id)

    def ran_parents(self, node_id: str, status: str) -> tuple[str, ...] | None:
        """The edges step ``node_id`` had when it ended in an earlier execution (see ``RunGraph.ran_parents``): from
        the DAG, or those kept when the run left memory (a replay never reads the history back)."""
        graph = self.graph(status) if self._pending else self._graph
        if node_id in graph:
            return graph.ran_parents(node_id)
        for kept in (self._done_parents, self._failed_parents):
            if kept is not None and node_id in kept:
                return kept[node_id]
        return None

    def runs_again(self, node_id: str, status: str) -> bool:
        """Whether node ``node_id``, starting in a resumed execution, runs its code again from the top (see
        ``RunGraph.runs_again``). A run back from leaving memory has none: it left parked on its waits only
        (``Run.evictable``), so no step of it was cut off, and its history is not read back to say so."""
        if self._stored_upto:
            return False
        return self.graph(status).runs_again(node_id)

    def graph_in_memory(self) -> RunGraph | None:
        """The DAG when it is whole in memory; None when reading it would read the run's history back from the store
        (a run back from leaving memory, or rebuilt from the store): a caller that can do without it saves a read."""
        return None if self._pending or self._stored_upto else self._graph

    def graph(self, status: str) -> RunGraph:
        """The DAG folded from the events (``status``: the run's, for a run whose history was just loaded)."""
        if self._pending:
            self._status = status
            self._load()
        elif self._stored_upto:
            self._complete()
        return self._graph

    def call_arguments(self, key: str) -> Any:
        """The arguments step ``key`` was called with, from the stored events (a ReplayMismatch shows them)."""
        for data in reversed(self._session.store.load_events(self._run_id)):
            kind = data.get("kind")
            if kind in ("node_started", "node_ran") and data.get("node_id") == key:
                return data.get("inputs")
            if kind == "service_call" and data.get("key") == key:
                return data.get("inputs")
            if kind == "channel_message" and data.get("message_id") == key and not data.get("update"):
                return data.get("content")
        return None

    @property
    def watched(self) -> bool:
        """Whether anything follows the events (a callback, or a queue other than a ``wait_for``'s)."""
        return bool(self.callbacks) or any(not isinstance(q, StatusWatch) for q in self.queues)

    # -- following the run ------------------------------------------------------------------------------------------
    async def until(self, reached: Callable[[], bool], timeout: float | None) -> None:
        """Return once ``reached()`` is true, checking after each event (never polling); ``reached`` may raise
        to give up. Raises TimeoutError after ``timeout`` seconds."""
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout >= 0
        ):
            raise UsageError(f"timeout= takes a number of seconds (0 or more) or None, got {shown(timeout)}")
        queue: asyncio.Queue[Event] = StatusWatch()
        self.queues.append(queue)

        async def watch() -> None:
            while not reached():
                await queue.get()

        try:
            await asyncio.wait_for(watch(), timeout)
        finally:
            self.queues.remove(queue)

    async def stream(self, *, live: bool) -> AsyncIterator[Event]:
        """Every event so far, then (``live``: the run executes in this process) new ones until it finishes."""
        queue: asyncio.Queue[Event] = asyncio.Queue()
        history = self.history
        if live:
            self.queues.append(queue)
        try:
            for event in history:
                yield event
            if not live or any(isinstance(e, RunFinished) and e.seq == self.seq for e in history[-1:]):
                return
            while True:
                event = await queue.get()
                yield event
                if isinstance(event, RunFinished):
                    return
        finally:
            if queue in self.queues:
                self.queues.remove(queue)
                owner = self._owner()
                if not self.watched and owner is not None:  # its last follower: a parked run may leave memory now
                    self._session.unwatched(owner)

    def close_nodes(self, status: str, message: str | None) -> None:
        """A finished run leaves no node running or waiting: nodes its last execution never reached (a wait of an
        earlier execution, a step the resumed body failed before) end CANCELLED, saying why — so the DAG never
        shows a live wait beside a finished run."""
        if self._pending:
            self._load()
        elif self._stored_upto and any(n not in self._graph for n in self._open_ids):
            self._complete()  # a node it had not ended when it left memory, and has not reached since
        self.flush_starts()
        reason = f"the run ended {status} before this node finished" + (f" ({message})" if message else "")
        for node in self._graph.nodes:
            if node.status in FINAL_NODE_STATUSES:
                continue
            self.emit(
                NodeFinished,
                node_id=node.id,
                status="CANCELLED",
                error={"type": "RunEnded", "message": reason, "traceback": ""},
            )

    # -- what the run reports ----------------------------------------------------------------------------------------
    def start_node(self, **fields: Any) -> None:
        """A node starts. Its ``NodeStarted`` is announced at the end of this loop turn, or before any other event
        of the run; a node that also finishes before then is one ``NodeRan`` event instead of two (a chain of
        trivial steps costs half the events, and the DAG still shows every step that waits as running)."""
        self.start_node_with(fields)

    def start_node_with(self, fields: dict[str, Any]) -> None:
        """:meth:`start_node` given its fields as one dict, which it takes over."""
        fields["ts"] = self._session.clock.now()
        self._starting[fields["node_id"]] = fields
        if self._announce is None and self._loop is not None:
            self._announce = self._loop.call_soon(self._announce_starts)

    def finish_node(self, node_id: str, status: str, **fields: Any) -> None:
        """A node ends: one ``NodeRan`` if its start was not announced yet, else a ``NodeFinished``."""
        self.finish_node_with(node_id, status, fields)

    def finish_node_with(self, node_id: str, status: str, fields: dict[str, Any]) -> None:
        """:meth:`finish_node` given its other fields as one dict, which it takes over."""
        started = self._starting.pop(node_id, None)
        if started is None:
            self.emit(NodeFinished, node_id=node_id, status=status, **fields)
            return
        started["started_at"] = started.pop("ts")
        started["replayed"] = bool(started.get("replayed", False) or fields.pop("replayed", False))
        started["status"] = status
        started.update(fields)
        self._emit_fields(NodeRan, started)

    def _announce_starts(self) -> None:
        self._announce = None
        self.flush_starts()

    def flush_starts(self) -> None:
        """Announce the nodes started but not yet announced, in order."""
        while self._starting:
            node_id = next(iter(self._starting))
            self._emit_now(NodeStarted, self._starting.pop(node_id))

    def emit(self, cls: type[Event], **fields: Any) -> None:
        """Create an event, fold it into the graph, persist it and hand it to every subscriber.

        Safe from any thread: off the loop's thread it hops onto the loop (keeping its timestamp).
        """
        self._emit_fields(cls, fields)

    def _emit_fields(self, cls: type[Event], fields: dict[str, Any]) -> None:
        """:meth:`emit` with the fields as one dict (``fields`` is taken over, not copied)."""
        if "ts" not in fields:
            fields["ts"] = self._session.clock.now()
        if self._thread is not None and threading.get_ident() != self._thread and self._loop is not None:
            if not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._emit_fields, cls, fields)
            return
        if self._starting:
            self.flush_starts()  # the nodes started before this event, in order
        self._emit_now(cls, fields)

    def _emit_now(self, cls: type[Event], fields: dict[str, Any]) -> None:
        if self._pending:
            self._load()  # sequence numbers continue from the stored history
        self.seq += 1
        event = make_event(cls, self._run_id, self.seq, fields)
        self._log.append(event)
        # A step replayed from the journal is told to the DAG and the subscribers, but written only when the
        # history does not already show it done: a run resumed after every restart (or each time it left memory)
        # would otherwise store its replayed steps again, its history growing by its step count per resume.
        # A step whose journal entry survived a crash that its events did not is still written, on its replay.
        # A replayed service call likewise (it is not a node: the DAG lists it on the node that made it).
        written = True
        if cls is NodeRan:
            written = not (fields.get("replayed") and self._done_before(fields["node_id"]))
        elif cls is ServiceCalled and fields.get("replayed"):
            written = not self._called_before(fields["node_id"], fields["key"])
        node = self._graph.apply(event)
        if written:
            self._session.store.record(self._run_id, event, node if isinstance(event, _NODE_EVENTS) else None)
        if self._holds:
            self._held.append(event)
        else:
            self._publish(event)

    def _done_before(self, node_id: str) -> bool:
        """Whether the history shows ``node_id`` done: the DAG (a run resumed after a restart loads the stored
        history with its first event) or, for a run that left memory and came back, the nodes done when it left."""
        graph = self._graph
        if node_id in graph and graph.node(node_id).status == "DONE":
            return True
        return self._done_parents is not None and node_id in self._done_parents

    def _called_before(self, node_id: str | None, key: str) -> bool:
        """Whether the history shows the service call ``key`` of ``node_id`` done (as :meth:`_done_before`)."""
        return self._graph.called(node_id, key) or (node_id, key) in self._done_calls

    def hold(self) -> None:
        """Hand out no event until :meth:`release`: they are still recorded, folded and stored in order.

        Why: a run that starts waiting records its status change in the same write as the wait (one durable
        write per pause), but must not *say* it waits before that write returns. Holding everything after it
        keeps subscribers seeing events in sequence order.
        """
        self._holds += 1

    def release(self) -> None:
        """End a :meth:`hold`; the last one hands out the held events, in order."""
        if self._holds != 1:
            self._holds = max(0, self._holds - 1)
            return
        try:
            while self._held:  # still held meanwhile: what a subscriber triggers comes after, in order
                self._publish(self._held.pop(0))
        finally:
            self._holds = 0
            rest, self._held = self._held, []
            for event in rest:
                self._publish(event)

    def _publish(self, event: Event) -> None:
        observers = self._session.event_observers
        owner = self._owner() if observers else None
        if owner is not None:  # (a run emitting is alive: its task or a step still running holds it)
            for observer in list(observers):
                observer(owner, event)
        for queue in self.queues:
            queue.put_nowait(event)
        if not self.callbacks:
            return
        failed: list[tuple[Callable[[Event], None], BaseException]] = []
        for callback in list(self.callbacks):
            try:
                callback(event)
            except (Exception, SystemExit) as error:  # an observer must never fail the run it watches: isolate it
                # (SystemExit too: raised here it went through the run's task and stopped the event loop, the
                # kernel's; a KeyboardInterrupt is the kernel's interrupt, which may land anywhere: it goes on)
                failed.append((callback, error))
        for callback, problem in failed:
            if callback in self.callbacks:
                self.callbacks.remove(callback)
            _log.warning("aether_nb: a subscriber of run %s raised; unsubscribed", self._run_id, exc_info=problem)
            self.emit(
                RunWarning,
                node_id=None,
                code="subscriber_failed",
                message=f"a subscriber of this run ({getattr(callback, '__qualname__', callback)!r}) raised "
                f"{type(problem).__name__}: {problem}; it was unsubscribed, the run goes on",
            )
