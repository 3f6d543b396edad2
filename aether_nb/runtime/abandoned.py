"""Sync bodies given up on that still run, by the step they ran for: a step that runs again waits for them first.

Python cannot stop a thread, so a body whose node timed out or was cancelled goes on (README, "Sync tools keep
their limits"). A retry inside the same execution already waits for it (:meth:`~aether_nb.runtime.executors.
lingering.all_done`), but a run resumed with ``resume_mode="failed_nodes"`` is a new execution, with new
slots: its node started beside the old thread, two copies of the effect at once, even under a cap of 1. The
registry below outlives the execution: :func:`~aether_nb.runtime.executors.linger` notes every abandoned body
under its session, run and step, the entry goes when the body really ends, and whoever runs that step again
awaits :func:`settled` first.

Nothing is paid per step while no body is abandoned: :func:`any_running` is one truth test of a dict.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aether_nb.runtime.executors import Submission

__all__ = ["any_running", "note", "note_here", "running_for", "running_here", "settled"]

_lock = threading.Lock()
# (run id, step key) -> [(session, body)], only bodies still running (an entry goes when its body ends)
_running: dict[tuple[str, str], list[tuple[Any, Submission]]] = {}


def any_running() -> bool:
    """Whether any abandoned body still runs (the only check a step pays while none does)."""
    return bool(_running)


def note(session: Any, run_id: str, key: str, body: Submission) -> None:
    """``body``, the sync body of step ``key`` of run ``run_id`` (of ``session``), was given up on and may still run."""
    if body.done():
        return
    entry = (session, body)
    with _lock:
        _running.setdefault((run_id, key), []).append(entry)

    def ended() -> None:
        with _lock:
            bodies = _running.get((run_id, key))
            if bodies is not None and entry in bodies:
                bodies.remove(entry)
                if not bodies:
                    del _running[(run_id, key)]

    body.add_done_callback(ended)  # (at once when it ended meanwhile)


def _here() -> tuple[Any, str, str] | None:
    """(session, run id, step key) of the step whose code runs now, or None outside any run."""
    from aether_nb.runtime.execution import current_scope  # (execution imports what imports this module)

    scope = current_scope()
    if scope is None or scope.node_id is None:
        return None
    run = scope.run
    return run.session, run.id, scope.node_id


def note_here(body: Submission) -> None:
    """:func:`note` for the step whose code runs now (nothing outside a run)."""
    here = _here()
    if here is not None:
        note(*here, body)


def running_here() -> list[Submission]:
    """:func:`running_for` the step whose code runs now (none outside a run)."""
    if not _running:
        return []
    here = _here()
    return [] if here is None else running_for(*here)


def running_for(session: Any, run_id: str, key: str) -> list[Submission]:
    """The abandoned bodies of step ``key`` of run ``run_id`` (of ``session``) that still run."""
    if not _running:
        return []
    with _lock:
        return [b for s, b in _running.get((run_id, key), ()) if s is session and not b.done()]


async def settled(session: Any, run_id: str, key: str) -> None:
    """Return once no abandoned body of step ``key`` of run ``run_id`` runs any more (at once when none does)."""
    bodies = running_for(session, run_id, key)
    if not bodies:
        return
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    left = [len(bodies)]

    def one_ended() -> None:  # (in the body's thread)
        with _lock:
            left[0] -= 1
            last = left[0] == 0
        if last:
            with contextlib.suppress(RuntimeError):  # (the loop closed: nobody waits any more)
                loop.call_soon_threadsafe(lambda: None if done.done() else done.set_result(None))

    for body in bodies:
        body.add_done_callback(one_ended)
    await asyncio.shield(done)
