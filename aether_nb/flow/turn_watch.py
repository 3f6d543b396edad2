"""What a turn's caller (:func:`~aether_nb.flow.turns.until_pause`) waits on, and when it stops waiting: the
run's events that may end the turn, a poke when the turn's state changes without one (an answered task finished),
and whether the superstep is at rest around its open pauses; and, when a call is cancelled, the end of its turn.

LangGraph runs a turn inside the call: a cancelled ``ainvoke`` (``task.cancel()``, ``asyncio.wait_for``'s
timeout, a stream left early) raises only once its tasks have unwound and their writes are saved, so the next
call on the thread goes on at once. Here a turn is a run with a task of its own, so the cancelled call waits for
that run's end (:func:`until_ended`, bounded: a node that ignores its cancel does not hold the caller forever),
and a call that finds its thread's turn being stopped waits for the stop rather than refusing a busy thread
(:func:`settle_stop`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aether_nb.flow.compiled import CompiledGraph
    from aether_nb.flow.engine import Engine
    from aether_nb.flow.types import Interrupt
    from aether_nb.runtime.events import Event
    from aether_nb.runtime.run import Run

STOP_WAIT_S = 10.0
"""How long a cancelled call waits for its turn's run to end, and a new call for a stop under way: a node that
catches its cancel to clean up gets that long, one that ignores it does not hang the caller (the turn then still
ends, in the background, and the thread is busy until it has)."""

SETTLE_TURNS = 4
"""Loop turns a call finding its thread's turn running (not paused) gives a stop that is on its way before it
calls the thread busy: a stream left with ``break`` is closed by asyncio's finalizer hook a loop turn later, its
closing cancels the call's task in the next, whose handler stops the run in the one after."""

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


async def until_ended(run: Run, timeout: float | None = None) -> bool:
    """Wait until ``run`` (being stopped) has ended or left this process, at most ``timeout`` seconds (default
    :data:`STOP_WAIT_S`); whether it did. A cancel of the waiting code ends the wait (a second Ctrl-C, a second
    ``task.cancel()``)."""
    if run.done or not run.live:
        return True
    try:
        await run.until(lambda: run.done or not run.live, STOP_WAIT_S if timeout is None else timeout)
    except TimeoutError:
        return False
    return True


async def unwound(run: Run, exc: BaseException) -> None:
    """A call driving ``run`` was cancelled and stopped it: return once the run has ended, as LangGraph's call
    raises once its tasks have unwound; past :data:`STOP_WAIT_S` (a node ignoring its cancel) ``exc`` says so."""
    if not await until_ended(run):
        exc.add_note(
            f"(run {run.id} had not ended {STOP_WAIT_S:g} s after the cancel: a node ignores its cancellation; "
            "the thread's next call waits for it, or says the thread is busy)"
        )


async def settle_stop(graph: CompiledGraph, run: Run) -> list[tuple[str, Interrupt]] | None:
    """A call on a thread whose turn ``run`` is running: if a stop of it is under way (a cancelled call, a stream
    left early, ``app.stop``), wait for it to end (bounded, :data:`STOP_WAIT_S`), so the call goes on from the
    checkpoint the stop left, as it would in LangGraph. A turn paused with nothing running (the usual resume)
    returns at once, with its open pauses (``graph.interrupts_of(run)``, which the call answering them reads
    next: nothing awaits between); one running with no stop coming is left to the caller (busy thread)."""
    for _ in range(SETTLE_TURNS):
        if run.cancel_requested or run.done or not run.live:
            break
        engine = graph.engines.get(run.id)
        if engine is None or not engine.busy:
            pauses = graph.interrupts_of(run)
            if pauses:
                return pauses  # paused: the call answers or continues it
        await asyncio.sleep(0)
    if run.cancel_requested:
        await until_ended(run)
    return None
