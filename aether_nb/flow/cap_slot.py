"""A task's slot of ``config["max_concurrency"]`` (the engine's semaphore), which the task lets go of while it waits
at an ``interrupt()``.

Why: in LangGraph a task that calls ``interrupt()`` ends there (the node runs again from its start once answered),
so its slot is free and a sibling waiting for one runs before the call returns the pause. Here the task waits for
its answer in place; holding its slot meanwhile made a sibling run only after the answer (``max_concurrency=1``:
nothing else of the superstep ran before the pause). The cap still holds while node code runs: the task takes a
slot again before its node runs again with the answer.
"""

from __future__ import annotations

import asyncio


class CapSlot:
    """``async with CapSlot(sem)``: one slot of ``sem`` for the block, which :meth:`let_go` frees early and
    :meth:`take_again` takes back; the block's end frees it only if held (a cancel while it was let go or being
    taken back leaves the count as it was)."""

    __slots__ = ("held", "sem")

    def __init__(self, sem: asyncio.Semaphore) -> None:
        self.sem = sem
        self.held = False

    async def __aenter__(self) -> CapSlot:
        await self.sem.acquire()
        self.held = True
        return self

    async def __aexit__(self, *_: object) -> None:
        self.let_go()

    def let_go(self) -> None:
        """Free the slot (the task waits at a question: no node code of it runs)."""
        if self.held:
            self.held = False
            self.sem.release()

    async def take_again(self) -> None:
        """Wait for a slot again (the answer came: the node runs again)."""
        if not self.held:
            await self.sem.acquire()
            self.held = True


__all__ = ["CapSlot"]
