"""A thread's checkpoints as users see them: snapshots, history, and edits (``update_state``), with LangGraph's
semantics.

* ``get_state(config)`` is the thread's head (or the checkpoint ``config`` names), with its pending tasks, their
  errors and interrupts, and what the thread's run is doing now.
* ``update_state(config, values, as_node=None)`` writes a new checkpoint as if ``as_node`` had returned
  ``values``: the reducers apply, and the next tasks are routed again from ``as_node`` (its edges and routers
  see the edited state; a ``Command``'s ``goto`` adds its targets). Without ``as_node``, the node that wrote the
  checkpoint is used (START on a thread that only has an input); ``END`` clears the pending tasks; ``"__copy__"``
  copies the checkpoint as a fork. On a past checkpoint the edit starts a branch (the thread's head moves to it);
  ``ainvoke(None, returned_config)`` runs it.

:class:`~aether_nb.flow.compiled.CompiledGraph`'s ``get_state``, ``get_state_history`` and ``(a)bulk_update_state``
/ ``(a)update_state`` are the functions at the end of this module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aether_nb.errors import UsageError, shown
from aether_nb.flow.checkpoint import (
    GOTO_KEY,
    Checkpoint,
    Checkpointer,
    checkpoint_id_str,
    metadata_of,
    task_id,
    thread_key,
)
from aether_nb.flow.context import Runtime
from aether_nb.flow.managed import UPDATE_STATE_REMAINING
from aether_nb.flow.nodes import input_writes
from aether_nb.flow.routing import add_goto
from aether_nb.flow.state import writes_of
from aether_nb.flow.types import (
    END,
    START,
    Command,
    EmptyUpdate,
    Interrupt,
    InvalidUpdate,
    PregelTask,
    Send,
    StateSnapshot,
    StateUpdate,
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
    pauses = [i for _, i in graph.interrupts_of(run)] if live and run is not None else []
    prefix = f"{ns.replace('|', '/')}/" if ns else ""
    tasks = []
    tids = [task_id(t, i) for i, t in enumerate(cp.tasks)]
    claimed = {str(r[0]) for tid in tids for r in cp.interrupts.get(tid, [])}
    for i, t in enumerate(cp.tasks):
        tid = tids[i]
        node = t["node"]
        if live:
            mine = _pending_of(pauses, prefix + node, {str(r[0]) for r in cp.interrupts.get(tid, [])}, claimed)
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
    # a past checkpoint keeps the interrupts its tasks made (answered since), as LangGraph's history shows them
    interrupts = tuple(p for t in tasks for p in t.interrupts) if live or not is_head else ()
    waiting = tuple(t.name for t in tasks if t.result is None or not applied or t.name == START)
    if not is_head:
        status = "failed" if cp.errors else "completed" if not cp.tasks else "in_progress"
    elif run is None:
        status = "failed" if cp.errors else "completed" if not cp.tasks else "stopped"
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


async def update_state(
    graph: CompiledGraph,
    cker: Checkpointer,
    thread_id: str,
    ns: str,
    base: Checkpoint | None,
    values: Any,
    as_node: str | None,
    *,
    run_id: str | None,
    now: float,
    metadata: Mapping[str, Any] | None = None,
) -> Checkpoint:
    """The checkpoint an ``update_state`` writes (see the module docstring)."""
    key = thread_key(thread_id, ns)
    spec = graph.spec
    if as_node == COPY:
        if base is None:
            raise UsageError(f"thread {shown(thread_id)} has no checkpoint to copy", code="no_checkpoint")
        return cker.put(
            key,
            replace(
                base,
                source="fork",
                parent=base.id,
                step=base.step + 1,
                created_at=now,
                run_id=run_id,
                metadata=dict(metadata or {}),
            ),
        )
    if as_node is None:
        writers = sorted(set(base.writers)) if base is not None else []
        if base is None or not writers or writers == [START]:
            as_node = START
        elif len(writers) == 1:
            as_node = writers[0]
        else:
            raise InvalidUpdate(
                f"Ambiguous update, specify as_node: the last superstep ran {writers}; pass as_node=<one of them>",
                code="ambiguous_update",
            )
    if not isinstance(as_node, str) or (as_node not in graph.nodes and as_node not in (START, END, INPUT)):
        raise InvalidUpdate(
            f"as_node={shown(as_node)} is not the name of a node of the graph; nodes: {sorted(graph.nodes)}"
        )
    writes = input_writes(graph.spec, values, "update_state")
    before = base.values if base is not None else spec.initial()
    new_values = spec.apply(before, [(as_node, writes)])
    barriers = dict(base.barriers) if base is not None else {}
    deferred = list(base.deferred) if base is not None else []
    if as_node == END:
        tasks: list[dict[str, Any]] = []
    else:
        source = START if as_node == INPUT else as_node
        config = {"thread_id": thread_id, "configurable": {"thread_id": thread_id, "checkpoint_ns": ns}}

        def local_state(schema: Any) -> Any:
            return spec.to_state(spec.with_managed(new_values, UPDATE_STATE_REMAINING), schema)

        route = await graph.topology.route(
            source, goto_of(values), local_state, config, runtime=lambda: Runtime(store=graph.store)
        )
        tasks, barriers, deferred = graph.topology.next_tasks([(source, route)], barriers, deferred)
    return cker.put(
        key,
        updated(base, new_values, tasks, barriers, deferred, (as_node,), run_id, now, metadata),
    )


async def update_superstep(
    graph: CompiledGraph,
    cker: Checkpointer,
    thread_id: str,
    ns: str,
    base: Checkpoint | None,
    updates: Sequence[StateUpdate],
    *,
    run_id: str | None,
    now: float,
    metadata: Mapping[str, Any] | None = None,
) -> Checkpoint:
    """One superstep of ``bulk_update_state``: one update is :func:`update_state`; several are written together,
    each as its node (named: ``as_node`` is required, END and ``__copy__`` are not allowed), as one checkpoint
    routed again from all of them."""
    if len(updates) == 1:
        values, as_node = updates[0].values, updates[0].as_node
        return await update_state(
            graph, cker, thread_id, ns, base, values, as_node, run_id=run_id, now=now, metadata=metadata
        )
    nodes = [u.as_node for u in updates]
    bad = [n for n in nodes if n is None or n in (END, COPY) or (n not in graph.nodes and n not in (START, INPUT))]
    if bad:
        raise InvalidUpdate(
            f"bulk_update_state: with several updates in one superstep each names its node (as_node=one of "
            f"{sorted(graph.nodes)}; not END or '__copy__'), got {bad}",
            code="ambiguous_update",
        )
    spec = graph.spec
    writes = [(str(n), input_writes(spec, u.values, "bulk_update_state")) for n, u in zip(nodes, updates, strict=True)]
    before = base.values if base is not None else spec.initial()
    new_values = spec.apply(before, writes)
    config = {"thread_id": thread_id, "configurable": {"thread_id": thread_id, "checkpoint_ns": ns}}

    def local_state(schema: Any) -> Any:
        return spec.to_state(spec.with_managed(new_values, UPDATE_STATE_REMAINING), schema)

    routes = []
    for (n, _), u in zip(writes, updates, strict=True):
        source = START if n == INPUT else n
        routes.append((source, await graph.topology.route(source, goto_of(u.values), local_state, config)))
    tasks, barriers, deferred = graph.topology.next_tasks(
        routes, dict(base.barriers) if base is not None else {}, list(base.deferred) if base is not None else []
    )
    return cker.put(
        thread_key(thread_id, ns),
        updated(base, new_values, tasks, barriers, deferred, tuple(n for n, _ in writes), run_id, now, metadata),
    )


def goto_of(values: Any) -> list[str | Send]:
    """The ``goto`` of a ``Command`` given to ``update_state``: as in LangGraph, its targets are routed besides
    ``as_node``'s edges (the update is that node's return)."""
    return values.goto_list() if isinstance(values, Command) else []


def updated(
    base: Checkpoint | None,
    values: dict[str, Any],
    tasks: Any,
    barriers: Any,
    deferred: Any,
    writers: tuple[str, ...],
    run_id: str | None,
    now: float,
    metadata: Mapping[str, Any] | None,
) -> Checkpoint:
    """The checkpoint an ``update_state`` (or one superstep of ``bulk_update_state``) writes after ``base``."""
    return Checkpoint(
        values=values,
        tasks=tuple(tasks),
        step=base.step + 1 if base is not None else 0,
        source="update",
        run_id=run_id,
        created_at=now,
        parent=base.id if base is not None else None,
        barriers=barriers,
        deferred=tuple(deferred),
        writers=writers,
        turn_start=base.turn_start if base is not None else 0,
        metadata=dict(metadata or {}),
    )


def merge_at_pause(
    graph: CompiledGraph,
    cker: Checkpointer,
    key: str,
    head: Checkpoint,
    values: Any,
    goto: list[Any],
    *,
    run_id: str | None,
    now: float,
) -> Checkpoint:
    """An input given at a pause (or ``Command(update=..., goto=...)``): merged into the head checkpoint without
    routing again; ``goto`` adds tasks."""
    writes = input_writes(graph.spec, values, "the input")
    new_values = graph.spec.apply(head.values, [(INPUT, writes)]) if writes else head.values
    tasks = add_goto(list(head.tasks), goto, graph.nodes) if goto else list(head.tasks)
    added = [t for t in tasks if t not in head.tasks]
    pending = head.pending
    if added:  # a live turn paused at an interrupt() runs them in the superstep it resumes (Engine.goto_at_pause)
        pending = {**pending, GOTO_KEY: [*pending.get(GOTO_KEY, ()), *added]}
    return cker.put(
        key,
        replace(
            head,
            values=new_values,
            tasks=tuple(tasks),
            pending=pending,
            source="update",
            run_id=run_id,
            created_at=now,
            parent=head.id,
            step=head.step + 1,
            writers=(INPUT,) if writes else head.writers,
            errors={},
        ),
    )


def pause_gotos(head: Checkpoint | None) -> dict[str, Any]:
    """What a superstep paused at an ``interrupt()`` runs besides its tasks when it goes on (the ``goto`` of a
    ``Command`` given at the pause, :func:`merge_at_pause`), and the state they start from."""
    if head is None:
        return {"tasks": [], "values": {}}
    return {"tasks": list(head.pending.get(GOTO_KEY, ())), "values": head.values}


def pause_interrupts(pauses: list[tuple[str, Interrupt]]) -> list[Interrupt]:
    """The pauses LangGraph reports as interrupts: those made by ``interrupt()``."""
    return [i for _, i in pauses if i.kind == "interrupt"]


# -- what CompiledGraph's get_state, get_state_history and (bulk_)update_state do --------------------------------
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


async def bulk_update(
    graph: CompiledGraph, config: Mapping[str, Any], supersteps: Sequence[Sequence[StateUpdate | tuple[Any, ...]]]
) -> dict[str, Any]:
    """``graph.abulk_update_state(...)`` (``aupdate_state`` is one superstep of one update): one checkpoint per
    superstep, in the namespace ``config`` names; allowed while the thread's run is paused or done. Returns the
    last checkpoint's config."""
    steps = [[StateUpdate(*u) if not isinstance(u, StateUpdate) else u for u in step] for step in supersteps]
    if not steps:
        raise EmptyUpdate("No supersteps provided: bulk_update_state(config, [[StateUpdate(values, as_node)]])")
    if any(not step for step in steps):
        raise EmptyUpdate("No updates provided in a superstep: each superstep lists at least one StateUpdate")
    thread_id, flat, checkpoint_id, ns = graph.parse_config(config)
    session = graph.session
    cker = graph.checkpointer_for(session)
    run = graph.current_run(session, thread_id)
    pauses = graph.interrupts_of(run) if run is not None and not run.done else []
    if run is not None and run.live and not pauses:
        raise UsageError(
            f"thread {shown(thread_id)} is running (run {run.id}); update its state when it pauses or ends",
            run_id=run.id,
            code="thread_busy",
        )
    key = thread_key(thread_id, ns)
    latest = cker.latest(key)
    base = cker.get(key, checkpoint_id) if checkpoint_id is not None else latest
    if checkpoint_id is not None and base is None:
        raise UsageError(f"thread {shown(thread_id)} has no checkpoint {checkpoint_id}", code="no_checkpoint")
    fork = base is not None and latest is not None and base.id != latest.id
    target = subgraph_at(graph, ns)  # a subgraph's state is written as its own nodes (its snapshot's config)
    for step in steps:
        base = await update_superstep(
            target, cker, thread_id, ns, base, step, run_id=None, now=session.clock.now(), metadata=metadata_of(flat)
        )
    ends = any(u.as_node == END for step in steps for u in step)
    dropped = ends and any(i.kind == "interrupt" for _, i in pauses)
    if run is not None and not run.done and not ns and (fork or dropped):
        run.cancel()  # its pause is no longer the thread's head
    if cker.get_thread(thread_id) is None:
        cker.put_thread(thread_id, {"turn": 0})
    return config_of(thread_id, ns, base)
