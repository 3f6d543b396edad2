"""Edits of a thread's checkpoints, with LangGraph's semantics: ``update_state``, ``bulk_update_state``, and the
input or ``Command(update=..., goto=...)`` given at a pause.

* ``update_state(config, values, as_node=None)`` writes a new checkpoint as if ``as_node`` had returned
  ``values``: the reducers apply, and the next tasks are routed again from ``as_node`` (its edges and routers
  see the edited state; a ``Command``'s ``goto`` adds its targets). Without ``as_node``, the node that wrote the
  checkpoint is used (START on a thread that only has an input); ``END`` clears the pending tasks; ``"__copy__"``
  copies the checkpoint as a fork; ``"__input__"`` writes an ``input`` checkpoint holding ``values`` as a turn's
  input (START merges it when the thread goes on), as LangGraph's, so ``bulk_update_state`` can copy a thread's
  history. On a past checkpoint the edit starts a branch (the thread's head moves to it); ``ainvoke(None,
  returned_config)`` runs it.

Reading a thread (snapshots, history) is :mod:`aether_nb.flow.threads`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aether_nb.errors import UsageError, shown
from aether_nb.flow.checkpoint import GOTO_KEY, Checkpoint, Checkpointer, thread_key
from aether_nb.flow.checkpoint_metadata import metadata_of
from aether_nb.flow.context import Runtime
from aether_nb.flow.managed import UPDATE_STATE_REMAINING
from aether_nb.flow.nodes import input_writes, update_writes
from aether_nb.flow.options import check_thread_id
from aether_nb.flow.pause_edits import edit_waiting_subgraphs
from aether_nb.flow.routing import add_goto
from aether_nb.flow.state import Write
from aether_nb.flow.threads import COPY, INPUT, config_of, effective_values, subgraph_at
from aether_nb.flow.types import END, START, Command, EmptyUpdate, Interrupt, InvalidUpdate, Send, StateUpdate

if TYPE_CHECKING:
    from aether_nb.flow.compiled import CompiledGraph


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
    applied: list[Write] | None = None,
) -> Checkpoint:
    """The checkpoint an ``update_state`` writes (see the module docstring); the writes it applied as a node are
    added to ``applied``."""
    key = thread_key(thread_id, ns)
    spec = graph.spec
    if as_node == COPY:
        if base is None:
            raise UsageError(f"thread {shown(thread_id)} has no checkpoint to copy", code="no_checkpoint")
        copied = cker.put(
            key,
            replace(
                branch_of(base),  # (a copy is a branch: its tasks run afresh, with no result, error or question)
                source="fork",
                parent=base.parent,  # (a sibling of the one copied, as LangGraph's: the same values, the same parent)
                step=base.step + 1,
                created_at=now,
                run_id=run_id,
                metadata=dict(metadata or {}),
            ),
        )
        if not isinstance(values, list) or not values:
            return copied
        # copy and update in one go (LangGraph's ``update_state(config, [StateUpdate(values, as_node)],
        # as_node="__copy__")``): the updates are one superstep on top of the copy
        updates = [copy_update(item) for item in values]
        return await update_superstep(
            graph, cker, thread_id, ns, copied, updates, run_id=run_id, now=now, metadata=metadata, applied=applied
        )
    if as_node == INPUT:
        return cker.put(key, as_input(graph, base, values, run_id, now, metadata))
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
    if not isinstance(as_node, str) or (as_node not in graph.nodes and as_node not in (START, END)):
        raise InvalidUpdate(
            f"as_node={shown(as_node)} is not the name of a node of the graph; nodes: {sorted(graph.nodes)}"
        )
    writes = update_writes(graph.spec, values, "update_state")
    if applied is not None and as_node != END:
        applied.extend(writes)
    if base is None:
        before = spec.initial()
    elif as_node == END:
        # clearing the pending tasks keeps what the finished ones wrote while a sibling paused or failed (as
        # LangGraph's: "interrupt and next tasks are cleared, finished tasks are kept")
        before = effective_values(graph, base)
    else:
        before = base.values
    new_values = spec.apply(before, [(as_node, writes)])
    barriers = dict(base.barriers) if base is not None else {}
    deferred = list(base.deferred) if base is not None else []
    if as_node == END:
        tasks: list[dict[str, Any]] = []
    else:
        config = {"thread_id": thread_id, "configurable": {"thread_id": thread_id, "checkpoint_ns": ns}}

        def local_state(schema: Any) -> Any:
            return spec.to_state(spec.with_managed(new_values, UPDATE_STATE_REMAINING), schema)

        route = await graph.topology.route(
            as_node, goto_of(values), local_state, config, runtime=lambda: Runtime(store=graph.store)
        )
        tasks, barriers, deferred = graph.topology.next_tasks(
            [(as_node, route)], barriers, deferred, waiting_of(base), edit=True
        )
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
    applied: list[Write] | None = None,
) -> Checkpoint:
    """One superstep of ``bulk_update_state``: one update is :func:`update_state`; several are written together,
    each as its node (named: ``as_node`` is required, END and ``__copy__`` are not allowed), as one checkpoint
    routed again from all of them."""
    if len(updates) == 1:
        values, as_node = updates[0].values, updates[0].as_node
        return await update_state(
            graph,
            cker,
            thread_id,
            ns,
            base,
            values,
            as_node,
            run_id=run_id,
            now=now,
            metadata=metadata,
            applied=applied,
        )
    nodes = [u.as_node for u in updates]
    if INPUT in nodes:
        raise InvalidUpdate(
            "Cannot apply multiple updates when updating as input: give the update as_node='__input__' a "
            "superstep of its own",
            code="ambiguous_update",
        )
    bad = [n for n in nodes if n is None or n in (END, COPY) or (n not in graph.nodes and n != START)]
    if bad:
        raise InvalidUpdate(
            f"bulk_update_state: with several updates in one superstep each names its node (as_node=one of "
            f"{sorted(graph.nodes)}; not END or '__copy__'), got {bad}",
            code="ambiguous_update",
        )
    spec = graph.spec
    writes = [(str(n), update_writes(spec, u.values, "bulk_update_state")) for n, u in zip(nodes, updates, strict=True)]
    if applied is not None:
        applied.extend(w for _, ws in writes for w in ws)
    before = base.values if base is not None else spec.initial()
    new_values = spec.apply(before, writes)
    config = {"thread_id": thread_id, "configurable": {"thread_id": thread_id, "checkpoint_ns": ns}}

    def local_state(schema: Any) -> Any:
        return spec.to_state(spec.with_managed(new_values, UPDATE_STATE_REMAINING), schema)

    routes = []
    for (n, _), u in zip(writes, updates, strict=True):
        routes.append((n, await graph.topology.route(n, goto_of(u.values), local_state, config)))
    tasks, barriers, deferred = graph.topology.next_tasks(
        routes,
        dict(base.barriers) if base is not None else {},
        list(base.deferred) if base is not None else [],
        waiting_of(base),
        edit=True,
    )
    return cker.put(
        thread_key(thread_id, ns),
        updated(base, new_values, tasks, barriers, deferred, tuple(n for n, _ in writes), run_id, now, metadata),
    )


def waiting_of(base: Checkpoint | None) -> set[str]:
    """The nodes ``base``'s tasks run by name (not its Sends): an edit routes again from its node, but a join
    among them, whose waiting edge completed, still runs (as LangGraph's, whose barrier channel stays complete
    until the join's task runs: an edit does not consume it)."""
    return {str(t["node"]) for t in base.tasks if "send" not in t} if base is not None else set()


def branch_of(cp: Checkpoint) -> Checkpoint:
    """``cp`` as the start of a branch (a past checkpoint run again, ``"__copy__"``, a ``Command`` at a past
    checkpoint): its tasks run afresh, as LangGraph's replay from a ``checkpoint_id`` the thread moved past, so none
    of what its superstep did in the thread's own history is kept: no finished task's result (they would not run
    again), no call of the ledger (``ran``, they would replay), no error, no question. An ``input`` checkpoint keeps
    its input, which START merges."""
    kept = {INPUT: cp.pending[INPUT]} if INPUT in cp.pending else {}
    return replace(cp, pending=kept, ran={}, errors={}, interrupts={})


def copy_update(item: Any) -> StateUpdate:
    """One of the updates given with ``as_node="__copy__"``: a :class:`StateUpdate` or a ``(values, as_node)``
    sequence, as LangGraph takes them."""
    if isinstance(item, StateUpdate):
        return item
    if isinstance(item, Sequence) and not isinstance(item, (str, bytes)) and 1 <= len(item) <= 3:
        return StateUpdate(*item)
    raise InvalidUpdate(
        f"Invalid update item: {shown(item)} when copying checkpoint: as_node='__copy__' takes a list of "
        "StateUpdate(values, as_node) to apply on top of the copy",
        code="bad_update",
    )


def as_input(
    graph: CompiledGraph,
    base: Checkpoint | None,
    values: Any,
    run_id: str | None,
    now: float,
    metadata: Mapping[str, Any] | None,
) -> Checkpoint:
    """The checkpoint of ``update_state(config, values, as_node="__input__")``: an ``input`` checkpoint, as a turn's
    input writes it (:func:`~aether_nb.flow.turn_start.prepare`) and as LangGraph's: the values as they were,
    START next with ``values`` pending as its input, which ``ainvoke(None, config)`` merges and routes."""
    writes = input_writes(graph.spec, values, "update_state")
    msgs = (base.values if base is not None else {}).get("messages")
    return Checkpoint(
        values=base.values if base is not None else graph.spec.initial(),
        tasks=({"node": START},),
        step=base.step + 1 if base is not None else -1,
        source="input",
        run_id=run_id,
        created_at=now,
        parent=base.id if base is not None else None,
        barriers=dict(base.barriers) if base is not None else {},
        pending={INPUT: [[k, v] for k, v in writes]},
        turn_start=len(msgs) if isinstance(msgs, list) else 0,
        metadata=dict(metadata or {}),
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
    as_input: bool = False,
) -> Checkpoint:
    """``Command(update=..., goto=...)`` (or, ``as_input``, an input given at a pause): merged into the head
    checkpoint without routing again; ``goto`` adds tasks. A ``Command``'s update writes any key of the state, as
    LangGraph's; an input only the input schema's keys.

    At the thread's head the ``Command`` writes no checkpoint of its own: as LangGraph's (its writes are pending
    writes of the checkpoint the thread goes on from, which its snapshots show applied), the head itself is
    rewritten with them, keeping its ``source``, ``step`` and parent, so the supersteps that follow are numbered
    as without the ``Command`` and ``get_state_history(filter={"step": n})`` finds the same checkpoints as
    LangGraph's. ``head`` a checkpoint the thread moved past (a ``Command`` given with a past checkpoint's config):
    the edit starts a branch with a ``fork`` checkpoint (LangGraph's), whose tasks run afresh (:func:`branch_of`).
    An input given at a breakpoint (Agentflow's rule, see README "Differences") is an ``update`` checkpoint."""
    latest = cker.latest(key)
    branch = latest is not None and latest.id != head.id
    if branch:
        head = branch_of(head)
    if as_input:
        writes = input_writes(graph.spec, values, "the input")
    else:
        writes = update_writes(graph.spec, values, "Command(update=...)")
    new_values = graph.spec.apply(head.values, [(INPUT, writes)]) if writes else head.values
    runs = going_on_tasks(head)
    tasks = add_goto(runs, goto, graph.nodes) if goto else runs
    added = [t for t in tasks if t not in head.tasks]
    if not branch and not as_input:
        # the goto's tasks are kept apart from the checkpoint's own, as LangGraph's pending writes: its snapshot
        # (now, and once the thread moved past it) lists the tasks it had; the turn going on from it runs both
        # (a breakpoint's: turn_start.checkpoint_info; an interrupt()'s superstep: Engine.goto_at_pause)
        pending = {**head.pending, GOTO_KEY: added} if added else head.pending
        merged = replace(head, values=new_values, pending=pending)
        cker.replace(key, merged)
        engine = graph.engines.get(run_id) if run_id is not None else None
        if engine is not None and engine.thread == key and engine.head is not None and engine.head.id == merged.id:
            engine.head = merged  # (the paused run's later writes to its head, a question's record, keep the edit)
        return merged
    return cker.put(
        key,
        replace(
            head,
            values=new_values,
            tasks=tuple(tasks),  # (a checkpoint of its own: they are its tasks)
            pending={k: v for k, v in head.pending.items() if k != GOTO_KEY},
            source="fork" if branch else "update",
            run_id=run_id,
            created_at=now,
            parent=head.id,
            step=head.step + 1,
            writers=(INPUT,) if writes else head.writers,
            errors={},
        ),
    )


def going_on_tasks(cp: Checkpoint) -> list[dict[str, Any]]:
    """The tasks a turn going on from ``cp`` runs: its own, and those a ``Command(goto=...)`` given at its pause
    added (:func:`merge_at_pause`), which its snapshots do not list (LangGraph's are pending writes)."""
    out = list(cp.tasks)
    for t in cp.pending.get(GOTO_KEY, ()):
        if "send" in t:
            out.insert(sum(1 for x in out if "send" in x), t)
        elif t not in out:
            out.append(t)
    return out


def rerouted(before: Checkpoint | None, after: Checkpoint | None, pauses: Sequence[tuple[str, Interrupt]]) -> bool:
    """Whether an edit at the head (``before`` -> ``after``) routed the thread to other tasks than those of the
    superstep that waits at an ``interrupt()`` (``pauses``). Same tasks: the waiting run goes on with the edit
    (see README "Differences"); other tasks: LangGraph runs the head's tasks, so the paused superstep is dropped."""
    if before is None or after is None or before.id == after.id:
        return False
    if not any(i.kind == "interrupt" for _, i in pauses):
        return False

    def shape(cp: Checkpoint) -> list[tuple[str, bool]]:
        return sorted((str(t["node"]), "send" in t) for t in cp.tasks)

    return shape(before) != shape(after)


def check_as_node(graph: CompiledGraph, as_node: Any) -> None:
    """``as_node`` is a node's name or None, checked before anything compares it with a name: a NumPy array of
    names (``as_node=np.array(["a", "b"])``) made ``as_node == "__copy__"`` an array, whose truth is a bare
    ValueError (``The truth value of an array ... is ambiguous``)."""
    if as_node is not None and not isinstance(as_node, str):
        raise InvalidUpdate(
            f"as_node= takes one node's name (a string) or None, got {shown(as_node)}: pass one of "
            f"{sorted(graph.nodes)} (or START, END, '__copy__', '__input__'), e.g. as_node=str(name)",
            code="bad_as_node",
        )


def pause_gotos(head: Checkpoint | None) -> dict[str, Any]:
    """What a superstep paused at an ``interrupt()`` runs besides its tasks when it goes on (the ``goto`` of a
    ``Command`` given at the pause, :func:`merge_at_pause`), and the state they start from."""
    if head is None:
        return {"tasks": [], "values": {}}
    return {"tasks": list(head.pending.get(GOTO_KEY, ())), "values": head.values}


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
    check_thread_id(thread_id, graph.name, cker.key)  # (a thread it makes is one ainvoke can run)
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
        for u in step:
            check_as_node(target, u.as_node)
    applied: list[Write] = []
    for step in steps:
        base = await update_superstep(
            target,
            cker,
            thread_id,
            ns,
            base,
            step,
            run_id=None,
            now=session.clock.now(),
            metadata=metadata_of(flat),
            applied=applied,
        )
    ends = any(u.as_node == END for step in steps for u in step)
    dropped = ends and any(i.kind == "interrupt" for _, i in pauses)
    new_input = any(u.as_node == INPUT for step in steps for u in step)  # (the head waits for START: a new turn)
    if run is not None and not run.done and not ns and (fork or dropped or new_input):
        run.cancel()  # its pause is no longer the thread's head
    elif run is not None and not run.done and not ns and rerouted(latest, base, pauses):
        # the edit routed the thread to other tasks than the superstep that waits: as in LangGraph, that superstep
        # (its question, its finished tasks' writes) is dropped, and the head's tasks run on the next call. The
        # waiting run ends (no call ledger: the head's tasks are new ones, see flow.ledger)
        from aether_nb.flow.turns import abandon  # (turns imports this module)

        abandon(graph, run)
    elif applied and not fork and not dropped and not new_input:
        # a subgraph waiting below gets the edit too: it resumes on the edited state (flow.pause_edits)
        edit_waiting_subgraphs(graph, cker, thread_id, ns, applied, [i for _, i in pauses], now=session.clock.now())
    if cker.get_thread(thread_id) is None:
        cker.put_thread(thread_id, {"turn": 0})
    return config_of(thread_id, ns, base)
