"""Leftovers: the tasks a run's code started, still running when its body ended.

README: "In a finished run nothing runs or waits any more". A body can end while tasks it started go on: the other
branches of an ``asyncio.gather`` one of whose branches failed (gather does not cancel them), an
``asyncio.ensure_future(tool())`` it never awaited. They went on making the run's calls after it was reported
failed or done: an email sent and a new tool call started in a run that said it had failed, nodes flipping from
stopped to done, ``run_finished`` no longer its last event.

So each execution of a run notes every task other than its own that starts a step in it (:meth:`Leftovers.note`,
from ``Run.start_node``: once per task, not per step). When the body ends, the ones still running are cancelled
and given a moment to unwind (:meth:`Leftovers.end`): their steps end stopped and a sync body left in its thread
is said abandoned, before the run records how it ended. A task that swallows the cancel is cancelled again once
the run has ended (:meth:`Leftovers.cancel`), and any step asked for after the end is refused
(``Scope.run_step``), so nothing it does reaches the run any more. A run leaving memory cancels them too: its
execution is over, a resumed one does their work again.
"""

from __future__ import annotations

import asyncio
from typing import Any

LEFTOVER_GRACE_S = 1.0
"""How long a run's end waits for the tasks it cancelled to unwind (a task ignoring its cancel must not keep the
run from ending: it is refused every step after the end anyway)."""

_PRUNE_FROM = 64


class Leftovers:
    """The tasks (other than the run's own) that started a step in one execution of a run."""

    __slots__ = ("_prune_at", "_tasks")

    def __init__(self) -> None:
        self._tasks: dict[asyncio.Task[Any], None] = {}
        self._prune_at = _PRUNE_FROM

    def note(self, own: asyncio.Task[Any] | None) -> None:
        """The current task starts a step of the run whose own task is ``own``. Ended tasks are dropped now and then
        (a gather of ten thousand calls does not keep ten thousand finished tasks until the run ends)."""
        task = asyncio.current_task()
        if task is None or task is own or task in self._tasks:
            return
        tasks = self._tasks
        tasks[task] = None
        if len(tasks) >= self._prune_at:
            self._tasks = {t: None for t in tasks if not t.done()}
            self._prune_at = max(_PRUNE_FROM, 2 * len(self._tasks))

    def running(self) -> list[asyncio.Task[Any]]:
        """The noted tasks that have not ended (the caller's own excepted)."""
        me = asyncio.current_task()
        return [t for t in self._tasks if not t.done() and t is not me]

    async def end(self, grace_s: float = LEFTOVER_GRACE_S) -> None:
        """The body ended: cancel the tasks still running and wait until they have unwound, at most ``grace_s``.
        Returns at once (no loop turn) when there are none, as for nearly every run."""
        tasks = self.running()
        if not tasks:
            return
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=grace_s)

    def cancel(self) -> None:
        """Cancel the tasks still running, without waiting (the run has ended, or left memory), and forget them. The
        caller's own task too, if it is one (a run leaving memory from a park in a branch of its gather)."""
        for task in self._tasks:
            if not task.done():
                task.cancel()
        self._tasks = {}
        self._prune_at = _PRUNE_FROM


__all__ = ["LEFTOVER_GRACE_S", "Leftovers"]
