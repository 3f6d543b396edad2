"""How a turn starts: the first journaled step of a state-graph run (see :mod:`aether_nb.flow.engine`).

It reads the thread's checkpoint (its head, or the one a config names: time travel, which forks a branch), applies
the turn's input as LangGraph does — an ``input`` checkpoint holding the input, then a ``loop`` checkpoint with the
input merged and the tasks START routes to — or, for a paused, stopped or failed thread, goes on with its pending
tasks (Agentflow's rule: new input is merged, the pending tasks still run; at a past checkpoint, as LangGraph, new
input starts again from START). Its value is what the engine's loop
goes on from, so a resumed run replays it instead of reading the thread again.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aether_nb.errors import UsageError
from aether_nb.flow.checkpoint import Checkpoint
from aether_nb.flow.context import runtime_for
from aether_nb.flow.edits import branch_of, going_on_tasks
from aether_nb.flow.ledger import RAN_KEY
from aether_nb.flow.nodes import input_writes
from aether_nb.flow.types import START, EmptyInputError
from aether_nb.runtime.codec import fingerprint

if TYPE_CHECKING:
    from aether_nb.flow.engine import Engine
    from aether_nb.runtime.execution import Scope


async def prepare(engine: Engine) -> dict[str, Any]:
    """The turn's start (the engine journals it as one step): read the thread's checkpoint — its head, or the one
    the config names, which forks a branch — and apply the turn's input as LangGraph does (an ``input``
    checkpoint holding it, then START's), or go on with the pending tasks of a paused, stopped or failed turn."""
    cp = engine.checkpointer
    graph = engine.graph
    stateless_sub = engine.parent is not None and not graph.stateful
    latest = None if stateless_sub else cp.latest(engine.thread)
    left = left_unfinished(engine) if engine.parent is not None else None
    if left is not None:  # its parent's task runs again after a failure or a stop: go on where it was
        msgs = left.values.get("messages")
        return {**checkpoint_info(left, started=False, turn_start=len(msgs) if isinstance(msgs, list) else 0),
                "going_on": True}  # fmt: skip
    base = latest
    if engine.checkpoint_id is not None:
        base = cp.get(engine.thread, engine.checkpoint_id)
        if base is None:
            raise UsageError(
                f"thread {engine.thread_id!r} has no checkpoint {engine.checkpoint_id}", code="no_checkpoint"
            )
    now = engine.run.session.clock.now()
    # a config naming a checkpoint the thread has moved past: time travel, not the thread's own pending turn
    travel = base is not None and latest is not None and base.id != latest.id
    if travel and base is not None:
        base = branch_of(base)  # a branch runs its tasks afresh: no result, call (flow.ledger) or question is kept
    if travel and base is not None and base.source not in ("update", "fork") and engine.input is None:
        # running again from an older checkpoint: a fork, so the new checkpoints make a branch of their own (new
        # input needs none: its input checkpoint is the branch's first, its parent the old one, as LangGraph's)
        base = engine.put_checkpoint(
            replace(base, source="fork", run_id=engine.run.id, created_at=now, parent=base.id, metadata=engine.metadata)
        )
    msgs = (base.values if base is not None else {}).get("messages")
    turn_start = len(msgs) if isinstance(msgs, list) else 0
    if engine.input is None:
        if base is None:
            raise EmptyInputError(
                f"thread {engine.thread_id!r} is new: give it an input, e.g. ainvoke({{...}}, config)",
                code="no_input",
            )
        if [t["node"] for t in base.tasks] == [START]:
            return await run_start(engine, base, base.pending.get("__input__") or [], base, turn_start, carry=False)
        return checkpoint_info(base, started=False, turn_start=turn_start)
    writes = input_writes(graph.spec, engine.input, "the input")
    if base is None:
        base_values = graph.spec.initial()
        base_step, parent = -1, None
    else:
        base_values, base_step, parent = base.values, base.step + 1, base.id
    head = engine.put_checkpoint(
        Checkpoint(
            values=base_values,
            tasks=({"node": START},),
            step=base_step,
            source="input",
            run_id=engine.run.id,
            created_at=now,
            parent=parent,
            barriers=dict(base.barriers) if base is not None else {},
            pending={"__input__": [[k, v] for k, v in writes]},
            turn_start=turn_start,
            metadata=engine.metadata,
        ),
    )
    # a paused, stopped or failed thread given new input goes on with its pending tasks (Agentflow's rule); new
    # input at a past checkpoint starts again from START on top of it, as LangGraph (input that is neither None
    # nor a Command is a new run there): the pending tasks of a checkpoint the thread moved past are no turn of
    # its own to go on with
    carry = (
        not travel and base is not None and bool(going_on_tasks(base)) and [t["node"] for t in base.tasks] != [START]
    )
    return await run_start(engine, head, writes, base if carry else None, turn_start, carry=carry)


