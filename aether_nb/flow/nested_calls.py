"""A compiled graph invoked from inside a node of a running graph (``other.invoke(...)`` in a node's code).

As in LangGraph, such a call is one of two things:

- a *subgraph of the calling task* (the usual case): it runs inside the node's step, its interrupts pause the
  parent, and its checkpoints live on the parent's thread under the task's namespace. Each such call in one
  task attempt gets its own namespace, in call order (``node``, then ``node|1``, ``node|2``...): two different
  ``compile(checkpointer=True)`` graphs invoked by one node keep two histories, where one shared namespace made
  the second graph read (and extend) the first one's messages.
- a *turn of its own* when the call's config names another ``thread_id``: the graph runs on that thread with its
  own checkpointer, as if called from the top level, so ``graph.get_state(that_config)`` sees it and its next
  call goes on from it (LangGraph's ``test_child_with_own_thread_id_keeps_namespace``).

A top-level call whose config names a subgraph's ``checkpoint_ns`` (a config taken from
``get_state(config, subgraphs=True).tasks[i].state.config``) is refused here: a turn runs the root graph from the
root's checkpoints, and using the subgraph's checkpoint id as the root's ran an unrelated checkpoint (or failed
with "thread has no checkpoint").
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aether_nb.errors import UsageError, shown
from aether_nb.flow.engine import Engine
from aether_nb.flow.streaming import Chunk, Sink
from aether_nb.flow.turns import state_or_none
from aether_nb.flow.types import InvokeResult

if TYPE_CHECKING:
    from aether_nb.flow.compiled import CompiledGraph
    from aether_nb.flow.nodes import NodeRun

_CALL_COUNTER = "__flow_graph_call"  # (a scope counter of its own: no journaled step is named so)


def runs_on_own_thread(graph: CompiledGraph, config: Mapping[str, Any] | None, parent: Engine) -> bool:
    """Whether a call made inside a node of ``parent``'s graph is a turn of its own: its config names a thread
    other than the parent's (the node's own config, passed on, names the parent's thread: a subgraph call)."""
    if not config:
        return False
    thread_id = graph.parse_config(config)[0]
    configurable = config.get("configurable")
    named = config.get("thread_id") is not None or (
        isinstance(configurable, Mapping) and configurable.get("thread_id") is not None
    )
    return named and thread_id != parent.thread_id


def call_namespace(node_run: NodeRun) -> str:
    """The namespace label of the next graph call in this task attempt: the task's own label for the first,
    ``<label>|<n>`` for the n-th after it, as LangGraph numbers a task's nested graph calls. The count is the
    attempt scope's, so a re-run of the node (a resume, a retry) numbers its calls the same way again."""
    label = node_run.ns_label or node_run.node
    key = node_run.scope.next_key(_CALL_COUNTER)  # "<prefix><name>_<n>", n from 1 in this scope
    n = int(key.rsplit("_", 1)[1]) - 1
    return label if n == 0 else f"{label}|{n}"


def check_root_namespace(
    graph: CompiledGraph, config: Mapping[str, Any] | None
) -> tuple[str, dict[str, Any], int | None, str] | None:
    """Refuse a top-level call whose config names a subgraph's namespace (see the module docstring). Returns the
    parsed config (``CompiledGraph.parse_config``), which the call goes on with instead of parsing it again; None
    for no config.

    Raises:
        UsageError: ``config["configurable"]["checkpoint_ns"]`` is not empty.
    """
    if not config:
        return None
    parsed = graph.parse_config(config)
    ns = parsed[3]
    if ns:
        raise UsageError(
            f"config names checkpoint_ns {shown(ns)}: a call to graph {shown(graph.name)} runs the whole graph from "
            "its own checkpoints, not from a subgraph's. To go back in time, pass a config of the graph itself "
            "(get_state_history(config) lists them; drop checkpoint_ns); to read or edit the subgraph's state, "
            "use get_state / update_state with this config",
            code="subgraph_config",
        )
    return parsed


async def invoke_inside_node(
    graph: CompiledGraph,
    input: Any,
    config: Mapping[str, Any] | None,
    parent: Engine,
    node_run: NodeRun,
    context: Any,
) -> Any:
    """``graph`` invoked from inside a node of a running graph, on the parent's thread: it runs as that task's
    subgraph (its tasks are steps of the node, its interrupts pause the parent), as LangGraph runs a graph called
    in a node."""
    engine = _nested_engine(graph, input, config, parent, node_run, context)
    values = await _run(engine, node_run)
    if graph.spec.kind == "root":
        return graph.spec.output(values)
    return InvokeResult(
        graph.spec.output(values),
        status="completed",
        state=state_or_none(graph, values),
        messages=[],
        interrupts=[],
        thread_id=parent.thread_id,
        run_id=parent.run.id,
        all_values=graph.spec.visible(values),
    )


def _nested_engine(
    graph: CompiledGraph, input: Any, config: Mapping[str, Any] | None, parent: Engine, node_run: NodeRun, context: Any
) -> Engine:
    cfg = graph.parse_config(config)[1] if config else {}
    keys = graph.spec.input_keys
    if isinstance(input, Mapping) and keys is not None:
        input = {k: v for k, v in input.items() if k in keys}  # a parent's state: this graph takes its own keys
    return Engine(
        graph,
        node_run.scope,
        {"thread_id": parent.thread_id, "input": input, "config": {**parent.config, **cfg}},
        parent=parent,
        node=call_namespace(node_run),
        context=context,
        parent_task=node_run.tid,
    )


async def _run(engine: Engine, node_run: NodeRun) -> Any:
    if node_run.busy is not None:
        with node_run.busy.released():
            return await engine.main()
    return await engine.main()


async def stream_inside_node(
    graph: CompiledGraph,
    input: Any,
    config: Mapping[str, Any] | None,
    parent: Engine,
    node_run: NodeRun,
    context: Any,
    modes: Sequence[str],
    subgraphs: bool,
    output_keys: str | Sequence[str] | None,
) -> AsyncIterator[Chunk]:
    """``graph`` streamed from inside a node (``inner.stream(...)``/``astream``): it runs as
    :func:`invoke_inside_node` runs it, a subgraph of the calling task, and its chunks go both to this caller
    (as a top-level stream of it would give them) and, under the task's namespace, to a stream of the turn with
    ``subgraphs=True`` (LangGraph's ``(('node',), chunk)``)."""
    queue: asyncio.Queue[Chunk] = asyncio.Queue()
    engine = _nested_engine(graph, input, config, parent, node_run, context)
    engine.local_sink = Sink(modes, subgraphs, queue.put_nowait, output_keys, config)
    task = asyncio.ensure_future(_run(engine, node_run))
    try:
        while True:
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                yield getter.result()
                continue
            getter.cancel()
            while not queue.empty():
                yield queue.get_nowait()
            task.result()
            return
    finally:
        if not task.done():
            task.cancel()
            await asyncio.wait({task})
