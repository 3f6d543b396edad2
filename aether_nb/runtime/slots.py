"""Concurrency caps: the slots a body holds while it runs.

Two caps count bodies: a static graph's ``max_concurrency`` (per run, held by the scheduler) and the session's
``ag.configure(max_concurrency=N)``, which counts the bodies of every run of the session: ``@graphify`` nodes,
``@graph_fn`` tool calls (those an LLM's ``run_tools`` makes too) and state graph tasks. Why one place: a user
who caps the session to spare a rate-limited API expects it to hold whatever kind of agent calls the tool.

A body nested in one that holds the session's slot (a tool an async tool awaits, the tools of an agent a node
runs, the nodes of a static graph a tool awaits) runs inside that slot: taking a second one would deadlock a cap
of 1. Once that slot is not held any more (the parent ended, or waits for an answer), a nested body takes its own.
A run a tool starts is not nested in it: its task starts holding no slot (:func:`outside_slots`), and a tool
awaiting it gives its own back meanwhile (:func:`while_elsewhere`). A body waiting for an answer gives its slots
back while it waits (:data:`~aether_nb.runtime.pause.waiting_slots`), once nothing else runs in them (a nested
call asking while its sibling in the same slot works keeps it: :class:`Slots`); a sync body given up on (a
timeout, a cancel) keeps them until its thread really returns (:class:`~aether_nb.runtime.executors.lingering`).
The session's cap is one count across event loops (:mod:`~aether_nb.runtime.session_cap`): ``agent.sync()`` in a
helper thread, or in a sync tool's worker thread (:func:`in_worker_thread`), runs on a loop of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any, Protocol, TypeVar

from aether_nb.runtime.executors import detach_bodies, lingering
from aether_nb.runtime.pause import Slots as WaitingSlots
from aether_nb.runtime.pause import waiting_slots
from aether_nb.runtime.session_cap import Permit, SessionCap

T = TypeVar("T")

_caps = threading.Lock()


def session_limit(config: MutableMapping[str, Any]) -> SessionCap | None:
    """The session-wide cap, one count for every loop and thread of the session (see
    :mod:`~aether_nb.runtime.session_cap`), or None when the session has no cap. ``config`` is the session's config
    dict. A semaphore per loop was replaced by each loop in turn, bodies still holding the one before."""
    cap = config.get("global_max_concurrency")
    if cap is None:
        return None
    with _caps:
        held = config.get("global_slots")
        if not (isinstance(held, SessionCap) and held.cap == cap):
            held = SessionCap(int(cap))
            config["global_slots"] = held
    return held


def remove_session_limit(config: MutableMapping[str, Any]) -> None:
    """Remove the session's cap (``ag.configure(max_concurrency=None)``): the calls queued for one of its units go
    now (:meth:`SessionCap.lift`); the bodies holding units keep running in them."""
    with _caps:
        config.pop("global_max_concurrency", None)
        held = config.pop("global_slots", None)
    if isinstance(held, SessionCap):
        held.lift()


class _Held(Protocol):
    def give_back(self) -> None: ...


class _Semaphore:
    """A held unit of a static graph's per-run cap (a semaphore of the run's loop)."""

    __slots__ = ("sem",)

    def __init__(self, sem: asyncio.Semaphore) -> None:
        self.sem = sem

    def give_back(self) -> None:
        self.sem.release()


async def _take(limit: asyncio.Semaphore | SessionCap) -> _Held:
    if isinstance(limit, SessionCap):
        return await limit.take()
    await limit.acquire()
    return _Semaphore(limit)


class _Body:
    """One body running in a set of slots: the owner that took them, or a body nested in it (or in a nested one)."""

    __slots__ = ("children", "ended", "parent", "runs", "waits")

    def __init__(self, parent: _Body | None) -> None:
        self.parent = parent
        self.children = 0  # nested bodies under way (it is taken to be awaiting them)
        self.waits = 0  # its questions open now
        self.runs = False
        self.ended = False


class Slots:
    """The caps a body holds while it runs: released when the body really ends, which for a sync body given up on
    (timeout, cancel) is when its thread returns, not when the node stops waiting for it; and given back while
    nothing in them runs (a person may take hours: the other nodes go on meanwhile, as in AetherGraph's
    scheduler, which counts running tasks only), taken again once an answer is in.

    What runs in them: the body that took them (the owner) and the bodies nested in it, at any depth
    (:meth:`share`), each a :class:`_Body`. A body with nested bodies under way is taken to be awaiting them, and
    one with questions open to be waiting for them: the slots go back when no body runs, and stay while one does
    (one nested call asking beside another that works gave the whole slot back: another run's body started
    beside the working one, cap + 1). What this cannot see: a body's own code running beside its nested calls
    (``gather(nested_tool(), plain_coroutine())``) is taken to be awaiting them.
    """

    def __init__(self, *limits: asyncio.Semaphore | SessionCap | None) -> None:
        self._limits = [lim for lim in limits if lim is not None]
        self._loop = asyncio.get_running_loop()
        self._held = False
        self._units: list[_Held] = []  # what holding them holds now, given back by _settle
        self._retaking: asyncio.Lock | None = None
        self._root = _Body(None)
        self._running = 0  # bodies whose ``runs`` is set

    @property
    def held(self) -> bool:
        return self._held

    async def acquire(self) -> None:
        """The owner's body starts: it holds the slots (waiting for them while the caps are full)."""
        await self._acquire_limits()
        self._set_runs(self._root, True)

    async def _acquire_limits(self) -> None:
        taken: list[_Held] = []
        try:
            for lim in self._limits:
                taken.append(await _take(lim))
        except BaseException:
            for unit in taken:
                unit.give_back()
            raise
        self._units = taken
        self._held = True

    def _set_runs(self, body: _Body, value: bool) -> None:
        if body.runs != value:
            body.runs = value
            self._running += 1 if value else -1

    @staticmethod
    def _free(body: _Body) -> bool:
        """Whether ``body``'s own code goes on: no question open, no nested body under way, not ended."""
        return not body.waits and not body.children and not body.ended

    async def _take(self) -> None:
        """Hold the slots (taken once, however many bodies ask for them at the same time)."""
        if self._retaking is None:
            self._retaking = asyncio.Lock()
        async with self._retaking:
            if not self._held:
                await self._acquire_limits()

    def _settle(self) -> None:
        """Give the slots back when no body in them runs."""
        if self._held and self._running == 0:
            self._held = False
            units, self._units = self._units, []
            for unit in units:
                unit.give_back()

    # -- what a body does -------------------------------------------------------------------------------------------
    def body_waits(self, body: _Body) -> None:
        body.waits += 1
        self._set_runs(body, False)
        self._settle()

    async def body_answered(self, body: _Body) -> None:
        """One of ``body``'s questions was answered (or timed out): with none left open and no nested body under
        way it runs again, holding the slots (taken once, however many answers come at the same time).

        All or nothing: cancelled while it waits for them, the body is left waiting as before the call, and its
        caller either calls this again (a cancel withdrawn: :mod:`~aether_nb.runtime.kept_answers`) or gives the
        question up (:meth:`body_forgets`). Counted answered at once, a call made again counted the answer twice
        (a body with two questions open then took the slots with one still open)."""
        counted = body.waits > 0
        if counted:
            body.waits -= 1
        if not self._free(body):
            return
        try:
            await self._take()
        except asyncio.CancelledError:
            if counted:
                body.waits += 1
            raise
        if self._free(body):
            self._set_runs(body, True)
        self._settle()  # (an answer that came for a body that ended meanwhile holds nothing)

    def body_forgets(self, body: _Body) -> None:
        """One of ``body``'s questions ended without an answer (its wait was cancelled, e.g. by ``wait_for``): it is
        not waiting for it any more. Its code may go on (it caught the cancel): in the slots if they are held, else
        outside them until its next question is answered or its next nested call takes a slot (no wait is possible
        in a cancelled task's cleanup). A count left behind kept the body from ever taking the slots again."""
        body.waits = max(0, body.waits - 1)
        if self._free(body) and self._held:
            self._set_runs(body, True)

    def body_ended(self, body: _Body) -> None:
        if body.ended:
            return
        body.ended = True
        self._set_runs(body, False)
        parent = body.parent
        if parent is not None:
            parent.children -= 1
            # Its nested calls are done: its code goes on (in the slots, if they are held: a nested body cancelled
            # while it waited for an answer ends where nothing holds them, and its parent's code goes on beside).
            if self._free(parent) and self._held:
                self._set_runs(parent, True)
        self._settle()

    async def join(self, parent: _Body | None = None) -> Shared:
        """:meth:`share`, taking the slots first when nothing holds them now (every body in them waits, or the one
        that started it ended): the nested body counts against the same caps as its parent."""
        if not self._held:
            await self._take()
        return self.share(parent)

    def locked(self) -> bool:
        """Whether taking the slots now would wait (they are not held, and a cap is full)."""
        return not self._held and any(lim.locked() for lim in self._limits)

    def share(self, parent: _Body | None = None) -> Shared:
        """A body nested in ``parent`` (default: the owner) starts in these slots (held now)."""
        into = self._root if parent is None else parent
        body = _Body(into)
        into.children += 1
        self._set_runs(into, False)  # (awaiting it, as far as the slots can tell)
        self._set_runs(body, True)
        return Shared(self, body)

    # -- the owner (what a wait calls, see :class:`~aether_nb.runtime.pause.Slots`) ---------------------------------
    def release(self) -> None:
        """The owner waits for an answer."""
        self.body_waits(self._root)

    async def retake(self) -> None:
        """The owner's answer came."""
        await self.body_answered(self._root)

    def forget(self) -> None:
        """A wait of the owner was cancelled (see :meth:`body_forgets`)."""
        self.body_forgets(self._root)

    def end(self) -> None:
        """The owner's body ended (or never started): the slots go back once no nested body runs in them."""
        self.body_ended(self._root)

    def release_after(self, bodies: lingering) -> None:
        bodies.when_all_done(self.end, self._loop, self._end_elsewhere)

    def _end_elsewhere(self) -> None:
        """The last body given up on ended after this loop closed (``agent.sync()``'s loop, in a thread): the units
        of the session's cap go back from the body's thread (it counts every loop's); the rest died with the loop."""
        if self._held:
            self._held = False
            units, self._units = self._units, []
            for unit in units:
                if isinstance(unit, Permit):
                    unit.give_back()

    def session_caps(self) -> list[SessionCap]:
        """The session caps among these slots' limits."""
        return [lim for lim in self._limits if isinstance(lim, SessionCap)]


