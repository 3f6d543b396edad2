"""What ``astream`` yields for LangGraph's ``"tasks"`` and ``"checkpoints"`` modes, and the sink chunks go through.

The payloads have LangGraph's shapes (its ``map_debug_tasks``/``map_debug_task_results``/``map_debug_checkpoint``):

* a task starting: ``{"id", "name", "input", "triggers"}`` (``triggers`` is ``("branch:to:<node>",)`` for a node
  an edge started, ``("__pregel_push",)`` for a ``Send``), plus ``"metadata"`` when the call's config has
  metadata or tags (:func:`task_start_metadata`);
* a task finished: ``{"id", "name", "error", "result", "interrupts"}`` (``result`` maps each written key to its
  value, ``{"$writes": [...]}`` when a task wrote a key several times; ``interrupts`` lists ``{"value", "id"}``);
* a checkpoint written: ``{"config", "parent_config", "values", "metadata", "next", "tasks"}``, each task
  ``{"id", "name", "interrupts", "state"}`` plus ``result`` or ``error`` when it has one.

Ids are aether_nb's (task ids are node names, ``node#i`` for Sends; checkpoint ids are sequence numbers). The
payloads are built only when a stream asks for their mode, so a turn nobody streams pays nothing for them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any, cast

from aether_nb.flow.checkpoint import Checkpoint, checkpoint_id_str, task_id
from aether_nb.flow.checkpoint_metadata import LANGGRAPH_METADATA_KEYS
from aether_nb.flow.state import ROOT, StateSpec
from aether_nb.flow.threads import config_of, metadata_of_checkpoint, snapshot
from aether_nb.flow.types import START, Interrupt

if TYPE_CHECKING:
    from aether_nb.flow.compiled import CompiledGraph
    from aether_nb.flow.engine import Engine
    from aether_nb.flow.model_stream import TaskStreams
    from aether_nb.flow.tasks import Task

Chunk = tuple[str, Any, tuple[str, ...]]
PUSH_TRIGGER = "__pregel_push"
PULL_PATH = "__pregel_pull"


class Sink:
    """Where one ``astream`` call wants a turn's chunks: ``sink(mode, payload, namespace)`` queues a chunk if the
    stream asked for that mode (and, for a subgraph's chunk, for ``subgraphs=True``)."""

    def __init__(
        self,
        modes: Iterable[str],
        subgraphs: bool,
        put: Callable[[Chunk], None],
        output_keys: str | Sequence[str] | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self.modes = frozenset(modes)
        self.task_metadata = task_start_metadata(config) if "tasks" in self.modes else None
        self.subgraphs = subgraphs
        self._put = put
        # stream(..., output_keys=...): a superstep's values chunk only when it wrote one of them, as LangGraph's
        self.output_keys = (
            None if output_keys is None else {output_keys} if isinstance(output_keys, str) else set(output_keys)
        )
        self._demand = asyncio.Event()  # the reader took every chunk and waits for the next
        self.asked: set[str] = set()  # interrupts streamed as their task asked (not again when the turn pauses)
        self.resumed: set[tuple[str, ...]] = set()  # subgraphs whose state this call streamed as they resumed
        # ids of the messages this call streamed or a streamed task received: not streamed (again) when a task
        # returns them, as LangGraph's StreamMessagesHandler
        self.seen_messages: set[str] = set()
        # the step of each running task -> where its model streams go (aether_nb.flow.model_stream)
        self.model_streams: dict[str, TaskStreams] = {}

    def wants(self, mode: str, ns: tuple[str, ...] = ()) -> bool:
        return mode in self.modes and (self.subgraphs or not ns)

    def __call__(
        self,
        mode: str,
        payload: Any,
        ns: tuple[str, ...] = (),
        written: Iterable[str] | None = None,
        keys: AbstractSet[str] | None = None,
    ) -> None:
        """Queue a chunk. As LangGraph's, ``values`` and ``updates`` chunks show only the graph's stream keys: at
        the root the call's ``output_keys`` (every key without them), in a subgraph's namespace ``keys`` (its
        output schema's, as the parent invokes it); a superstep that ``written`` none of them streams no values."""
        if not self.wants(mode, ns):
            return
        keys = keys if ns else self.output_keys
        if keys is not None and mode == "values":
            if written is not None and keys.isdisjoint(written):
                return
            payload = _only(payload, keys)
        elif keys is not None and mode == "updates" and isinstance(payload, Mapping):
            payload = {n: u if n in _MARKERS else _update_only(u, keys) for n, u in payload.items()}
        elif mode == "tasks" and self.task_metadata and isinstance(payload, Mapping) and "input" in payload:
            payload = {**payload, "metadata": dict(self.task_metadata)}
        self._put((mode, payload, ns))
        self._demand.clear()

    def ask(self) -> None:
        """The reader took every chunk so far and waits for more."""
        self._demand.set()

    def release(self) -> None:
        """The turn no longer streams to this reader (it returned, or was stopped because the reader left)."""
        self._demand.set()

    async def demanded(self) -> None:
        """Return once the reader wants more, as LangGraph's stream, which runs a superstep only when asked for
        the next chunk: a reader that stops early (``break``) leaves no superstep run past the chunks it took."""
        await self._demand.wait()


class FanOut(Sink):
    """The sink of an engine whose chunks also go to the code streaming a graph inside a node
    (``inner.stream(...)`` in a node's code, :mod:`aether_nb.flow.nested_calls`): each chunk goes to the turn's
    own sink (``root``, None when nobody streams the turn) under its full namespace, and to each such caller's sink
    (``locals``: ``(sink, depth)``, depth being the namespace length of the graph it streams) under the
    namespace below that graph, so the caller sees the graph's chunks as a top-level stream of it would. What the
    sinks remember (messages seen, questions streamed) is the root's, else the innermost caller's."""

    def __init__(self, root: Sink | None, locals: Sequence[tuple[Sink, int]]) -> None:
        main = root if root is not None else locals[0][0]
        self.modes = frozenset().union(*(s.modes for s, _ in locals), root.modes if root is not None else ())
        self.task_metadata = main.task_metadata
        self.subgraphs = main.subgraphs
        self.output_keys = main.output_keys
        self.asked, self.resumed = main.asked, main.resumed
        self.seen_messages, self.model_streams = main.seen_messages, main.model_streams
        self.root = root
        self.locals = list(locals)

    def wants(self, mode: str, ns: tuple[str, ...] = ()) -> bool:
        if self.root is not None and self.root.wants(mode, ns):
            return True
        return any(len(ns) >= depth and s.wants(mode, ns[depth:]) for s, depth in self.locals)

    def __call__(
        self,
        mode: str,
        payload: Any,
        ns: tuple[str, ...] = (),
        written: Iterable[str] | None = None,
        keys: AbstractSet[str] | None = None,
    ) -> None:
        if self.root is not None:
            self.root(mode, payload, ns, written, keys)
        for s, depth in self.locals:
            if len(ns) >= depth:
                s(mode, payload, ns[depth:], written, keys)

    def ask(self) -> None:
        if self.root is not None:
            self.root.ask()

    def release(self) -> None:
        if self.root is not None:
            self.root.release()

    async def demanded(self) -> None:
        """The turn's reader paces the supersteps (a caller streaming inside a node reads from a queue)."""
        if self.root is not None:
            await self.root.demanded()


_MARKERS = ("__interrupt__", "__metadata__")


def _only(values: Any, keys: AbstractSet[str]) -> Any:
    """A values chunk with only ``keys`` (and a pause's ``__interrupt__``)."""
    if not isinstance(values, Mapping):
        return values
    return {k: v for k, v in values.items() if k in keys or k == "__interrupt__"}


def _update_only(update: Any, keys: AbstractSet[str]) -> Any:
    """A task's update with only its writes to ``keys`` (None without any), as LangGraph's ``updates`` chunk."""
    if isinstance(update, Mapping):
        pairs = list(update.items())
    elif isinstance(update, list) and all(isinstance(u, Mapping) and len(u) == 1 for u in update):
        pairs = [next(iter(u.items())) for u in update]  # (a key written several times: one dict per write)
    else:
        return update  # (a single-value state's value)
    pairs = [(k, v) for k, v in pairs if k in keys]
    if not pairs:
        return None
    names = [k for k, _ in pairs]
    return [{k: v} for k, v in pairs] if len(set(names)) < len(names) else dict(pairs)


def task_start(tid: str, node: str, input: Any, push: bool) -> dict[str, Any]:
    """The ``"tasks"`` chunk of a task that starts."""
    return {"id": tid, "name": node, "input": input, "triggers": task_triggers(node, push)}


def task_start_metadata(config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """LangGraph's ``metadata`` of a task-start chunk: the call's ``config["metadata"]`` without LangGraph's own
    keys (``thread_id``, ``langgraph_*``, ...: the chunk says them already) plus the config's ``tags`` (but
    LangGraph's internal ``seq:step:*`` ones); None when that leaves nothing, as LangGraph then has no key."""
    if not config:
        return None
    extra = config.get("metadata")
    meta = {k: v for k, v in extra.items() if k not in LANGGRAPH_METADATA_KEYS} if isinstance(extra, Mapping) else {}
    tags = config.get("tags")
    kept = (
        [t for t in tags if not (isinstance(t, str) and t.startswith("seq:step"))]
        if isinstance(tags, (list, tuple))
        else []
    )
    if kept:
        meta["tags"] = kept
    return meta or None


def task_triggers(node: str, push: bool) -> tuple[str, ...]:
    """LangGraph's ``triggers`` of a task (in its ``tasks`` chunks and its ``langgraph_triggers`` metadata)."""
    return (PUSH_TRIGGER,) if push else (f"branch:to:{node}",)


def task_path(tid: str, node: str, push: bool) -> tuple[Any, ...]:
    """LangGraph's ``langgraph_path`` of a task: ``("__pregel_pull", node)``, or ``("__pregel_push", i, False)``
    for the i-th Send of its superstep (whose id is ``node#i``)."""
    if not push:
        return (PULL_PATH, node)
    index = tid.rpartition("#")[2]
    return (PUSH_TRIGGER, int(index) if index.isdigit() else index, False)


def result_of(writes: Sequence[tuple[str, Any]]) -> Any:
    """A task's writes as LangGraph's task result: ``{key: value}``, ``{key: {"$writes": [...]}}`` for repeats."""
    out: dict[str, Any] = {}
    for key, value in writes:
        if key in out:
            prior = out[key]
            many = prior["$writes"] if isinstance(prior, dict) and isinstance(prior.get("$writes"), list) else [prior]
            out[key] = {"$writes": [*many, value]}
        else:
            out[key] = value
    if set(out) == {ROOT}:
        return out[ROOT]  # a single-value state: the value itself
    return out


def update_of(spec: StateSpec, writes: Sequence[tuple[str, Any]]) -> Any:
    """A task's writes as its ``updates`` chunk shows them: ``{key: value}`` (a list of one-key dicts when a
    key repeats; the value itself for a single-value state; None for no write)."""
    if not writes:
        return None
    if spec.kind == "root":
        return writes[0][1] if len(writes) == 1 else [v for _, v in writes]
    keys = [k for k, _ in writes]
    return [{k: v} for k, v in writes] if len(set(keys)) < len(keys) else dict(writes)


def cached_update(spec: StateSpec, node: str, writes: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """The ``updates`` chunk of a task answered from the node cache: its update marked ``cached``. It is all such
    a task streams, as LangGraph's (its loop streams a cache hit's writes with ``cached=True`` and, for them, no
    ``tasks`` result nor messages: the node did not run)."""
    return {node: update_of(spec, writes), "__metadata__": {"cached": True}}


def interrupt_dict(interrupt: Interrupt) -> dict[str, Any]:
    return {"value": interrupt.value, "id": interrupt.id}


def task_result(
    tid: str,
    node: str,
    writes: Sequence[tuple[str, Any]],
    *,
    error: BaseException | None = None,
    interrupts: Sequence[Interrupt] = (),
) -> dict[str, Any]:
    """The ``"tasks"`` chunk of a task that finished, failed, or paused at ``interrupt()``."""
    return {
        "id": tid,
        "name": node,
        "error": error,
        "result": result_of(writes),
        "interrupts": [interrupt_dict(i) for i in interrupts],
    }


def checkpoint_payload(graph: CompiledGraph, thread_id: str, ns: str, cp: Checkpoint) -> dict[str, Any]:
    """The ``"checkpoints"`` chunk of checkpoint ``cp`` (its tasks with the results, errors and interrupts known
    so far)."""
    snap = snapshot(graph, thread_id, ns, cp, run=None, is_head=False, as_added=False)
    parent: dict[str, Any] | None = None
    if cp.parent is not None:
        parent = config_of(thread_id, ns, None)
        parent["configurable"]["checkpoint_id"] = checkpoint_id_str(cp.parent)
    tasks: list[dict[str, Any]] = []
    for t in snap.tasks:
        item: dict[str, Any] = {"id": t.id, "name": t.name}
        if t.error:
            item["error"] = t.error
        else:
            if t.result and t.name != START:  # (an input checkpoint's input is written after it, as LangGraph's)
                item["result"] = t.result
            item["interrupts"] = tuple(interrupt_dict(i) for i in t.interrupts)
        item["state"] = t.state
        tasks.append(item)
    return {
        "config": config_of(thread_id, ns, cp),
        "parent_config": parent,
        "values": graph.spec.visible(cp.values),
        "metadata": metadata_of_checkpoint(cp),
        "next": [t["node"] for t in cp.tasks],
        "tasks": tasks,
    }


def head_task_starts(cp: Checkpoint) -> list[tuple[str, dict[str, Any]]]:
    """``(task id, "tasks" chunk)`` for every task of a checkpoint (a resumed superstep, announced again as in
    LangGraph)."""
    out = []
    for i, t in enumerate(cp.tasks):
        tid = task_id(t, i)
        push = "send" in t
        out.append((tid, task_start(tid, t["node"], t["send"] if push else cp.values, push)))
    return out


def announce_tasks(engine: Engine, tasks: list[Task], values: dict[str, Any]) -> None:
    """Stream the start of the tasks that run now (not those a resumed run replays from its journal, nor
    those the resuming call announced already: the first superstep that runs anything is the one it announced,
    so a superstep replayed whole before it leaves that note alone)."""
    journal = engine.scope.execution.journal
    fresh = [t for t in tasks if t.pending is None and t.key not in journal]
    if not fresh:
        return
    announced = engine.graph.announced.pop(engine.run.id, set()) if engine.parent is None else set()
    for t in fresh:
        if t.tid not in announced:
            engine.emit("tasks", task_start(t.tid, t.node, t.arg if t.push else values, t.push))


def drive_on(
    loop: asyncio.AbstractEventLoop, context: contextvars.Context, chunks: AsyncIterator[Any]
) -> Iterator[Any]:
    """Iterate an async iterator from a sync node's worker thread, one chunk at a time, on the event loop running
    the node's turn (``loop``, as a sync node's ``invoke`` runs there) and in the node's ``context`` (so the
    iterator sees the node it runs in); stopping early closes the iterator."""
    agen = cast("AsyncGenerator[Any, None]", chunks)
    try:
        while True:
            try:
                chunk = _run_on(loop, context, agen.__anext__)
            except StopAsyncIteration:
                return
            yield chunk
    finally:
        _run_on(loop, context, agen.aclose)


def _run_on(loop: asyncio.AbstractEventLoop, context: contextvars.Context, make: Callable[[], Any]) -> Any:
    """Run the coroutine ``make()`` as a task of ``loop`` in ``context`` and wait for its result (from another
    thread)."""
    result: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def start() -> None:
        task = loop.create_task(make(), context=context)

        def done(t: asyncio.Task[Any]) -> None:
            if t.cancelled():
                result.cancel()
            elif t.exception() is not None:
                result.set_exception(cast(BaseException, t.exception()))
            else:
                result.set_result(t.result())

        task.add_done_callback(done)

    loop.call_soon_threadsafe(start)
    return result.result()


def drive(chunks: AsyncIterator[Any]) -> Iterator[Any]:
    """Iterate an async iterator from sync code, one chunk at a time, on an event loop of its own (closed, with
    the iterator, when the caller stops early)."""
    agen = cast("AsyncGenerator[Any, None]", chunks)
    with asyncio.Runner() as runner:
        try:
            while True:
                try:
                    chunk = runner.run(agen.__anext__())
                except StopAsyncIteration:
                    return
                yield chunk
        finally:
            runner.run(agen.aclose())
