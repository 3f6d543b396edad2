"""What a running graph streams: the chunks an engine hands to the ``astream`` call reading its turn.

Mixed into :class:`~aether_nb.flow.engine.Engine`. Every chunk goes through the turn's
:class:`~aether_nb.flow.streaming.Sink` (there is none when nobody streams the turn: then nothing is built), with
the engine's namespace (a subgraph's chunks carry its path, for ``subgraphs=True``). The order follows
LangGraph's: per finished task its messages, its update, then its ``tasks`` result; per task that asks, its
``__interrupt__`` update, the state its superstep started from, then its result — under the namespace of every
subgraph the question pauses, innermost first; a subgraph going on after a pause streams its state, checkpoint and
tasks again, outermost first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from aether_nb.flow.error_handlers import handler_node
from aether_nb.flow.model_stream import TaskStreams, name_streamed
from aether_nb.flow.streaming import (
    FanOut,
    Sink,
    checkpoint_payload,
    task_path,
    task_result,
    task_start,
    task_triggers,
    update_of,
)
from aether_nb.flow.types import Overwrite

if TYPE_CHECKING:
    from aether_nb.flow.checkpoint import Checkpoint, Checkpointer
    from aether_nb.flow.compiled import CompiledGraph
    from aether_nb.flow.engine import Engine
    from aether_nb.flow.state import Write
    from aether_nb.flow.tasks import Task
    from aether_nb.flow.types import Interrupt
    from aether_nb.runtime.execution import Scope, StepHost


class Emitter:
    """The streaming half of an :class:`~aether_nb.flow.engine.Engine`: what it reads of the engine is declared
    here, the engine sets it."""

    graph: CompiledGraph
    run: StepHost
    scope: Scope
    parent: Engine | None
    stream_ns: tuple[str, ...]
    thread_id: str
    config: dict[str, Any]
    ns: str
    thread: str
    checkpointer: Checkpointer
    step_tasks: list[Task]
    latest_values: Callable[[], dict[str, Any]]
    current_head: Callable[[], Checkpoint | None]
    # a graph streamed inside a node (inner.stream(...) in its code): where its caller reads the chunks
    # (set by aether_nb.flow.nested_calls; the chunks of this engine and of those below it go there too)
    local_sink: Sink | None = None

    @property
    def root(self) -> Engine:
        raise NotImplementedError  # the engine's (Engine.root)

    @property
    def sink(self) -> Sink | None:
        if self.parent is None and self.local_sink is None:  # a turn's own graph (read several times a task)
            sinks = self.graph.sinks
            return sinks.get(self.run.id) if sinks else None
        sinks = self.root.graph.sinks
        root_sink = sinks.get(self.run.id) if sinks else None  # (a subgraph runs in its root's run)
        locals: list[tuple[Sink, int]] = []
        level: Emitter | None = self
        while level is not None:
            if level.local_sink is not None:
                locals.append((level.local_sink, len(level.stream_ns)))
            level = level.parent
        return FanOut(root_sink, locals) if locals else root_sink

    @property
    def stream_keys(self) -> frozenset[str] | None:
        """The keys a subgraph's ``values`` and ``updates`` chunks show: its output schema's (the state schema's
        by default, without private keys), as LangGraph's, which invokes a subgraph for its output channels."""
        keys = self.graph.spec.output_keys
        return None if keys is None or self.graph.spec.kind == "root" else frozenset(keys)

    def emit(self, mode: str, payload: Any, written: Iterable[str] | None = None) -> None:
        sink = self.sink
        if sink is not None:
            sink(mode, payload, self.stream_ns, written, self.stream_keys)

    def wants(self, mode: str) -> bool:
        """Whether a stream takes this engine's chunks of ``mode`` (payloads are built only then)."""
        sink = self.sink
        return sink is not None and sink.wants(mode, self.stream_ns)

    def put_checkpoint(self, cp: Checkpoint, *, stream: bool = True) -> Checkpoint:
        """Write a checkpoint of this engine's thread (and stream it to ``stream_mode="checkpoints"``, unless the
        caller streams it later)."""
        cp = self.checkpointer.put(self.thread, cp)
        if stream:
            sink = self.sink  # (wants(), inline: every superstep comes here)
            if sink is not None and sink.wants("checkpoints", self.stream_ns):
                self.emit("checkpoints", checkpoint_payload(self.graph, self.thread_id, self.ns, cp))
        return cp

    def emit_task_result(
        self, task: Task, writes: list[Write], *, error: BaseException | None = None, interrupts: Any = ()
    ) -> None:
        if self.wants("tasks"):
            self.emit("tasks", task_result(task.tid, task.node, writes, error=error, interrupts=interrupts))

    def stream_interrupt(self, task: Task, asked: Interrupt) -> None:
        """``task`` asks: stream its ``__interrupt__`` update, the state its superstep started from with it, and
        its ``tasks`` result now, as LangGraph does as each task asks. A subgraph's question streams so under the
        namespace of each subgraph it pauses, innermost first (each level's task that runs the subgraph); at the
        root it comes when the turn pauses."""
        sink = self.sink
        if sink is None:
            return
        if self.parent is None:
            sink.asked.add(asked.id)
        level: Emitter | None = self
        level_task: Task | None = task
        while level is not None and level_task is not None:
            level._stream_asked(sink, asked)
            level.emit_task_result(level_task, [], interrupts=[asked])
            if level.parent is None or level.parent.parent is None:
                return
            level_task = level.parent.task_at(level.scope.node_id)
            level = level.parent

    def task_at(self, key: str | None) -> Task | None:
        """The task of the current superstep running as step ``key`` (a subgraph's engine runs in its step)."""
        return next((t for t in self.step_tasks if t.key == key), None) if key else None

    def _stream_asked(self, sink: Sink, asked: Interrupt) -> None:
        ns = self.stream_ns
        sink("updates", {"__interrupt__": (asked,)}, ns)
        if sink.wants("values", ns):
            before = self.graph.spec.visible(self.latest_values())
            sink(
                "values",
                {**before, "__interrupt__": (asked,)} if isinstance(before, Mapping) else {"__interrupt__": (asked,)},
                ns,
                keys=self.stream_keys,
            )

    def stream_resumed(self) -> None:
        """A task of this subgraph goes on with its answers: stream, once per call, the state each subgraph level
        goes on from and the start of its superstep's tasks, outermost first, as LangGraph's subgraphs do when
        they start again from their checkpoints (the root's come from the resuming call)."""
        sink = self.sink
        if sink is None or self.parent is None:
            return
        chain: list[Emitter] = []
        engine: Emitter | None = self
        while engine is not None and engine.parent is not None:
            chain.append(engine)
            engine = engine.parent
        for level in reversed(chain):
            level.stream_going_on(sink)

    def stream_going_on(self, sink: Sink, values: Mapping[str, Any] | None = None) -> bool:
        """(A subgraph) stream, once per call, the state this graph goes on from, its checkpoint and its
        superstep's tasks; whether it did."""
        ns = self.stream_ns
        if ns in sink.resumed:
            return False
        sink.resumed.add(ns)
        if not any(sink.wants(mode, ns) for mode in ("values", "checkpoints", "tasks")):
            return True
        if values is None:
            values = self.latest_values()
        sink("values", self.graph.spec.visible(values), ns, keys=self.stream_keys)
        head = self.current_head() if sink.wants("checkpoints", ns) else None
        if head is not None:
            sink("checkpoints", checkpoint_payload(self.graph, self.thread_id, self.ns, head), ns)
        for t in self.step_tasks:
            if t.pending is None:
                sink("tasks", task_start(t.tid, t.node, t.arg if t.push else values, t.push), ns)
        return True

    def stream_writer(self, node: str) -> Callable[[Any], None] | None:
        if self.sink is None:
            return None
        return lambda value: self.emit("custom", value)

    def task_metadata(self, node: str, step: int, task: Task | None = None) -> dict[str, Any]:
        """A node's ``config["metadata"]``, also the metadata of its ``messages`` chunks, as LangGraph's: the
        call's ``config["metadata"]``, the thread, and where the task runs (``langgraph_*`` keys and, in a
        subgraph, ``checkpoint_ns``), so callbacks and stream readers can tell tasks apart. Namespaces are
        aether_nb's (node names, without task ids)."""
        extra = self.config.get("metadata")
        meta: dict[str, Any] = dict(extra) if isinstance(extra, Mapping) else {}
        meta.update(thread_id=self.thread_id, langgraph_step=step, langgraph_node=node)
        if task is not None:
            meta["langgraph_triggers"] = task_triggers(node, task.push)
            meta["langgraph_path"] = task_path(task.tid, node, task.push)
        meta["langgraph_checkpoint_ns"] = f"{self.ns}|{node}" if self.ns else node
        if self.ns:
            meta["checkpoint_ns"] = self.ns
        return meta

    def on_task_start(self, task: Task, input: Any, step_id: str | None = None, step: int = 0) -> None:
        """Note the messages a task receives (its state, or its Send's argument): when it returns them they are
        not streamed again, as in LangGraph (a node returning the whole list streams only its new messages; a
        subgraph node, only those its subgraph added and did not stream itself). And note where the task's step
        (``step_id``) is, so the deltas of a model it streams go out as its chunks (see model_stream)."""
        sink = self.sink
        if sink is None or not sink.wants("messages"):
            return
        shown = sink.wants("messages", self.stream_ns)
        if step_id:  # (a subgraph's task not shown still claims its streams: they are not its parent task's)
            meta = self.task_metadata(task.node, step, task) if shown else {}
            sink.model_streams[step_id] = TaskStreams(meta, self.stream_ns, shown)
        if not shown or not isinstance(input, Mapping):
            return
        for k, v in input.items():
            if self.graph.spec.is_messages(k):
                for msg in v if isinstance(v, list) else [v]:
                    if isinstance(msg, Mapping) and isinstance(msg.get("id"), str):
                        sink.seen_messages.add(msg["id"])

    def name_streamed(self, step_id: str | None, writes: list[Write]) -> list[Write]:
        """A task's writes (as its node returned them) once it returned: an assistant message without an id whose
        text is that of a model stream the task finished gets that stream's id, so the message its deltas made is
        not streamed again in full (LangGraph's rule for a message streamed as chunks). Only when a call
        streams ``messages`` (nobody else sees the deltas); the writes are then journaled with that id."""
        sink = self.sink
        streams = sink.model_streams.pop(step_id, None) if sink is not None and step_id else None
        if sink is None or streams is None or not streams.finished:
            return writes
        out: list[Write] = []
        for k, v in writes:
            if self.graph.spec.is_messages(k) and isinstance(v, list):
                v = [name_streamed(m, streams.finished, sink.seen_messages) for m in v]
            elif self.graph.spec.is_messages(k) and not isinstance(v, Overwrite):
                v = name_streamed(v, streams.finished, sink.seen_messages)
            out.append((k, v))
        return out

    def handler_task(self, task: Task) -> tuple[str, str]:
        """``(id, name)`` of the error handler of ``task`` as a ``tasks`` chunk shows it: LangGraph's node name
        (:mod:`aether_nb.flow.error_handlers`), an id of its own."""
        name = handler_node(task.node, task.node in self.graph.builder.default_handled)
        return f"{task.tid}:{name}", name

    def on_handler_start(self, task: Task, error: BaseException) -> None:
        """``task`` failed (its retries spent) and its error handler runs now: stream the failed attempt's
        ``tasks`` result with the node's error, as LangGraph does before its handler runs."""
        self.emit_task_result(task, [], error=error)

    def on_handler_failed(self, task: Task, error: BaseException) -> None:
        """The error handler of ``task`` raised ``error``: its ``tasks`` result, as LangGraph's handler task."""
        if self.wants("tasks"):
            tid, name = self.handler_task(task)
            self.emit("tasks", task_result(tid, name, [], error=error))

    def on_task_done(self, task: Task, writes: list[Write], step: int, *, handled: bool = False) -> None:
        """Stream a finished task's messages, update and result (in the order tasks finish, and in this order,
        as LangGraph does; a task answered from the node cache streams its update only: see
        :func:`~aether_nb.flow.streaming.cached_update`). A
        message streamed already, or given to the task (:meth:`on_task_start`), is not streamed. A task whose
        error handler returned (``handled``) streams its result as the handler's task (LangGraph's name), its
        update under the node's name (README: differences)."""
        sink = self.sink
        if sink is None:
            return
        if sink.wants("messages", self.stream_ns):
            meta: dict[str, Any] | None = None
            for k, v in writes:
                if not self.graph.spec.is_messages(k):
                    continue
                v = v.value if isinstance(v, Overwrite) else v
                for msg in v if isinstance(v, list) else [v]:
                    mid = msg.get("id") if isinstance(msg, Mapping) else None
                    if isinstance(mid, str):
                        if mid in sink.seen_messages:
                            continue
                        sink.seen_messages.add(mid)
                    meta = meta if meta is not None else self.task_metadata(task.node, step, task)
                    self.emit("messages", (msg, dict(meta)))
        update = update_of(self.graph.spec, writes)
        self.emit("updates", {task.node: update})
        if handled:
            if self.wants("tasks"):
                tid, name = self.handler_task(task)
                self.emit("tasks", task_result(tid, name, writes))
            return
        self.emit_task_result(task, writes)
