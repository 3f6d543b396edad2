"""What a turn's caller (:func:`~aether_nb.flow.turns.until_pause`) waits on, and when it stops waiting: the
run's events that may end the turn, a poke when the turn's state changes without one (an answered task finished),
and whether the superstep is at rest around its open pauses.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aether_nb.flow.engine import Engine
    from aether_nb.flow.types import Interrupt
    from aether_nb.runtime.events import Event

TURN_ENDING = frozenset({"wait_opened", "run_finished", "node_finished", "node_ran", "run_status"})
"""The kinds of event after which a turn's caller looks again whether the turn paused or ended."""


class TurnWatch:
    """What a turn's caller (:func:`~aether_nb.flow.turns.until_pause`) waits on: an event that may end the turn
    or, for a stream, each event in order. One future at a time, no queue: a thousand turns resumed together each
    kept an ``asyncio.Queue`` (its event, deques and dicts, ~8 objects) alive for the whole turn, and the garbage
    collector carried them all into its oldest generation (W5, bench/README)."""

    __slots__ = ("_future", "_poked", "_woken", "events")

    def __init__(self, keep_events: bool) -> None:
        self.events: deque[Event] | None = deque() if keep_events else None
        self._woken = False
        self._poked = False
        self._future: asyncio.Future[None] | None = None

    def __call__(self, event: Event) -> None:
        if self.events is not None:
            self.events.append(event)
        elif event.kind in TURN_ENDING:
            self._woken = True
        else:
            return
        self._wake()

    def poke(self) -> None:
        """The turn's state changed without an event (an answered task finished): look again."""
        self._poked = True
        self._wake()

    def _wake(self) -> None:
        future = self._future
        if future is not None and not future.done():
            future.set_result(None)

    async def next(self) -> Event | None:
        """The next event (a stream's), or None once an event that may end the turn came (no stream) or the
        turn's state changed (:meth:`poke`)."""
        while not self._ready():
            self._future = asyncio.get_running_loop().create_future()
            try:
                await self._future
            finally:
                self._future = None
        if self.events:
            return self.events.popleft()
        self._woken = self._poked = False
        return None

    def _ready(self) -> bool:
        if self._poked:
            return True
        return bool(self.events) if self.events is not None else self._woken


def settled(engine: Engine, pauses: list[tuple[str, Interrupt]]) -> bool:
    """Whether the turn's superstep is at rest around its open pauses, as LangGraph returns once every task of it
    finished or paused: no task runs node code, none failed, and each task whose question this call answered
    finished or asked a question that is open now (between the answer and that, it is neither busy nor parked)."""
    if engine.busy or engine.failing:
        return False
    return not engine.awaits_outcome({i.id for _, i in pauses})