class Shared:
    """A nested body's hold on the slots it runs in, as the waits it makes see them (:data:`waiting_slots`)."""

    def __init__(self, slots: Slots, body: _Body) -> None:
        self.slots = slots
        self.body = body

    @property
    def held(self) -> bool:
        return self.slots.held

    def share(self) -> Shared:
        return self.slots.share(self.body)

    async def join(self) -> Shared:
        return await self.slots.join(self.body)

    def locked(self) -> bool:
        return self.slots.locked()

    def release(self) -> None:
        self.slots.body_waits(self.body)

    async def retake(self) -> None:
        await self.slots.body_answered(self.body)

    def forget(self) -> None:
        self.slots.body_forgets(self.body)

    def ended(self) -> None:
        self.slots.body_ended(self.body)

    def session_caps(self) -> list[SessionCap]:
        return self.slots.session_caps()


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
    if isinstance(parent, (Slots, Shared)):
        # In the slots of its caller (the session's, or a static graph node's under its run's cap), taken again
        # first if nothing holds them now (its caller waits for an answer, say): the same caps count it.
        if parent.held:
            shared = parent.share()
        elif queued is not None and parent.locked():
            queued(True)
            shared = await parent.join()
            queued(False)
        else:
            shared = await parent.join()
        inside = waiting_slots.set(shared)
        try:
            return await body()
        finally:
            waiting_slots.reset(inside)
            shared.ended()
    if limit is None:
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


