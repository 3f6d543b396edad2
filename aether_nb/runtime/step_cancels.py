"""What a cancelled step becomes: ended for good (``CANCELLED``), or left as it is for a resume.

A step's task is cancelled for one of four reasons, and only two of them end it:

* the run was stopped (``run.cancel()``), or its scheduler cancels the node on purpose (a static graph's
  ``stop_on_first_error``): it ends ``CANCELLED``;
* the run's own code gave up on it (``asyncio.wait_for``, ``asyncio.timeout``, a ``TaskGroup`` whose other task
  failed) and goes on: it ends ``CANCELLED`` at once (it stayed ``RUNNING`` in the DAG and the store for the rest
  of the run, and a sync body given up on that way was never reported as abandoned);
* the run left memory (an eviction): the resumed execution runs it;
* the loop goes away (``asyncio.run`` ending, a kernel shutting down cancels every task on it): the run is
  resumable, its step runs again then.

How the last is told from the others: a loop going away cancels *every* task on it, at once, before any of them
runs again; a run's own code giving up on a step leaves at least the task that awaits (or gave up on) it going.

A step can also end neither done nor failed nor cancelled: a :class:`StepPause` raised through it (a state graph's
``interrupt()`` in a tool a ToolNode runs) pauses it; it stays as it is, and runs again from its start when its
answer comes, as the node around it does.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aether_nb.runtime.events import RunWarning
from aether_nb.store.records import FINISHED_RUN_STATUSES

if TYPE_CHECKING:
    from aether_nb.runtime.execution import Execution, Scope, StepHost
    from aether_nb.runtime.executors import Submission

__all__ = ["MOVED", "StepPause", "cancel_ends_step", "loop_going_away", "moved", "warn_abandoned"]

MOVED = "aether_nb: the question moved to another step"
"""The message of a cancel that moves a question elsewhere (``task.cancel(MOVED)``): an MCP server's question held
by a call that got its own answer first, asked again under the call that may own it (see aether_nb.mcp). Its wait
closes ``"moved"`` and its step ends ``SKIPPED``: nobody stopped anything, and the chat shows the question once.

A wait whose answer had already come when the cancel landed (given in the same loop turn, being written) takes it
instead, and the cancel is withdrawn (``Task.uncancel``): the asking code gets the answer as if it came a moment
earlier, and an answer once accepted is never dropped with the wait (see :mod:`aether_nb.runtime.pause`)."""


def moved(exc: BaseException) -> bool:
    """Whether ``exc`` is the cancel of a question moved elsewhere (see :data:`MOVED`)."""
    return isinstance(exc, asyncio.CancelledError) and exc.args[:1] == (MOVED,)


class StepPause(BaseException):
    """Raised through the steps a pause passes (a BaseException, so ``except Exception`` in user code lets it by):
    the steps it leaves are not failed (their node stays as it is, nothing is journaled), they run again from
    their start once the pause is answered. A state graph's ``interrupt()`` is one: a ToolNode's tool that asked
    showed FAILED, "1 failed" beside "waiting for you", while nothing had failed."""


def loop_going_away() -> bool:
    """Whether every task of the running loop is being cancelled (or none is left but the caller): what
    ``asyncio.run`` does once its coroutine returned, and what a loop shutting down does to what still runs."""
    return all(task.cancelling() for task in asyncio.all_tasks())


def cancel_ends_step(execution: Execution, *, on_purpose: bool = False) -> bool:
    """Whether a step of ``execution`` whose task was just cancelled ends ``CANCELLED`` now (see the module
    docstring); ``on_purpose``: its scheduler cancelled it. False leaves it as it is: the run left memory, or the loop
    goes away (both resume it), or the run already finished (its nodes were closed then)."""
    run = execution.host
    if run.cancel_requested or on_purpose:
        return True
    if execution.detached or run.record.status in FINISHED_RUN_STATUSES:
        return False
    return not loop_going_away()


def warn_abandoned(run: StepHost, child: Scope, how: str) -> None:
    """A sync body given up on may still run in its thread: say so now, and again when it ends."""
    stays = "stopped" if how == "cancelled" else "timed out"
    for body in child.abandoned:
        if body.done():
            continue
        key = child.node_id
        run.emit(
            RunWarning,
            node_id=key,
            code="abandoned_body",
            message=f"node {key} {how} while its sync body was running; it keeps its concurrency slot until "
            "it has really ended (Python cannot stop a thread: a body in this process runs until it returns; "
            f"on a Dask worker it is interrupted). Its result will be discarded: the node stays {stays}, and "
            "it is not run again on resume unless you ask for it (resume_mode='failed_nodes'); its side "
            "effects may happen meanwhile.",
        )

        def ended(body: Submission = body, key: str | None = key) -> None:
            ok, value = body.outcome()
            what = "returned" if ok else f"ended with {type(value).__name__}"
            where = "" if body.where in (None, "thread") else f" on {body.where}"  # (a Dask worker's address)
            run.emit(
                RunWarning,
                node_id=key,
                code="abandoned_body_ended",
                message=f"the abandoned body of node {key} {what}{where}; its result was discarded.",
                detail={"returned": ok},
            )

        body.add_done_callback(ended)
