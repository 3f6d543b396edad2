"""Runs started by a run's body (``other.start(...)`` inside an agent): a journaled step whose value is the run id.

``other.start(...)`` returns a :class:`~aether_nb.runtime.run.Run` at once, so it is not a node step of the calling
run; it was no step at all, and a body re-executed on resume (a restart, an answer) started a second run of the
other agent, which repeated every effect of it (a charge made twice). Inside a run it is now a step named
``<agent>.start``, listed on the node that made it as a service call is: the first execution journals the id of the
run it started; a replay gets that id back, and ``start`` resumes that run (a waiting or cut-off one), or returns it
as it ended (``await`` then gives its stored outputs or raises its stored failure), never starting another.

The id is deterministic too (the calling run's id and the step's key: ``boss.billing.start_1``), so a journal entry
lost with the process (``"async"`` durability, a kill within the last moments) still finds the same run. A run id
given by the caller (``run_id=``) is used as it is, and is part of what the step's journal entry matches.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import Any

from aether_nb.errors import ReplayMismatch, shown
from aether_nb.runtime.checks import MAX_ID
from aether_nb.runtime.codec import call_fingerprint, decode, fingerprint, preview
from aether_nb.runtime.effects import inside_step
from aether_nb.runtime.events import ServiceCalled
from aether_nb.runtime.execution import Scope, current_scope
from aether_nb.runtime.registry import Runnable
from aether_nb.runtime.session import Session

STEP_KINDS = ("graph_fn", "graphify")
"""The targets whose ``start()`` inside a run is a step. A state graph's turn started by a body
(``app.ainvoke`` in an agent) is a step of its own kind already (:mod:`aether_nb.flow.in_run`)."""


@dataclass(frozen=True)
class ChildStart:
    """What a ``start()`` made inside a run starts: the run id to use, who started it (kept in its meta), and
    whether the step replayed (the run it returns then is no news to the notebook: it showed it when it started)."""

    run_id: str
    meta: dict[str, Any]
    replayed: bool


def start_in_run(target: Runnable, inputs: dict[str, Any], run_id: str | None, session: Session) -> ChildStart | None:
    """The run a ``start()`` made by a run's code starts (None: not made inside a run, start as usual).

    Takes the step's key now, in program order (as a tool call does), and replays its journal entry when the run
    executed it before.

    Raises:
        asyncio.CancelledError: the calling run was stopped, left memory or has finished (it starts nothing).
        ReplayMismatch: the body's own code made another call at this step's place in an earlier execution.
    """
    scope = current_scope()
    if scope is None or inside_step.get() is not None or target.kind not in STEP_KINDS:
        return None  # (inside another step, a turn's run say: that step is what replays)
    execution, parent = scope.execution, scope.run
    status = parent.record.status
    if execution.stopped or status in ("succeeded", "failed", "cancelled"):
        why = "was stopped" if parent.cancel_requested else "left memory" if execution.detached else "has finished"
        raise asyncio.CancelledError(f"run {parent.id} {why}: it starts no run of {target.name}")
    name = f"{target.name}.start"
    step_inputs: dict[str, Any] = dict(inputs) if run_id is None else {"inputs": inputs, "run_id": run_id}
    fp = call_fingerprint(step_inputs, name)
    key = scope.next_key(name)
    ordered = scope.task is not None and scope.task is asyncio.current_task()
    entry = None
    if execution.journal.active:
        entry, key = scope.bind(key, name, fp, step_inputs, ordered)
    meta = {"started_by": {"run_id": parent.id, "step": key}}
    if entry is not None:
        child = _journaled_id(decode(entry.value), parent.id, key, name)
        _said(scope, key, target.name, step_inputs, child, replayed=True)
        return ChildStart(child, meta, replayed=True)
    child = run_id if run_id is not None else _derived_id(parent.id, key, target, inputs, session)
    scope.journal(key, name, "service", fp, {"run_id": child}, None)
    _said(scope, key, target.name, step_inputs, child, replayed=False)
    return ChildStart(child, meta, replayed=False)


def _derived_id(parent_id: str, key: str, target: Runnable, inputs: dict[str, Any], session: Session) -> str:
    """The id of the run started at step ``key``: the same in every execution of the calling run, so one whose
    journal entry was lost finds it again; a new one if another agent's run (or other inputs') holds it."""
    candidate = f"{parent_id}.{key.replace('/', '.')}"
    if len(candidate) > MAX_ID:
        digest = hashlib.sha256(candidate.encode()).hexdigest()[:16]
        candidate = f"{parent_id[: MAX_ID - 18]}.{digest}"
    record = session.store.get_run(candidate)
    if record is None:
        return candidate
    if record.kind == target.kind and record.graph == target.name and record.inputs_fingerprint == fingerprint(inputs):
        return candidate  # started by this step before its entry was written
    return session.new_run_id()


def _journaled_id(value: Any, parent_id: str, key: str, name: str) -> str:
    if isinstance(value, dict) and isinstance(value.get("run_id"), str):
        return str(value["run_id"])
    raise ReplayMismatch(
        f"step {shown(key)} of run {parent_id} does not match its journal: it holds another call than {name}(...) "
        "(a service of that name?). Restore the code, or start a new run with another run_id",
        run_id=parent_id,
        node_id=key,
    )


def _said(scope: Scope, key: str, agent: str, inputs: Any, child: str, *, replayed: bool) -> None:
    """The step as a service call event on the node that made it (the widget's inspector lists it there)."""
    scope.run.emit(
        ServiceCalled,
        node_id=scope.node_id,
        key=key,
        service=agent,
        method="start",
        inputs=preview(inputs, max_str=200, max_items=10),
        outputs={"run_id": child},
        replayed=replayed,
    )


__all__ = ["STEP_KINDS", "ChildStart", "start_in_run"]
