"""A thread's checkpoints as users see them, with LangGraph's semantics: ``get_state(config)`` is the thread's head
(or the checkpoint ``config`` names), with its pending tasks, their errors and interrupts, and what the thread's
run is doing now; ``get_state_history`` lists its checkpoints. Edits (``update_state``) are
:mod:`aether_nb.flow.edits`.

:class:`~aether_nb.flow.compiled.CompiledGraph`'s ``get_state`` and ``get_state_history`` are the functions at the
end of this module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aether_nb.errors import UsageError, shown
from aether_nb.flow.checkpoint import (
    Checkpoint,
    Checkpointer,
    checkpoint_id_str,
    task_id,
    thread_key,
)
from aether_nb.flow.default_names import warn_if_moved
from aether_nb.flow.ledger import STOPPED_ERROR
from aether_nb.flow.state import writes_of
from aether_nb.flow.types import (
    START,
    Interrupt,
    PregelTask,
    StateSnapshot,
)

if TYPE_CHECKING:
    from aether_nb.flow.compiled import CompiledGraph
    from aether_nb.runtime.run import Run

PULL = "__pregel_pull"
PUSH = "__pregel_push"
COPY = "__copy__"
INPUT = "__input__"


def config_of(thread_id: str, ns: str, cp: Checkpoint | None) -> dict[str, Any]:
    configurable: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ns}
    if cp is not None:
        configurable["checkpoint_id"] = checkpoint_id_str(cp.id)
    return {"configurable": configurable}


def snapshot(
    graph: CompiledGraph,
    thread_id: str,
    ns: str,
    cp: Checkpoint | None,
    *,
    run: Run | None,
    is_head: bool,
    subgraphs: bool = False,
    cker: Checkpointer | None = None,
    applied: bool = True,
    as_added: bool = True,
) -> StateSnapshot:
    """The :class:`StateSnapshot` of one checkpoint (``cp`` None: a thread without checkpoints). ``graph`` is the
    graph at ``ns`` (a subgraph's own), ``cker`` the root graph's checkpointer, which holds every namespace. With
    ``applied`` (``get_state`` of the thread's head, as LangGraph's) the results of the tasks that finished while
    a sibling paused or failed are in the values and out of ``next``; else (the history, a checkpoint named by
    id) the values are the checkpoint's and ``next`` lists all its tasks, their results on the tasks. ``as_added``:
    tasks listed as LangGraph's ``get_state`` lists them (Sends, then nodes in the order the graph added them); else
    as the superstep runs them (Sends, then nodes by name), as LangGraph's streamed checkpoints."""
    if cp is None:
        return StateSnapshot(
            values={},
            next=(),
            config={"configurable": {"thread_id": thread_id, **({"checkpoint_ns": ns} if ns else {})}},
            metadata=None,  # (no checkpoint: None, as LangGraph's)
            created_at=None,
            parent_config=None,
            status="new",
        )
    cker = cker if cker is not None else graph.checkpointer
    key = thread_key(thread_id, ns)
    live = run is not None and not run.done and is_head
    # (a run given up on purpose while it ends, e.g. by an edit that routed the thread to other tasks, answers no
    # question; one being stopped shows its questions, as once it has, see flow.ledger)
    asks = live and run is not None and run.id not in graph.abandoned_runs
    pauses = [i for _, i in graph.interrupts_of(run)] if asks and run is not None else []
    # (the engine running it now: a subgraph's is keyed "<run id>|<ns>", see engine.running_key)
    engine = graph.engines.get(f"{run.id}|{ns}" if ns else run.id) if live and run is not None else None
    if engine is not None:  # (the tasks of its running superstep that finished, as LangGraph's pending writes)
        cp = engine.as_running(cp)
    prefix = f"{ns.replace('|', '/')}/" if ns else ""
    tasks = []
    tids = [task_id(t, i) for i, t in enumerate(cp.tasks)]
    claimed = {str(r[0]) for tid in tids for r in cp.interrupts.get(tid, [])}
    for i, t in enumerate(cp.tasks):
        tid = tids[i]
        node = t["node"]
        finished = isinstance(cp.pending.get(tid), dict) and "writes" in cp.pending[tid]
        if live:
            mine = _pending_of(pauses, prefix + node, {str(r[0]) for r in cp.interrupts.get(tid, [])}, claimed)
        elif applied and finished:
            mine = ()  # (answered, then finished beside a failure or a stop: get_state shows none, as LangGraph's)
        else:
            # (its latest: as in LangGraph, a task's interrupt that was answered gives way to its next one)
            mine = tuple(Interrupt(v, i, "interrupt", prefix + node) for i, v in cp.interrupts.get(tid, [])[-1:])
        sub_state: Any = None
        if node in graph.nodes and graph.nodes[node].subgraph is not None:
            sub_ns = f"{ns}|{node}" if ns else node
            if subgraphs:
                sub_cp = cker.latest(thread_key(thread_id, sub_ns))
                sub_graph = graph.nodes[node].subgraph
                assert sub_graph is not None
                sub_state = snapshot(
                    sub_graph,
                    thread_id,
                    sub_ns,
                    sub_cp,
                    run=run,
                    is_head=is_head,
                    subgraphs=True,
                    cker=cker,
                    applied=applied,
                    as_added=as_added,
                )
            else:
                sub_state = {"configurable": {"thread_id": thread_id, "checkpoint_ns": sub_ns}}
        done = cp.pending.get(tid)
        if node == START and isinstance(cp.pending.get(INPUT), list):  # an input checkpoint: START writes the input
            done = {"writes": [[k, v] for k, v in cp.pending[INPUT]]}
        tasks.append(
            PregelTask(
                id=tid,
                name=node,
                path=(PUSH, i) if "send" in t else (PULL, node),
                error=cp.errors.get(tid),
                interrupts=mine,
                state=sub_state,
                result=dict(writes_of(done["writes"])) if isinstance(done, dict) and "writes" in done else None,
            )
        )
    # LangGraph's get_state lists a checkpoint's tasks (next, tasks, interrupts) with its Sends first, as made, then
    # the nodes in the order they were added to the graph (the merge of their writes still goes by name).
    if as_added:
        added = {name: i for i, name in enumerate(graph.nodes)}
        tasks.sort(key=lambda t: (0, t.path[1]) if t.path[0] == PUSH else (1, added.get(t.name, -1)))
    # the interrupts of its tasks, as LangGraph's: those open now, or (a past checkpoint) those its tasks made,
    # answered since; at the head of a turn that failed or was stopped, the questions its pending tasks left open
    interrupts = tuple(p for t in tasks for p in t.interrupts)
    waiting = tuple(t.name for t in tasks if t.result is None or not applied or t.name == START)
    failed = any(e != STOPPED_ERROR for e in cp.errors.values())  # (a stopped task's error is the cancel)
    if not is_head:
        status = "failed" if failed else "completed" if not cp.tasks else "in_progress"
    elif run is None:
        status = "failed" if failed else "completed" if not cp.tasks else "stopped"
    elif run.status == "succeeded":
        status = "completed" if not cp.tasks else "interrupted"
    elif run.status == "failed":
        status = "failed"
    elif run.status == "cancelled":
        status = "stopped" if cp.tasks else "completed"
    else:
        status = "interrupted" if pauses else "running"
    parent = cker.get(key, cp.parent) if cp.parent else None
    return StateSnapshot(
        values=graph.spec.visible(effective_values(graph, cp) if applied else cp.values),
        next=waiting,
        config=config_of(thread_id, ns, cp),
        metadata=metadata_of_checkpoint(cp),
        created_at=cp.created_at,
        parent_config=config_of(thread_id, ns, parent) if parent is not None else None,
        tasks=tuple(tasks),
        interrupts=interrupts,
        state=graph.spec.to_state(cp.values) if graph.spec.fields is None or _complete(graph, cp) else None,
        status=status,
        run_id=cp.run_id,
    )


def metadata_of_checkpoint(cp: Checkpoint) -> dict[str, Any]:
    """A snapshot's metadata, as LangGraph's: ``source``, ``step``, ``parents``, and what the config added."""
    return {"source": cp.source, "step": cp.step, "parents": {}, **cp.metadata}


def effective_values(graph: CompiledGraph, cp: Checkpoint) -> dict[str, Any]:
    """The checkpoint's values with the writes of its tasks that already finished (a sibling paused or failed),
    as LangGraph shows a thread's state."""
    done = [(i, t) for i, t in enumerate(cp.tasks) if isinstance(cp.pending.get(task_id(t, i)), dict)]
    if not done:
        return cp.values
    done.sort(key=lambda it: ("send" in it[1], it[1]["node"] if "send" not in it[1] else it[0]))
    writes = [(t["node"], writes_of(cp.pending[task_id(t, i)]["writes"])) for i, t in done]
    return graph.spec.apply(cp.values, writes)


def _complete(graph: CompiledGraph, cp: Checkpoint) -> bool:
    try:
        graph.spec.to_state(cp.values)
    except Exception:  # a dataclass/pydantic state missing required fields: the snapshot keeps only the values
        return False
    return True


def _pending_of(
    pauses: Sequence[Interrupt], node_path: str, recorded: set[str], claimed: set[str]
) -> tuple[Interrupt, ...]:
    """A task's open interrupts, as LangGraph's: the ones it recorded (Sends of one node each show their own; one
    that finished shows none), else those of its node no sibling recorded (a checkpoint written before tasks
    recorded their subgraphs' interrupts)."""
    ours = [p for p in pauses if p.kind == "interrupt" and _belongs(p.node, node_path)]
    if recorded:
        return tuple(p for p in ours if p.id in recorded)
    return tuple(p for p in ours if p.id not in claimed)


def _belongs(interrupt_node: str, node_path: str) -> bool:
    # "inner/child" belongs to the task "inner"; "inner:inner_2/child" to a Send task of "inner"
    return interrupt_node == node_path or interrupt_node.startswith((node_path + "/", node_path + ":"))


class History:
    """``get_state_history``'s answer: iterable, async-iterable and awaitable (a list); ``next(h)`` and
    ``await anext(h)`` take the snapshots one by one, as from LangGraph's generators."""

    def __init__(self, items: list[StateSnapshot]) -> None:
        self._items = items
        self._cursor = 0

    def __next__(self) -> StateSnapshot:
        if self._cursor >= len(self._items):
            raise StopIteration
        self._cursor += 1
        return self._items[self._cursor - 1]

    async def __anext__(self) -> StateSnapshot:
        try:
            return next(self)
        except StopIteration:
            raise StopAsyncIteration from None

    def __await__(self) -> Any:
        async def value() -> list[StateSnapshot]:
            return list(self._items)

        return value().__await__()

    def __aiter__(self) -> AsyncIterator[StateSnapshot]:
        async def gen() -> AsyncIterator[StateSnapshot]:
            for s in self._items:
                yield s

        return gen()

    def __iter__(self) -> Iterator[StateSnapshot]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


def history(
    graph: CompiledGraph,
    thread_id: str,
    ns: str,
    run: Run | None,
    *,
    limit: int | None,
    before: int | None,
    only: int | None = None,
    filter: Mapping[str, Any] | None = None,
    cker: Checkpointer | None = None,
) -> list[StateSnapshot]:
    """A thread's checkpoints newest first (all branches), as LangGraph's checkpointer ``list``: only checkpoint
    ``only`` when the config names one, those older than ``before``, those whose metadata has every
    ``filter`` item, then the newest ``limit`` of them."""
    cker = cker if cker is not None else graph.checkpointer
    items = cker.history(thread_key(thread_id, ns))
    head_id = items[0].id if items else None
    if only is not None:
        items = [c for c in items if c.id == only]
    if before is not None:
        items = [c for c in items if c.id < before]
    out: list[StateSnapshot] = []
    for c in items:
        if limit is not None and len(out) >= limit:
            break
        if filter:
            meta = metadata_of_checkpoint(c)
            if not all(meta.get(k) == v for k, v in filter.items()):
                continue
        out.append(snapshot(graph, thread_id, ns, c, run=run, is_head=c.id == head_id, cker=cker, applied=False))
    return out


def pause_interrupts(pauses: list[tuple[str, Interrupt]]) -> list[Interrupt]:
    """The pauses LangGraph reports as interrupts: those made by ``interrupt()``."""
    return [i for _, i in pauses if i.kind == "interrupt"]


# -- what CompiledGraph's get_state and get_state_history do --------------------------------
def thread_state(graph: CompiledGraph, config: Mapping[str, Any], *, subgraphs: bool = False) -> StateSnapshot:
    """``graph.get_state(config)``: the thread's head checkpoint (or the one ``config`` names) in the namespace
    ``config`` names, with what its turn is doing now."""
    thread_id, _, checkpoint_id, ns = graph.parse_config(config)
    cker = graph.checkpointer
    key = thread_key(thread_id, ns)
    latest = cker.latest(key)
    cp = cker.get(key, checkpoint_id) if checkpoint_id is not None else latest
    run = graph.current_run(graph.session, thread_id)
    is_head = cp is not None and latest is not None and cp.id == latest.id
    if latest is None and not ns:
        warn_if_moved(graph, thread_id)  # (empty here, but waiting under the graph's earlier default name?)
    return snapshot(
        subgraph_at(graph, ns),
        thread_id,
        ns,
        cp,
        run=run,
        is_head=is_head,
        subgraphs=subgraphs,
        cker=cker,
        applied=checkpoint_id is None,  # (LangGraph's get_state applies pending writes only to the head)
    )


def subgraph_at(graph: CompiledGraph, ns: str) -> CompiledGraph:
    """The graph whose checkpoints namespace ``ns`` holds: ``graph`` for ``""``, else the subgraph node at that
    path (``"outer|inner"``; a ``node:<step>`` label names the node)."""
    found = graph
    for part in ns.split("|") if ns else ():
        spec = found.nodes.get(part.split(":", 1)[0])
        if spec is None or spec.subgraph is None:
            raise UsageError(
                f"checkpoint_ns {shown(ns)} names no subgraph of graph {shown(graph.name)} (at {shown(part)})",
                code="no_subgraph",
            )
        found = spec.subgraph
    return found


def state_history(
    graph: CompiledGraph,
    config: Mapping[str, Any],
    *,
    filter: Mapping[str, Any] | None,
    before: Mapping[str, Any] | None,
    limit: int | None,
) -> History:
    """``graph.get_state_history(...)``, its arguments checked."""
    thread_id, _, only, ns = graph.parse_config(config)
    if filter is not None and not isinstance(filter, Mapping):
        raise UsageError(f"filter must be a dict of metadata items, e.g. {{'source': 'loop'}}, got {shown(filter)}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
        raise UsageError(f"limit must be an integer or None, got {shown(limit)}")
    if before is not None and not isinstance(before, Mapping):
        raise UsageError(f"before must be a config naming a checkpoint (a snapshot's .config), got {shown(before)}")
    before_id = graph.parse_config(before)[2] if before is not None else None
    run = graph.current_run(graph.session, thread_id)
    found = history(
        subgraph_at(graph, ns),
        thread_id,
        ns,
        run,
        limit=limit,
        before=before_id,
        only=only,
        filter=filter,
        cker=graph.checkpointer,
    )
    return History(found)
