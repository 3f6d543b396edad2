"""Concurrency caps: the slots a body holds while it runs.

Two caps count bodies: a static graph's ``max_concurrency`` (per run, held by the scheduler) and the session's
``ag.configure(max_concurrency=N)``, which counts the bodies of every run of the session: ``@graphify`` nodes,
``@graph_fn`` tool calls (those an LLM's ``run_tools`` makes too) and state graph tasks. Why one place: a user
who caps the session to spare a rate-limited API expects it to hold whatever kind of agent calls the tool.

A body nested in one that holds the session's slot (a tool an async tool awaits, the tools of an agent a node
runs, a run a tool starts and awaits) runs inside that slot: taking a second one would deadlock a cap of 1. Once
that slot is not held any more (the parent ended, or waits for an answer), a nested body takes its own: a run a
tool started and left running counts against the cap like any other. A body waiting for an answer gives its
slots back while it waits (:data:`~aether_nb.runtime.pause.waiting_slots`); a sync body given up on (a timeout, a
cancel) keeps them until its thread really returns (:class:`~aether_nb.runtime.executors.lingering`).
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
    (timeout, cancel) is when its thread returns, not when the node stops waiting for it; and given back while the
    body waits for an answer (a person may take hours: the other nodes go on meanwhile, as in AetherGraph's
    scheduler, which counts running tasks only), taken again once the answer is in."""

    def __init__(self, *limits: asyncio.Semaphore | None) -> None:
        self._limits = [lim for lim in limits if lim is not None]
        self._loop = asyncio.get_running_loop()
        self._held = False
        self._retaking: asyncio.Lock | None = None

    async def acquire(self) -> None:
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

    def release(self) -> None:
        """Give the slots back (idempotent: concurrent waits of one node release them once)."""
        if self._held:
            self._held = False
            for lim in self._limits:
                lim.release()

    async def retake(self) -> None:
        """Hold the slots again (an answer came); concurrent answers of one node take them once."""
        if self._retaking is None:
            self._retaking = asyncio.Lock()
        async with self._retaking:
            if not self._held:
                await self.acquire()

    def release_after(self, bodies: lingering) -> None:
        bodies.when_all_done(self.release, self._loop)


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
    if limit is None or (parent is not None and parent.held):
        return await body()
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