def left_unfinished(engine: Engine) -> Checkpoint | None:
    """A subgraph whose parent's task runs again after its turn failed or was stopped: the subgraph's checkpoint
    where that turn left it, with its pending tasks (the results of those that finished kept, the others' ledger),
    as LangGraph's subgraph goes on from its checkpoint of the same task: its finished nodes do not run again. None
    when the task runs afresh (the subgraph starts from its input): the subgraph's checkpoint is not one the task's
    earlier runs wrote, or nothing of it is pending."""
    parent = engine.parent
    assert parent is not None
    task = next((t for t in parent.step_tasks if t.tid == engine.parent_task), None)
    if task is None or not task.ran or parent.graph.nodes[task.node].subgraph is not engine.graph:
        return None  # (a graph invoked inside a node starts from its input: the node may invoke it several times)
    head = engine.checkpointer.latest(engine.thread)
    if head is None or not head.tasks or head.run_id not in {run for run, _ in task.ran}:
        return None
    if [t["node"] for t in head.tasks] == [START]:
        return None  # (its input checkpoint: START's routing was not done, it starts from its input again)
    return head


async def run_start(
    engine: Engine,
    head: Checkpoint,
    writes: list[Any],
    previous: Checkpoint | None,
    turn_start: int,
    *,
    carry: bool,
) -> dict[str, Any]:
    """Run START: merge the input and route from it (or keep the pending tasks), as the step-0 checkpoint."""
    graph = engine.graph
    pairs = [(k, v) for k, v in writes]
    values = graph.spec.apply(head.values, [(START, pairs)])
    config = engine.node_config(START, head.step + 1)
    if carry and previous is not None:
        tasks = going_on_tasks(previous)
        pending = dict(previous.pending)
        deferred: tuple[str, ...] = previous.deferred
    else:

        def local_state(schema: Any) -> Any:  # (START's routers run with the call's whole budget, as LangGraph's)
            return graph.spec.to_state(graph.spec.with_managed(values, engine.call_limit()), schema)

        runtime = functools.partial(runtime_for, engine, START, engine.stream_writer(START), 1, head.created_at)
        route = await graph.topology.route(START, [], local_state, config, runtime=runtime)
        tasks, waiting = graph.topology.start_tasks(route)
        pending, deferred = {}, tuple(waiting)
    cp = engine.put_checkpoint(
        Checkpoint(
            values=values,
            tasks=tuple(tasks),
            step=head.step + 1,
            source="loop",
            run_id=engine.run.id,
            created_at=engine.run.session.clock.now(),
            parent=head.id,
            barriers=dict(previous.barriers) if previous is not None else dict(head.barriers),
            deferred=deferred,
            writers=(START,),
            pending=pending,
            turn_start=turn_start,
            metadata=engine.metadata,
            ran=dict(previous.ran) if carry and previous is not None else {},
        ),
        stream=False,  # (streamed by main, after the input's values)
    )
    engine.start_head = cp  # (kept as written, as a superstep's checkpoint is: the engine's head)
    return {**checkpoint_info(cp, started=True, turn_start=turn_start), "wrote": sorted({k for k, _ in pairs})}


def checkpoint_info(cp: Checkpoint, *, started: bool, turn_start: int) -> dict[str, Any]:
    """What the engine goes on from at checkpoint ``cp`` (journaled as the start's or a reload's value): its
    pending results hold, under :data:`~aether_nb.flow.ledger.RAN_KEY`, where a failed or stopped turn ran its
    tasks."""
    pending = {k: v for k, v in cp.pending.items() if k != "__input__"}
    if cp.ran:
        pending[RAN_KEY] = cp.ran
    return {
        "values": cp.values,
        "tasks": going_on_tasks(cp),  # (with a pause's Command(goto=...))
        "barriers": cp.barriers,
        "deferred": list(cp.deferred),
        "pending": pending,
        "step": cp.step + 1,
        "head": cp.id,
        "started": started,
        "turn_start": turn_start,
        "wrote": False,
    }


def legacy_reload(scope: Scope, step: int) -> str | None:
    """The key of this superstep's reload in a run paused by an older aether_nb, which numbered the reloads
    after superstep waits and after breakpoints in one count (``reload_<n>``): replaying it there, and taking
    its number, keeps the later breakpoints' reloads at the keys that run journaled them under. None for a
    run journaled by this version (its reloads after superstep waits are ``reload_at_<step>``)."""
    if not scope.execution.resumed:
        return None
    journal = scope.execution.journal
    fp = None  # (computed only when such a key exists: every superstep of a resumed run comes here)
    n = 1
    while (entry := journal.get(f"{scope.prefix}reload_{n}")) is not None:
        fp = fingerprint({"step": step}) if fp is None else fp
        if entry.name == "reload" and entry.fingerprint == fp:
            scope.next_key("reload")  # (the older count went through here)
            return entry.key
        n += 1
    return None
