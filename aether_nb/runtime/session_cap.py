"""The session's cap (``ag.configure(max_concurrency=N)``) as one count across event loops and threads.

Runs of one session may execute on several loops: the kernel's, and the loop ``agent.sync()`` runs in a helper
thread or in a sync tool's worker thread. An ``asyncio.Semaphore`` belongs to one loop, so the cap was one per loop,
and a run on a second loop replaced the session's semaphore while bodies still held the old one (a cap of 1 ran two
bodies on the kernel's loop alone). :class:`SessionCap` counts the units held on every loop under a lock; a body
waiting for one waits on a future of its own loop, handed a unit thread-safely when one is given back.

A sync tool body holding a unit that runs an agent itself (``agent.sync()`` in its worker thread) is blocked while
that run executes on a loop of the same thread: it lends its unit to the calls of that run (:meth:`SessionCap.lend`),
as an async tool awaiting a run gives its slot back meanwhile (:func:`~aether_nb.runtime.slots.while_elsewhere`). A
cap of 1 then runs the nested calls one at a time in the body's unit; taking one of their own would wait for the
body, which waits for them.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque

__all__ = ["Lend", "Permit", "SessionCap"]


class Lend:
    """The unit a sync body holds, lent to the calls of runs executing in its thread while it is blocked."""

    __slots__ = ("closed", "free", "thread")

    def __init__(self, thread: int) -> None:
        self.thread = thread
        self.free = True  # not taken by a call of such a run now
        self.closed = False  # the body returned: a call still holding it holds a unit of the cap's own


class Permit:
    """One unit of a :class:`SessionCap`, held: :meth:`give_back` it once, from any thread."""

    __slots__ = ("_cap", "_given", "lend")

    def __init__(self, cap: SessionCap, lend: Lend | None) -> None:
        self._cap = cap
        self.lend = lend
        self._given = False

    def give_back(self) -> None:
        self._cap.give_back(self)


class _Waiter:
    __slots__ = ("future", "loop", "thread")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[Permit] = loop.create_future()
        self.thread = threading.get_ident()


class SessionCap:
    """``cap`` units shared by every loop and thread of the session (see the module docstring)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._lock = threading.Lock()
        self._used = 0  # units held (a lent unit counts once: as its lender's)
        self._waiters: deque[_Waiter] = deque()
        self._lends: dict[int, Lend] = {}
        self.lifted = False  # the session's cap was removed: nothing waits for this one's units any more

    def lift(self) -> None:
        """The cap was removed (``ag.configure(max_concurrency=None)``): every call waiting for a unit gets one now,
        and later takes never wait. Bodies holding units keep them (they give them back as before). Why not just
        forget this object: calls queued on it waited for its units after the cap was gone (a cap of 1 removed with
        4 calls queued still ran them one at a time), and a body answered later retook a unit from it."""
        with self._lock:
            self.lifted = True
            queued = [w for w in self._waiters if not (w.loop.is_closed() or w.future.done())]
            self._waiters.clear()
            self._used += len(queued)
            handed = [(waiter, Permit(self, None)) for waiter in queued]
        for waiter, permit in handed:
            try:
                waiter.loop.call_soon_threadsafe(_hand, waiter.future, permit)
            except RuntimeError:  # its loop closed meanwhile: the unit goes back
                permit.give_back()

    def locked(self) -> bool:
        """Whether taking a unit from this thread now would wait."""
        with self._lock:
            lend = self._lends.get(threading.get_ident())
            if self.lifted or (lend is not None and lend.free):
                return False
            return self._used >= self.cap or bool(self._waiters)

    async def take(self) -> Permit:
        """A unit, waiting (first come, first served across loops) while all are held."""
        with self._lock:
            lend = self._lends.get(threading.get_ident())
            if lend is not None and lend.free:
                lend.free = False
                return Permit(self, lend)
            if self.lifted or (self._used < self.cap and not self._waiters):
                self._used += 1
                return Permit(self, None)
            waiter = _Waiter(asyncio.get_running_loop())
            self._waiters.append(waiter)
        try:
            return await waiter.future
        except asyncio.CancelledError:
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
            fut = waiter.future
            if fut.done() and not fut.cancelled():  # handed a unit as the cancel came: it goes on to the next
                fut.result().give_back()
            raise

    def give_back(self, permit: Permit) -> None:
        """``permit``'s unit goes to the next waiter that may take it, or back to the cap (any thread)."""
        with self._lock:
            if permit._given:
                return
            permit._given = True
            lend = permit.lend
            if lend is not None and not lend.closed:
                waiter = self._next_waiter(lend.thread)
                if waiter is None:
                    lend.free = True
                    return
                handed = Permit(self, lend)
            else:
                waiter = self._next_waiter(None)
                if waiter is None:
                    self._used -= 1
                    return
                handed = Permit(self, None)
        try:
            waiter.loop.call_soon_threadsafe(_hand, waiter.future, handed)
        except RuntimeError:  # its loop closed meanwhile (it was cancelled with it): the next one takes it
            handed.give_back()

    def _next_waiter(self, thread: int | None) -> _Waiter | None:
        """The first waiter (in ``thread`` only, when given) whose loop still runs; called holding the lock."""
        for waiter in list(self._waiters):
            if waiter.loop.is_closed() or waiter.future.done():
                self._waiters.remove(waiter)
                continue
            if thread is None or waiter.thread == thread:
                self._waiters.remove(waiter)
                return waiter
        return None

    def lend(self) -> Lend:
        """The calling thread's body holds a unit, and is blocked whenever a loop runs in this thread: calls of runs
        on such a loop take that unit first. :meth:`end_lend` when the body returns."""
        lend = Lend(threading.get_ident())
        with self._lock:
            self._lends[lend.thread] = lend
        return lend

    def end_lend(self, lend: Lend) -> None:
        """The body returned (its own unit goes back with its slots): a call still holding the lent unit (a sync body
        given up on, still running) holds one of the cap's own from now on."""
        with self._lock:
            if self._lends.get(lend.thread) is lend:
                del self._lends[lend.thread]
            lend.closed = True
            if not lend.free:
                self._used += 1


def _hand(future: asyncio.Future[Permit], permit: Permit) -> None:
    """On the waiter's loop: it takes the unit, or (cancelled meanwhile) gives it on."""
    if future.done():
        permit.give_back()
    else:
        future.set_result(permit)
