"""Whether a turn is at rest around its open questions: the step-level half of the test that tells a turn's caller
(:func:`~aether_nb.flow.turns.until_pause`) it may report a pause.

LangGraph returns from a superstep once each of its tasks finished or raised its interrupt; a task running a
subgraph finishes only once that subgraph did (or paused), so a sibling subgraph ``x1 -> x2 -> x3`` runs to its
end, and a sibling subgraph that asks adds its question to the same pause. The engine's ``busy`` count (tasks
running node code) misses the moments a graph is between its own supersteps: its start, its checkpoint, a stream
reader asking for the next superstep (``stream(..., subgraphs=True)``), several tasks' ends being gathered. A
caller that looked then reported the pause with the sibling cut off: its remaining nodes ran after the call
returned (or, the call's loop closing, again on the next call) and its question was missing.

So a pause also waits until every step of the run executing now is parked on an unanswered wait, or waits on steps
inside it (as the runtime tells a run that can leave memory, :func:`aether_nb.runtime.dormancy.only_parked`): a
graph between supersteps runs no step inside its task's step, which is then neither. Each change towards rest
comes with an event the caller looks again at (a wait opened, a step ended), so it never waits on a state
nobody tells it about. One exception: a task waiting for a slot of ``config["max_concurrency"]`` while every
slot is held by a task parked at a question stays where it is until an answer, as before (reported as at rest).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aether_nb.flow.engine import Engine
    from aether_nb.runtime.execution import Scope


def steps_at_rest(engine: Engine) -> bool:
    """Whether every step of ``engine``'s run (the turn's root engine) that executes now is parked on a wait that
    has no answer yet or waits on steps inside it, and none is about to start."""
    scope = engine.scope
    execution = scope.execution
    if execution.pending:
        return False
    scopes: set[Scope] = {scope, *execution.scopes}
    # what waits on steps inside it, by step key: a node run again after an answer runs in a scope of its own
    # (tasks.rerun_scope) under the key of its step, and the steps it starts are inside that key
    outer = {s.step[0].node_id for s in execution.scopes if s.step is not None}
    idle = {s.node_id for s in scopes if s.parked == 0 and s.node_id not in outer}
    if idle:
        holding = {s.node_id for s in scopes if s.node_id not in idle}
        if not idle <= _waiting_for_a_slot(engine, idle, holding):
            return False
    parked = sum(s.parked for s in scopes)
    # (a wait already answered is off the live table before its task goes on: that task is not at rest)
    return parked > 0 and engine.run.session.parks(engine.run.id) >= parked


def _waiting_for_a_slot(root: Engine, idle: set[str | None], holding: set[str | None]) -> set[str | None]:
    """The step keys among ``idle`` of tasks waiting for a slot of their graph's ``max_concurrency``, every slot
    being held by a task of the superstep that is not idle (parked at a question, or waiting on its subgraph)."""
    out: set[str | None] = set()
    stack = [root]
    while stack:
        engine = stack.pop()
        stack.extend(engine.nested)
        cap = engine.config.get("max_concurrency") if engine.semaphore is not None else None
        if not cap:
            continue
        open_keys = {t.key for t in engine.step_tasks if t.key and t.tid not in engine.step_done}
        if len(open_keys & holding) >= int(cap):
            out |= open_keys & idle
    return out


__all__ = ["steps_at_rest"]
