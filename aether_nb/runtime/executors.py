"""Where sync tool bodies run: the :class:`Executor` protocol, and the thread executor every session starts with.

A sync tool body never runs on the kernel's event loop (it would freeze the widget); an executor runs it elsewhere
and hands back a :class:`Submission`. The runtime keeps the journal, the waits and the DAG in the kernel; only the
body travels. A second implementation (``aether_nb.DaskExecutor``, a cluster) plugs in through the same protocol,
and a Ray executor would be one small class:

.. code-block:: python

    class RayExecutor:
        name = "ray"
        def submit(self, fn, args, kwargs, *, label):
            ref = ray.remote(fn).remote(*args, **kwargs)
            return RaySubmission(ref)          # result() awaits the ref, cancel() calls ray.cancel(ref) ...

A body that is *abandoned* (its node timed out, or its run was cancelled) cannot always be stopped: a Python thread
cannot be killed. Such a body keeps its concurrency slot until it really ends, so caps count bodies that run, not
awaits that are still pending (:func:`linger`, used by the scheduler), its step run again waits for it
(:mod:`~aether_nb.runtime.abandoned`), and its late result is never counted as the node's success (see README,
"Tools"). It keeps its thread, but not its place among a :class:`ThreadExecutor`'s threads: later bodies never
queue behind one that may never return.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import contextvars
import os
import threading
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from aether_nb.errors import RunError, UsageError, shown
from aether_nb.runtime import abandoned

__all__ = [
    "BODY_EXIT",
    "Executor",
    "Submission",
    "ThreadExecutor",
    "body_exit",
    "check_executor",
    "detach_bodies",
    "linger",
    "lingering",
    "restart_step_timeout",
    "submitted",
    "track",
    "untrack",
]


restart_step_timeout: contextvars.ContextVar[tuple[str, Callable[[bool], None]] | None] = contextvars.ContextVar(
    "aether_nb_restart_step_timeout", default=None
)
"""Set by a node's ``_timeout_s`` while its step runs: ``(node id, clock)``; ``clock(False)`` stops its timeout,
``clock(True)`` starts it again from now. The node's own body, when it waits in a cluster's queue or for a
:class:`ThreadExecutor`'s thread (a submission with ``add_start_callback``), stops it until the body starts: a
timeout limits the body's run, not its wait for a worker (steps nested in the node leave it alone)."""


