"""Concurrency caps: the slots a body holds while it runs.

Two caps count bodies: a static graph's ``max_concurrency`` (per run, held by the scheduler) and the session's
``ag.configure(max_concurrency=N)``, which counts the bodies of every run of the session: ``@graphify`` nodes,
``@graph_fn`` tool calls (those an LLM's ``run_tools`` makes too) and state graph tasks. Why one place: a user
who caps the session to spare a rate-limited API expects it to hold whatever kind of agent calls the tool.

A body nested in one that holds the session's slot (a tool an async tool awaits, the tools of an agent a node
runs, a run a tool starts and awaits) runs inside that slot: taking a second one would deadlock a cap of 1. Once
that slot is not held any more (the parent ended, or waits for an answer), a nested body takes its own: a run a
tool started and left running counts against the cap like any other. A body waiting for an answer gives its
slots back while it waits (:data:`~aether_nb.runtime.pause.waiting_slots`), once nothing else runs in them (a
nested call asking while its sibling in the same slot works keeps it: :class:`Slots`); a sync body given up on (a
timeout, a cancel) keeps them until its thread really returns (:class:`~aether_nb.runtime.executors.lingering`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TypeVar

from aether_nb.runtime.executors import lingering
from aether_nb.runtime.pause import waiting_slots

T = TypeVar("T")


def session_limit(config: MutableMapping[str, Any]) -> asyncio.Semaphore | None:
    """The session-wide cap's semaphore on this loop (one per loop: a semaphore belongs to the loop it ran on), or
    None when the session has no cap. ``config`` is the session's config dict."""
    cap = config.get("global_max_concurrency")
    if cap is None:
        return None
    loop = asyncio.get_running_loop()
    held = config.get("global_slots")
    if not (isinstance(held, tuple) and held[0] is loop and held[1] == cap):
        held = (loop, cap, asyncio.Semaphore(int(cap)))
        config["global_slots"] = held
    sem: asyncio.Semaphore = held[2]
    return sem


class Slots:
    """The caps a body holds while it runs: released when the body really ends, which for a sync body given up on
    (timeout, cancel) is when its thread returns, not when the node stops waiting for it; and given back while
    nothing in them runs (a person may take hours: the other nodes go on meanwhile, as in AetherGraph's
    scheduler, which counts running tasks only), taken again once an answer is in.

    What runs in them: the body that took them (the owner) and the bodies nested in it (:meth:`share`). An owner
    with nested bodies under way is taken to be awaiting them, so the slots go back when every nested body waits
    for an answer, and stay while one of them still runs (one nested call asking beside another that works gave
    the whole slot back: another run's body started beside the working one, cap + 1).
    """

    def __init__(self, *limits: asyncio.Semaphore | None) -> None:
        self._limits = [lim for lim in limits if lim is not None]
        self._loop = asyncio.get_running_loop()
        self._held = False
        self._retaking: asyncio.Lock | None = None
        self._owner_runs = False
        self._owner_waits = False
        self._ended = False
        self._awake = 0  # nested bodies running in the slots
        self._asleep = 0  # nested bodies waiting for an answer

    async def acquire(self) -> None:
        """The owner's body starts: it holds the slots (waiting for them while the caps are full)."""
        await self._acquire_limits()
        self._owner_runs = True

    async def _acquire_limits(self) -> None:
        taken: list[asyncio.Semaphore] = []
        try:
            for lim in self._limits:
                await lim.acquire()
                taken.append(lim)
        except BaseException:
            for lim in taken:
                lim.release()
            raise
        self._held = True

    @property
    def held(self) -> bool:
        return self._held

    def _settle(self) -> None:
        """Give the slots back when nothing in them runs."""
        if self._held and not self._owner_runs and self._awake == 0:
            self._held = False
            for lim in self._limits:
                lim.release()

    async def _take(self) -> None:
        """Hold the slots (once, however many answers come at the same time)."""
        if self._retaking is None:
            self._retaking = asyncio.Lock()
        async with self._retaking:
            if not self._held:
                await self._acquire_limits()

    # -- the owner ---------------------------------------------------------------------------------------------------
    def release(self) -> None:
        """The owner waits for an answer (idempotent: concurrent waits of one node give them back once)."""
        self._owner_waits = True
        self._owner_runs = False
        self._settle()

    async def retake(self) -> None:
        """The owner's answer came: it runs again, holding the slots."""
        self._owner_waits = False
        await self._take()
        self._owner_runs = not self._ended

    def end(self) -> None:
        """The owner's body ended (or never started): the slots go back once no nested body runs in them."""
        self._ended = True
        self._owner_runs = False
        self._settle()

    def release_after(self, bodies: lingering) -> None:
        bodies.when_all_done(self.end, self._loop)

    # -- nested bodies ------------------------------------------------------------------------------------------------
    def share(self) -> Shared:
        """A nested body starts in these slots (held now): it counts as running in them until it ends."""
        self._awake += 1
        self._owner_runs = False  # (awaiting it, as far as the slots can tell)
        return Shared(self)

    def nested_ended(self, waiting: bool) -> None:
        """A nested body ended (``waiting``: while one of its waits was open, i.e. it was cancelled there)."""
        if waiting:
            self._asleep -= 1
        else:
            self._awake -= 1
        if self._awake == 0 and self._asleep == 0 and not self._owner_waits and not self._ended:
            self._owner_runs = True  # its nested calls are done: the owner's code goes on
        self._settle()

    def nested_waits(self) -> None:
        self._awake -= 1
        self._asleep += 1
        self._settle()

    async def nested_answered(self) -> None:
        await self._take()
        self._asleep -= 1
        self._awake += 1


class Shared:
    """A nested body's hold on its parent's slots, as the waits it makes see them (:data:`waiting_slots`): like the
    owner's, concurrent waits of one body give its share back once, and the first answer takes it again."""

    def __init__(self, owner: Slots) -> None:
        self.owner = owner
        self._waiting = False

    @property
    def held(self) -> bool:
        return self.owner.held

    def share(self) -> Shared:
        return self.owner.share()

    def release(self) -> None:
        if not self._waiting:
            self._waiting = True
            self.owner.nested_waits()

    async def retake(self) -> None:
        if self._waiting:
            await self.owner.nested_answered()
            self._waiting = False

    def ended(self) -> None:
        self.owner.nested_ended(self._waiting)
        self._waiting = False


async def in_session_slot(
    config: MutableMapping[str, Any],
    body: Callable[[], Awaitable[T]],
    queued: Callable[[bool], None] | None = None,
) -> T:
    """Await ``body()`` holding a slot of the session's cap (none when the session has no cap, or when the caller
    holds one now: a nested body runs inside its parent's slot). ``queued(True)`` is called when the body must
    wait for a slot and ``queued(False)`` once it has one (the DAG shows such a step pending, not running)."""
    limit = session_limit(config)
    parent = waiting_slots.get()
    if limit is None:
        return await body()
    if isinstance(parent, (Slots, Shared)) and parent.held:
        shared = parent.share()
        inside = waiting_slots.set(shared)
        try:
            return await body()
        finally:
            waiting_slots.reset(inside)
            shared.ended()
    slots = Slots(limit)
    if queued is not None and limit.locked():
        queued(True)
        await slots.acquire()
        queued(False)
    else:
        await slots.acquire()
    bodies = lingering()
    held = waiting_slots.set(slots)
    try:
        with bodies:
            return await body()
    finally:
        waiting_slots.reset(held)
        slots.release_after(bodies)
