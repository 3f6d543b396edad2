"""Awaiting a run from outside it: its outcome (``await run``) and a status (``run.wait_for``).

Awaiting does not own the run: the code awaiting it may be cancelled (a cell interrupted) and the run goes on. A
run that left memory has no task to await: its awaiters wait until it resumes or ends (``Run.moved``); one no task
of this process executes is resumed. A run's own code cannot await it: it would wait for its own end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from aether_nb.errors import RunCancelled, RunFailed, UsageError, shown
from aether_nb.runtime.execution import current_scope
from aether_nb.runtime.interrupted import still_going, tell_caller
from aether_nb.runtime.slots import while_elsewhere
from aether_nb.runtime.status import not_becoming
from aether_nb.store import redact
from aether_nb.store.records import FINISHED_RUN_STATUSES

if TYPE_CHECKING:
    from aether_nb.runtime.run import Run

RUN_STATUSES = ("pending", "running", "waiting", "succeeded", "failed", "cancelled")


async def result(run: Run) -> dict[str, Any]:
    """``run.result()``: its outputs once it ended (see there)."""
    scope = current_scope()
    if scope is not None and scope.run is run:
        # (asyncio says "Task cannot await on itself"; through the shield in _outcome it hung silently)
        raise UsageError(
            f"run {run.id} ({run.graph_name}) is awaited by its own code: it would wait for its own end forever. "
            "Use what the agent computed directly (or `context.run_id` for its id), and await the run from "
            "outside it: a cell, or a task that is not part of it",
            run_id=run.id,
            code="awaits_itself",
        )
    try:
        return await while_elsewhere(_outcome(run))
    except asyncio.CancelledError as exc:
        if not (run.done or run.cancel_requested):
            tell_caller(exc, still_going(run.id, run.graph_name))
        raise


async def _outcome(run: Run) -> dict[str, Any]:
    while True:
        task = run.task
        if task is None:
            if run.done:
                return _final(run)
            if run.evicted:  # parked and dropped from memory: an answer resumes it
                await run.moved()
            else:
                run.resume()
            continue
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled() and (run.evicted or run.task is not task):
                continue  # evicted while parked (or already resumed): keep waiting for the outcome
            me = asyncio.current_task()
            if task.cancelled() and run.cancel_requested and not run.done and not (me and me.cancelling()):
                # stopped before its first step: the run records that when its task is done, a loop turn later
                # (this caller, woken by the same cancel, was told a bare CancelledError)
                run.end_stopped()
            if not (task.cancelled() and run.done):
                raise  # the awaiting code was cancelled, or the loop is going away
        return _final(run)


def _final(run: Run) -> dict[str, Any]:
    if run.status == "succeeded":
        return dict(run.outputs or {})
    if run.status == "cancelled":
        raise RunCancelled(f"run {run.id} ({run.graph_name}) was cancelled", run_id=run.id)
    node_id = run.failed_node
    where = f" at node {node_id}" if node_id else ""
    message = f"run {run.id} ({run.graph_name}) failed{where}: {redact.redact_text(run.error or '')}"
    err = RunFailed(message, run_id=run.id, node_id=node_id)
    if run.exception is not None:
        raise err from run.exception
    raise err


async def wait_for(run: Run, statuses: Iterable[Any], timeout: float | None) -> str:
    """``run.wait_for(*statuses)``: the status reached (see there)."""
    statuses = tuple(statuses)
    if not all(isinstance(s, str) for s in statuses):
        raise UsageError(f"wait_for takes statuses as separate strings, wait_for('waiting'); got {shown(statuses)}")
    wanted = set(statuses) or set(FINISHED_RUN_STATUSES)
    if not wanted <= set(RUN_STATUSES):
        raise UsageError(f"statuses must be among {list(RUN_STATUSES)}, got {sorted(map(str, wanted))}")

    def reached() -> bool:
        if run.status in wanted:
            return True
        if run.done or not (run.live or run.evicted):
            raise UsageError(not_becoming(run.id, run.status, wanted), run_id=run.id, code="not_executing")
        return False

    try:
        await while_elsewhere(run.until(reached, timeout))
    except TimeoutError:
        raise TimeoutError(_still(run, wanted, timeout)) from None
    return run.status


def _still(run: Run, wanted: set[str], timeout: float | None) -> str:
    """Why ``wait_for`` gave up (it raised a TimeoutError with no message): where the run is, and what moves it."""
    said = " or ".join(repr(s) for s in sorted(wanted))
    text = f"run {run.id} did not become {said} within {timeout:g} s: it is {run.status}"
    if run.status == "waiting":
        asked = [w.node_id for w in run.waits]
        text += f" for an answer to {', '.join(asked)}: answer it with `await run.answer(...)`" if asked else ""
    return text + "; wait longer with wait_for(..., timeout=None)"


__all__ = ["RUN_STATUSES", "result", "wait_for"]