@runtime_checkable
class Submission(Protocol):
    """One body handed to an executor."""

    where: str | None
    """Where it runs, for the node inspector (``"thread"``, a Dask worker's address...), once known."""

    async def result(self) -> Any:
        """The body's return value (or its exception). Cancelling the awaiting task does not stop the body:
        call :meth:`cancel` for that."""

    def cancel(self) -> bool:
        """Stop the body if the executor can (not started yet, or a cluster task); True when it will not run on."""

    def done(self) -> bool:
        """Whether the body has ended (returned, raised, or been cancelled)."""

    def add_done_callback(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` (on any thread) once the body has ended; at once when it already has."""

    def outcome(self) -> tuple[bool, Any]:
        """Once done: ``(True, value)`` or ``(False, exception)`` (cancelled: ``(False, CancelledError)``)."""


@runtime_checkable
class Executor(Protocol):
    """Runs sync tool bodies away from the event loop. ``name`` shows in the DAG inspector."""

    name: str

    def submit(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], *, label: str
    ) -> Submission:
        """Start ``fn(*args, **kwargs)`` (``label``: the tool's name, for the executor's own dashboards)."""


def check_executor(value: Any, where: str) -> Executor | None:
    """``value`` as an executor (None stays None), or a :class:`UsageError` saying what is accepted."""
    if value is None or isinstance(value, Executor):
        return value
    got = f"the string {shown(value)}" if isinstance(value, str) else type(value).__name__
    named = (
        " (executors are not named: for a Dask cluster create one, ex = ag.DaskExecutor(n_workers=2), and pass "
        "executor=ex)"
        if isinstance(value, str) and value != "local"
        else ""
    )
    raise UsageError(
        f"{where}: executor must be an executor object (ag.DaskExecutor(...), or one with name and "
        f'submit(fn, args, kwargs, label=...)), or "local" (this process\'s threads) in @ag.tool(executor=...) and '
        f"ag.configure(executor=...); got {got}{named}",
        code="bad_executor",
    )


BODY_EXIT = "body_exit"
"""RunError code: a sync body raised ``SystemExit`` or ``KeyboardInterrupt`` (see :func:`body_exit`)."""


def body_exit(exc: BaseException, label: str, where: str = "", *, what: str = "tool") -> RunError:
    """The error a sync body's ``SystemExit`` / ``KeyboardInterrupt`` fails its node with (``exc`` is chained as
    its ``__cause__`` by the caller).

    Both must not travel as themselves: asyncio lets them through every task to stop the event loop (the kernel's,
    running every run), and Dask lets them end the worker process (failing every body on it as ``KilledWorker``).
    ``sys.exit()`` in a tool is usually a command-line helper reused as a library (argparse rejecting arguments),
    so the message says how to fail a tool instead.
    """
    shown_exc = f"{type(exc).__name__}({', '.join(shown(a, 60) for a in exc.args)})"
    on = f" on {where}" if where else ""
    return RunError(
        f"{what} {label}: its body raised {shown_exc}{on} (sys.exit(), argparse rejecting its arguments, or an "
        f"explicit raise). A {what} body must not end the process: the step fails instead. To fail a {what}, raise an "
        "ordinary exception (ValueError, RuntimeError...); to call code that exits, catch SystemExit around it.",
        code=BODY_EXIT,
    )


def _guarded(fn: Callable[..., Any], label: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run a body in a pool thread; its ``SystemExit`` / ``KeyboardInterrupt`` becomes an ordinary error of the
    node (see :func:`body_exit`), its traceback kept as the ``__cause__``."""
    try:
        return fn(*args, **kwargs)
    except (SystemExit, KeyboardInterrupt) as exc:
        raise body_exit(exc, label) from exc


class _Job:
    """One body handed to a :class:`ThreadExecutor`: whether it holds one of the executor's places, and what to run
    once it gets one (a body that waited for a place), and whom to tell when it starts. Called with its future once
    that is done (ended, or cancelled before it began): its place goes back (``ThreadExecutor.release_place``)."""

    __slots__ = ("args", "counted", "fn", "future", "on_start", "owner")

    def __init__(self, owner: ThreadExecutor) -> None:
        self.owner = owner
        self.counted = False
        self.future: concurrent.futures.Future[Any] | None = None
        self.fn: Callable[..., Any] | None = None
        self.args: tuple[Any, ...] = ()
        self.on_start: Callable[[], None] | None = None

    def __call__(self, _future: concurrent.futures.Future[Any]) -> None:
        self.owner.release_place(self)


class _FutureSubmission:
    """A :class:`Submission` over a ``concurrent.futures.Future`` (of a :class:`ThreadExecutor` when ``job`` is
    given: a body given up on while it runs is then not counted among its threads any more)."""

    def __init__(
        self,
        future: concurrent.futures.Future[Any],
        where: str | None,
        owner: ThreadExecutor | None = None,
        job: _Job | None = None,
    ) -> None:
        self._future = future
        self.where = where
        self._owner = owner
        self._job = job

    async def result(self) -> Any:
        # shield: a cancelled awaiter must not mark the concurrent future cancelled behind the caller's back
        inner = asyncio.wrap_future(self._future)
        try:
            return await asyncio.shield(inner)
        except asyncio.CancelledError:
            # The body runs on, abandoned, and the run reports its end (abandoned_body_ended). Left pending, the
            # loop's copy of its outcome would take its error later, and when the loop stops before anything reads
            # it (a script's asyncio.run ending), asyncio prints "Future exception was never retrieved": a
            # cancelled copy takes no outcome (the body itself is not stopped: a running thread cannot be).
            inner.cancel()
            if self._owner is not None and self._job is not None:
                self._owner.release_place(self._job)  # (a running thread cannot stop: the next body takes another)
            raise

    def cancel(self) -> bool:
        return self._future.cancel() or self._future.done()

    def done(self) -> bool:
        return self._future.done()

    def add_done_callback(self, callback: Callable[[], None]) -> None:
        self._future.add_done_callback(lambda _: callback())

    def outcome(self) -> tuple[bool, Any]:
        if self._future.cancelled():
            return False, asyncio.CancelledError()
        exc = self._future.exception()
        return (False, exc) if exc is not None else (True, self._future.result())


class _WaitingSubmission(_FutureSubmission):
    """A body that does not start at once: every one of its executor's places is taken, or it waits for the earlier
    bodies of its step to end (see ``_after`` of ThreadExecutor). Its step shows pending until its body starts, and
    a ``_timeout_s`` counts from then (``add_start_callback``, as a cluster's queue): a timeout limits the body's
    run, not its wait for a thread."""

    def __init__(
        self,
        future: concurrent.futures.Future[Any],
        where: str | None,
        owner: ThreadExecutor,
        job: _Job,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        super().__init__(future, where, owner, job)
        self.started = False
        self._on_start: list[Callable[[], None]] = []
        self._loop = loop

    def add_start_callback(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` on the submitting loop once the body started (at once when it has)."""
        if self.started:
            callback()
        else:
            self._on_start.append(callback)

    def go(self) -> None:
        """(In the body's thread, as it starts) Tell the submitting loop."""
        with contextlib.suppress(RuntimeError):  # (the loop closed: nobody waits for the start any more)
            self._loop.call_soon_threadsafe(self._started)

    def _started(self) -> None:
        self.started = True
        callbacks, self._on_start = self._on_start, []
        for callback in callbacks:
            callback()


def _run(
    future: concurrent.futures.Future[Any],
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    on_start: Callable[[], None] | None = None,
) -> None:
    """Run one body into its future (nothing, when it was cancelled before it began), saying its start first."""
    if not future.set_running_or_notify_cancel():
        return
    if on_start is not None:
        on_start()
    try:
        value = fn(*args)
    except BaseException as exc:
        future.set_exception(exc)
        del future  # (the exception's traceback holds this frame: no cycle through the future)
    else:
        future.set_result(value)


_UNBOUNDED = 1 << 20
"""The underlying pool's own bound: never reached in practice (:class:`ThreadExecutor` bounds the bodies that
count; a thread more is made only for a body given up on that still holds one)."""


class ThreadExecutor:
    """The default: threads of this process (the bodies see the caller's context variables).

    At most ``max_workers`` bodies run at once, and a body given up on (its node timed out, its run was cancelled)
    stops counting: Python cannot stop its thread, so the executor takes another thread for the next body instead
    of leaving it queued behind one that may never return (hung bodies filled the pool and every later sync tool
    of the session stayed RUNNING without starting). Threads are reused; one given up on is kept until it returns.

    Args:
        max_workers: bodies run at once (default: Python's default thread pool size, ``min(32, cpus + 4)``).
    """

    name = "thread"

    def __init__(self, max_workers: int | None = None) -> None:
        if max_workers is not None and (isinstance(max_workers, bool) or not isinstance(max_workers, int)):
            raise UsageError(f"max_workers must be a positive int or None, got {shown(max_workers)}")
        if max_workers is not None and max_workers < 1:
            raise UsageError(f"max_workers must be a positive int or None, got {shown(max_workers)}")
        self._max_workers = max_workers
        self._limit = max_workers if max_workers is not None else min(32, (os.cpu_count() or 1) + 4)
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._counted = 0  # bodies holding one of the max_workers places now
        self._queued: collections.deque[_Job] = collections.deque()  # bodies waiting for a place, in order

    def _get_pool(self) -> concurrent.futures.ThreadPoolExecutor:
        # (under self._lock) The pool only makes and reuses threads: the bound is this executor's (_counted).
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(_UNBOUNDED, thread_name_prefix="aether_nb")
        return self._pool

    def submit(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], *, label: str
    ) -> Submission:
        ctx = contextvars.copy_context()
        job = _Job(self)
        waiting: _WaitingSubmission | None = None
        if abandoned.any_running():
            earlier = abandoned.running_here()  # (only a step of a run, submitted from its loop, has any)
            if earlier:  # (the same step, run again while a body of it given up on still runs: see _after)
                return self._after(earlier, job, ctx.run, (_guarded, fn, label, args, kwargs))
        with self._lock:
            pool = self._get_pool()
            if self._counted >= self._limit:  # (every place taken: it starts when one is freed, see release_place)
                job.future = concurrent.futures.Future()
                job.fn, job.args = ctx.run, (_guarded, fn, label, args, kwargs)
                waiting = self._waiting(job)
                self._queued.append(job)
            else:
                self._counted += 1
                job.counted = True
        future = job.future
        if future is None:
            try:
                future = pool.submit(ctx.run, _guarded, fn, label, args, kwargs)
            except RuntimeError:  # (the interpreter is exiting: no thread starts any more)
                self.release_place(job)
                raise
        future.add_done_callback(job)  # (its place goes back however it ends, a cancel before it began too)
        return waiting if waiting is not None else _FutureSubmission(future, "thread", self, job)

    def _waiting(self, job: _Job) -> _WaitingSubmission | None:
        """The submission of a body that waits for a place: it says when it starts (see :class:`_WaitingSubmission`).
        Only such a body pays for that; outside an event loop (nobody to tell) its submission is a plain one."""
        assert job.future is not None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        submission = _WaitingSubmission(job.future, "thread", self, job, loop)
        job.on_start = submission.go
        return submission

    def _after(self, earlier: list[Submission], job: _Job, fn: Callable[..., Any], args: tuple[Any, ...]) -> Submission:
        """A step run again (a failed run resumed with ``resume_mode="failed_nodes"``, a call it gave up on run
        again) while a body of it given up on still runs: this body starts once those have ended, never beside them
        (two copies of its effect at once). It takes no place meanwhile; cancelled, it never starts."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        job.future, job.fn, job.args = future, fn, args
        future.add_done_callback(job)
        submission = _WaitingSubmission(future, "thread", self, job, asyncio.get_running_loop())
        job.on_start = submission.go  # (once it has a place too: it may wait for one after the earlier bodies)
        left = [len(earlier)]

        def one_ended() -> None:
            with self._lock:
                left[0] -= 1
                if left[0] or future.cancelled():
                    return
            with self._lock:
                pool = self._get_pool()
                if self._counted >= self._limit:
                    self._queued.append(job)
                    return
                self._counted += 1
                job.counted = True
            try:
                pool.submit(_run, future, fn, args, job.on_start)
            except RuntimeError:  # (the interpreter is exiting: it will not start)
                future.cancel()

        for body in earlier:
            body.add_done_callback(one_ended)
        return submission

    def release_place(self, job: _Job) -> None:
        """``job`` gives its place back: it ended, or nobody awaits it any more (its node timed out or was cancelled:
        its thread may never come back, so the place goes to the next queued body, in another thread)."""
        while True:
            with self._lock:
                if not job.counted:
                    return  # (given up on before it ended: its place was handed on then)
                job.counted = False
                following = self._next_locked()
                if following is None:
                    return
                pool = self._get_pool()
            assert following.future is not None and following.fn is not None
            try:
                pool.submit(_run, following.future, following.fn, following.args, following.on_start)
                return
            except RuntimeError:  # (the interpreter is exiting: it will not start, and its place goes on)
                following.future.cancel()
                job = following

    def _next_locked(self) -> _Job | None:
        """(Under the lock, one place just freed) The next queued body, which takes the place; None frees it."""
        while self._queued:
            job = self._queued.popleft()
            if job.future is not None and not job.future.cancelled():
                job.counted = True
                return job
        self._counted -= 1
        return None

    def shutdown(self, wait: bool = False) -> None:
        """Stop accepting bodies (running ones finish, and count until they do; queued ones are cancelled)."""
        with self._lock:
            pool, self._pool = self._pool, None
            queued, self._queued = self._queued, collections.deque()
        for job in queued:
            if job.future is not None:
                job.future.cancel()
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=True)

    def __repr__(self) -> str:
        return f"ThreadExecutor(max_workers={self._max_workers})"


_lingering: contextvars.ContextVar[list[Submission] | None] = contextvars.ContextVar(
    "aether_nb_lingering", default=None
)


def linger(submission: Submission) -> None:
    """An abandoned body still runs: whoever holds a concurrency slot for it (see :func:`lingering`) keeps it, and
    its step, run again before it ends (a resumed run's failed node), waits for it (see :mod:`.abandoned`)."""
    holders = _lingering.get()
    if holders is not None:
        holders.append(submission)
    abandoned.note_here(submission)


class lingering:
    """Collects the bodies abandoned while a slot is held: ``with lingering() as bodies: ...``; afterwards,
    :meth:`when_all_done` runs the slot's release once every such body has really ended."""

    def __init__(self) -> None:
        self.bodies: list[Submission] = []
        self._token: contextvars.Token[list[Submission] | None] | None = None

    def __enter__(self) -> lingering:
        self._token = _lingering.set(self.bodies)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._token is not None
        _lingering.reset(self._token)

    def when_all_done(
        self,
        release: Callable[[], None],
        loop: asyncio.AbstractEventLoop,
        if_closed: Callable[[], None] | None = None,
    ) -> None:
        """Call ``release()`` on ``loop`` once every collected body has ended (now, when none is running); when
        ``loop`` has closed by then, ``if_closed()`` in the last body's thread (what must not die with the loop: a
        unit of the session's cap, which every loop counts)."""
        running = [b for b in self.bodies if not b.done()]
        if not running:
            release()
            return
        remaining = [len(running)]
        lock = threading.Lock()

        def one_done() -> None:
            with lock:
                remaining[0] -= 1
                last = remaining[0] == 0
            if not last:
                return
            try:
                loop.call_soon_threadsafe(release)
            except RuntimeError:  # (the loop is closed)
                if if_closed is not None:
                    if_closed()

        for body in running:
            body.add_done_callback(one_done)

    async def all_done(self) -> None:
        """Wait until every collected body has ended (a retry never overlaps the attempt it replaces)."""
        running = [b for b in self.bodies if not b.done()]
        if not running:
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self.when_all_done(lambda: None if fut.done() else fut.set_result(None), loop)
        await asyncio.shield(fut)


_submitted: contextvars.ContextVar[list[Submission] | None] = contextvars.ContextVar(
    "aether_nb_submitted", default=None
)


def detach_bodies() -> None:
    """In a sync body's worker thread (a copy of its caller's context): the bodies a run it executes there hands to
    executors are not collected with the caller's (its node's slot, its stop check, on the caller's loop): that run
    collects its own."""
    _lingering.set(None)
    _submitted.set(None)


def track(submission: Submission) -> None:
    """A sync body was handed to an executor: whoever watches the node's bodies (see :class:`submitted`) sees it
    until :func:`untrack` says its outcome reached the node."""
    holders = _submitted.get()
    if holders is not None:
        holders.append(submission)


def untrack(submission: Submission) -> None:
    """The node has the body's outcome (or gave up on it): stopping the node no longer waits for it."""
    holders = _submitted.get()
    if holders is not None and submission in holders:
        holders.remove(submission)


def _under_way(body: Submission) -> bool:
    """Whether ``body`` began (running, or ended with an outcome not yet delivered); one not begun is cancelled."""
    if body.done():
        ok, value = body.outcome()
        return ok or not isinstance(value, asyncio.CancelledError)
    return not body.cancel()


class submitted:
    """Collects the sync bodies a node hands to executors: ``with submitted() as bodies: ...``.

    A scheduler stopping a graph (a sibling failed) asks :meth:`unstoppable` before cancelling the node: a body
    already running in a thread cannot be stopped and its side effects happen anyway, so the node is left to finish
    and its result is journaled, rather than shown cancelled and run a second time by a resume.
    """

    def __init__(self) -> None:
        self.bodies: list[Submission] = []
        self._token: contextvars.Token[list[Submission] | None] | None = None

    def __enter__(self) -> submitted:
        self._token = _submitted.set(self.bodies)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._token is not None
        _submitted.reset(self._token)

    def unstoppable(self) -> bool:
        """Whether a body began and cannot be stopped (or ended, its outcome not yet delivered to the node); a body
        not begun yet is cancelled by this check (so it never begins), as is one its executor can interrupt (a Dask
        task)."""
        return any([_under_way(b) for b in self.bodies])  # (a list: every body is asked)
