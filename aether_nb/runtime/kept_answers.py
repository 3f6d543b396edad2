"""An answer a wait has taken is kept through a cancel that moves its question elsewhere.

A question moves (:data:`~aether_nb.runtime.step_cancels.MOVED`) when the MCP call holding it got its own reply: the
task waiting for it is cancelled, and the question is asked under another call. While the wait is open, a moving
cancel that lands as the answer comes is sorted out by the wait itself (:mod:`~aether_nb.runtime.pause`: the answer
is taken and the cancel withdrawn, or the answer is refused to whoever gave it). Once the wait has its answer, its
step still awaits two things before the asking code gets it: its concurrency slots, given back while it waited and
taken again now (:meth:`~aether_nb.runtime.pause.Slots.retake`, which waits while another body holds the cap), and in
``"sync"`` durability its journal entry written (the step's barrier, which waits while the store retries a failed
write). A moving cancel landing there cut the step: the answer, stored and journaled, never reached the code; the
question was asked again under another call (the person answered twice, the first answer went nowhere) and the step
showed skipped. Such a cancel is now withdrawn there: the step ends with its answer, as if the cancel had come a
moment later, once the asking code had it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aether_nb.runtime.step_cancels import moved

__all__ = ["despite_moving", "withdrawn_if_moving"]

T = TypeVar("T")


def withdrawn_if_moving(cancel: asyncio.CancelledError) -> bool:
    """Withdraw ``cancel`` (``Task.uncancel``) when it only moves a question and nothing else cancelled the task;
    True when withdrawn. A Stop, an eviction, a loop going away or the code giving up on the step are never."""
    task = asyncio.current_task()
    if not moved(cancel) or task is None or task.cancelling() != 1:
        return False
    task.uncancel()
    return True


async def despite_moving(finish: Callable[[], Awaitable[T]]) -> T:
    """``await finish()``, a part of ending a step whose answer was taken, again after a moving cancel (withdrawn:
    see the module docstring). ``finish`` must be safe to call again after a cancel (it did nothing, or what it did
    is not done twice: a barrier, :meth:`~aether_nb.runtime.slots.Slots.retake`)."""
    while True:
        try:
            return await finish()
        except asyncio.CancelledError as cancel:
            if not withdrawn_if_moving(cancel):
                raise
