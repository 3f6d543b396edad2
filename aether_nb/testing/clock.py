"""ManualClock: time that moves only when a test says so, so deadlines are tested without sleeping."""

from __future__ import annotations

import asyncio

from aether_nb.testing.checks import check_number, check_time


class ManualClock:
    """A :class:`~aether_nb.runtime.clock.Clock` advanced by :meth:`advance`."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = check_number(start, "ManualClock(start=...) (seconds since the epoch)")
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> float:
        return self._now

    @property
    def sleepers(self) -> int:
        """How many coroutines are sleeping on this clock (tests wait for this before advancing)."""
        self._sleepers = [(t, f) for t, f in self._sleepers if not f.done()]
        return len(self._sleepers)

    async def sleep_until(self, when: float) -> None:
        when = check_time(when, "sleep_until(when)")
        if when <= self._now:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((when, fut))
        await fut

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose time has come."""
        self._now += check_number(seconds, "advance(seconds)", low=0)
        keep = []
        for when, fut in self._sleepers:
            if fut.done():
                continue
            if when <= self._now:
                fut.get_loop().call_soon_threadsafe(_wake, fut)
            else:
                keep.append((when, fut))
        self._sleepers = keep


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
