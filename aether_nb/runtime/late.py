"""A sync tool body that ends after its event loop stopped: its result is journaled from the body's thread.

Why: a kernel restart from JupyterLab asks the kernel to shut down; its loop stops at once, but Python waits for
the worker threads of a running sync tool before the process exits (up to the few seconds jupyter_client allows).
The body finished then, its effect done (a booking, an e-mail), and no loop was left to journal its result: the
resumed run ran the tool again. Now the body's thread journals the step itself when it ends with no loop running
it, and the history's write goes through at once (there is no loop for a write-behind). The node's end is
written by the resumed run, which replays the step (as for a step whose end event a kill lost).

Only a step still in flight is journaled this way: one that timed out, was cancelled or was given up on before
its loop stopped has ended in the run's DAG, with its own outcome.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aether_nb.runtime.graph import FINAL_NODE_STATUSES
from aether_nb.store import redact

if TYPE_CHECKING:
    from aether_nb.runtime.execution import Scope
    from aether_nb.runtime.executors import Submission

_log = redact.logger("aether_nb")


def journal_if_loop_gone(
    child: Scope, body: Submission, loop: asyncio.AbstractEventLoop, finish: Any, label: str
) -> None:
    """In the body's thread, when it ended: journal step ``child`` with ``finish(result)`` if ``loop`` no longer
    runs (see the module docstring). ``finish`` turns the body's return value into the step's value (the tool's
    outputs, checked); a body that raised, or a value it refuses, is left to run again on resume."""
    if loop.is_running() or child.step is None or child.node_id is None:
        return  # (the common case: the loop gets the result and journals it)
    ok, value = body.outcome()
    if not ok:
        return
    parent, name, kind, fp = child.step
    run = parent.execution.host
    try:
        graph = run.graph
        if child.node_id in graph and graph.node(child.node_id).status in FINAL_NODE_STATUSES:
            return  # it ended before the loop stopped (timed out, cancelled): that outcome stands
        parent.journal(child.node_id, name, kind, fp, finish(value), None)
    except Exception as exc:  # (at exit, in a worker thread: nobody to raise to; say it)
        _log.error(
            "aether_nb: the result of step %s (%s) of run %s, which ended after the kernel's loop stopped, could not "
            "be journaled; a resume runs it again: %s",
            child.node_id,
            label,
            run.id,
            exc,
        )
        return
    _log.warning(
        "aether_nb: step %s (%s) of run %s ended after the kernel's loop stopped; its result is journaled, so a "
        "resume does not run it again",
        child.node_id,
        label,
        run.id,
    )