@contextlib.contextmanager
def in_worker_thread() -> Iterator[None]:
    """Around a sync body in its worker thread (its context a copy of the caller's): what belongs to the caller's
    loop stays there, and a unit of the session's cap the body holds is lent to the runs it executes in this thread.

    The slots the body runs in (:data:`waiting_slots`), the bodies they collect (see :func:`detach_bodies`) are the
    caller loop's: a run the body executes (``agent.sync()``, a loop of its own in this thread) found them and took
    the caller's semaphore on its loop (``RuntimeError: ... bound to a different event loop``). That run's calls take
    slots of their own, the body's first: it is blocked while they run (:meth:`SessionCap.lend`)."""
    slots = waiting_slots.get()
    waiting_slots.set(None)
    detach_bodies()
    lends = []
    if isinstance(slots, (Slots, Shared)) and slots.held:
        lends = [(cap, cap.lend()) for cap in slots.session_caps()]
    try:
        yield
    finally:
        for cap, lend in lends:
            cap.end_lend(lend)


def outside_slots() -> contextvars.Context:
    """A copy of the current context holding no slots: a run's own task starts in it. A run a tool starts is not a
    body nested in the tool (it shared the tool's slot, and a tool starting three and working on ran four bodies
    under a cap of 1): its calls take slots of their own, and a tool awaiting it gives its own back meanwhile
    (:func:`while_elsewhere`), so a cap of 1 does not deadlock."""
    context = contextvars.copy_context()
    context.run(waiting_slots.set, None)
    return context


async def while_elsewhere(work: Awaitable[T]) -> T:
    """Await ``work`` that runs in slots of its own (another run) without holding the caller's: for the slots, the
    caller waits, as for an answer, and holds them again when it goes on."""
    slots = waiting_slots.get()
    if slots is None or not slots.held:
        return await work
    slots.release()
    try:
        out = await work
    except asyncio.CancelledError:
        slots.forget()
        raise
    except BaseException:
        await _hold_again(slots)
        raise
    await _hold_again(slots)
    return out


async def _hold_again(slots: WaitingSlots) -> None:
    """``slots.retake()``; cancelled meanwhile, the caller is not waiting any more (``forget``): its code may go on
    (it caught the cancel), and a wait left counted kept its body from ever holding the slots again."""
    try:
        await slots.retake()
    except asyncio.CancelledError:
        slots.forget()
        raise
