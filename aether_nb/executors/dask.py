"""``ag.DaskExecutor``: sync tool bodies run on a Dask cluster; the kernel keeps the journal, the waits and the DAG.

Only bodies travel. The run itself (its scheduler, caps, retries, timeouts, journal, waits and widget) stays on the
kernel's event loop, where Dask's asyncio client also runs (``Client(asynchronous=True)``): a DuckDB store has a
single writer, and a wait must be answered where the widget is. Each body is pickled in the kernel with cloudpickle
(functions defined in notebook cells travel by value), runs on a worker, and its result comes back to be journaled
in the kernel, so a resumed run replays it instead of submitting it again.

Where the cluster comes from (one argument):

* ``DaskExecutor(n_workers=2, threads_per_worker=1)``: a ``LocalCluster`` of worker processes, started on first use
  (or ``await ex.start()``) and closed by ``await ex.close()``. Its scheduler fails a task whose worker died at
  once (``allowed-failures: 0``), so the node fails and the run's ``RetryPolicy`` decides, not Dask.
* ``DaskExecutor(address="tcp://host:8786")``: an existing cluster; its own ``allowed-failures`` applies.
* ``DaskExecutor(client=client)``: an existing ``distributed.Client`` (a synchronous one gets an asyncio twin on
  the kernel's loop, connected to the same scheduler).

Cancelling: a node that is cancelled or times out cancels its Dask future, and its body, if already running, is
interrupted on its worker (see :mod:`aether_nb.executors.remote`); until the worker confirms the body ended, the
body keeps its concurrency slot, as a lingering thread does. The bodies one cancel stops are stopped together
(:mod:`.dask_stop`), so a queued one never starts.

Queued: a worker says when a body starts (an event through the scheduler, before the body's first line, see
:data:`remote.STARTED_TOPIC`). Until then the node shows pending and its timeout waits; a task lost with its worker
before its body started is submitted again (its body never ran, so exactly once holds).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import pickle
import uuid
from collections.abc import Callable
from typing import Any

from aether_nb.errors import RunError, UsageError, shown
from aether_nb.executors.dask_options import (
    REACH_HINT,
    check_cluster_options,
    check_count,
    distributed_dir,
    start_hint,
    where_from,
)
from aether_nb.executors.dask_stop import BatchStopper
from aether_nb.executors.frames import rebuild_exit, rebuild_raised, restore_files
from aether_nb.executors.payload import pack, remote_module
from aether_nb.runtime.executors import body_exit

__all__ = ["DaskExecutor", "DaskSubmission"]

INSTALL_HINT = "pip install 'aether_nb[dask]'"
_log = logging.getLogger("aether_nb.dask")

# distributed's objects are typed Any here: its client methods return a coroutine or a value depending on the caller
# (an asyncio client awaited on its loop, or a blocking call), which its annotations cannot say.
Client = Any
DaskFuture = Any


def _require_distributed() -> None:
    try:
        import cloudpickle  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as exc:
        raise UsageError(
            f"ag.DaskExecutor needs Dask's distributed package: {INSTALL_HINT}", code="missing_extra"
        ) from exc


class DaskExecutor:
    """Runs sync tool bodies on a Dask cluster: ``ag.DaskExecutor(n_workers=2, threads_per_worker=1)``.

    Pass it to a run (``pipeline.start(x=5, executor=ex)``, ``agent.start(q, executor=ex)``, ``await ag.run(g,
    inputs, executor=ex)``) or make it the default (``ag.configure(executor=ex)``). Sync tools that take no
    ``context`` run on the cluster; async tools, tools that take a ``context``, and tools pinned with
    ``@ag.tool(executor="local")`` stay in the kernel.

    Args:
        n_workers: worker processes of the local cluster (default: Dask's, from the machine's cores).
        threads_per_worker: threads per worker process (1 for CPU-bound pure Python, which holds the GIL).
        address: the scheduler of an existing cluster (``"tcp://host:8786"``) instead of a local one.
        client: an existing ``distributed.Client`` instead of a local cluster.
        **cluster_options: more ``LocalCluster`` arguments (``memory_limit=...``; the dashboard is on loopback,
            ``dashboard_address="127.0.0.1:0"``, unless you give another).

    Raises:
        UsageError: distributed is not installed, or the arguments do not fit together.
    """

    name = "dask"

    def __init__(
        self,
        n_workers: int | None = None,
        threads_per_worker: int | None = None,
        *,
        address: str | None = None,
        client: Any = None,
        **cluster_options: Any,
    ) -> None:
        _require_distributed()
        import distributed

        check_count(n_workers, "n_workers")
        check_count(threads_per_worker, "threads_per_worker")
        if address is not None and client is not None:
            raise UsageError("DaskExecutor: pass address= or client=, not both")
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise UsageError(
                f"DaskExecutor(address=...) must be a scheduler address ('tcp://host:8786'), got {shown(address)}"
            )
        if client is not None and not isinstance(client, distributed.Client):
            raise UsageError(f"DaskExecutor(client=...) must be a distributed.Client, got {type(client).__name__}")
        local_args = n_workers is not None or threads_per_worker is not None or cluster_options
        if (address is not None or client is not None) and local_args:
            raise UsageError(
                "DaskExecutor: n_workers, threads_per_worker and cluster options describe a local cluster; "
                "with address= or client= the cluster already exists"
            )
        check_cluster_options(cluster_options)
        self._n_workers = n_workers
        self._threads_per_worker = threads_per_worker
        self._address = address
        self._given_client: Client | None = client
        self._cluster_options = cluster_options
        self._loop: asyncio.AbstractEventLoop | None = None
        self._starting: asyncio.Task[None] | None = None
        self._client: Client | None = None
        self._cluster: Any = None
        self._owns_client = False
        self._ready = False  # connected, and the worker plugin registered
        self._closed = False
        self._live: dict[str, DaskSubmission] = {}  # by token: the bodies not ended yet
        self._tag = uuid.uuid4().hex[:12]  # this executor's part of its tokens: the topic its workers announce on
        self._stops = BatchStopper(lambda: self.client)  # cancelled bodies, stopped on the workers together

    # -- connecting ----------------------------------------------------------------------------------------------------
    @property
    def client(self) -> Client | None:
        """The asyncio ``distributed.Client`` once started (for Dask's own API: dashboards, ``scheduler_info()``)."""
        return self._client if self._ready else None

    @property
    def dashboard_link(self) -> str | None:
        """The Dask dashboard's URL once started (task stream, worker load, progress of every tool)."""
        return str(self._client.dashboard_link) if self._ready and self._client is not None else None

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise UsageError(
                "this DaskExecutor is bound to the event loop it started on (its asyncio Dask client lives there); "
                "create one DaskExecutor per event loop (in a script: one asyncio.run() for the whole program)",
                code="dask_other_loop",
            )

    def _check_open(self) -> None:
        if self._closed:
            raise UsageError("this DaskExecutor is closed; create a new one", code="dask_closed")

    async def start(self) -> DaskExecutor:
        """Start the local cluster, or connect to the given one (once; later calls wait for the same start).

        Runs are fine without it (the first body submitted starts it); call it to see ``dashboard_link`` early.

        Raises:
            RunError: the cluster could not be started or reached (``code="dask_unavailable"``).
        """
        self._check_open()
        loop = asyncio.get_running_loop()
        self._check_loop(loop)
        if self._starting is None:
            self._starting = loop.create_task(self._connect(), name="aether_nb DaskExecutor start")
            # Every caller awaiting it sees its failure; if all gave up (a cancelled run), it is still retrieved.
            self._starting.add_done_callback(lambda task: task.cancelled() or task.exception())
        await asyncio.shield(self._starting)
        return self

    async def connected(self) -> Client:
        """The asyncio client, starting the cluster first if needed."""
        await self.start()
        if not self._ready or self._client is None:  # closed while it started
            raise UsageError("this DaskExecutor is closed; create a new one", code="dask_closed")
        return self._client

    async def _connect(self) -> None:
        import distributed

        new_client: Any = distributed.Client  # untyped constructors (see the Client alias above)
        new_cluster: Any = distributed.LocalCluster

        remote = remote_module()
        target = self._address
        try:
            # Each object is kept before it is awaited, so that a failed or cancelled start closes what it made.
            given = self._given_client
            if given is not None:
                target = str(given.scheduler.address)
                if given.asynchronous:  # an asyncio client on this very loop
                    self._client = given
                else:
                    self._owns_client = True
                    self._client = new_client(target, asynchronous=True)
                    await self._client
            elif self._address is not None:
                self._owns_client = True
                self._client = new_client(self._address, asynchronous=True)
                await self._client
            else:
                target = "a local cluster"
                # (the dashboard on loopback, as the scheduler and workers are: Dask's default serves it, task
                # stream and worker logs with your bodies' prints, unauthenticated on every interface)
                options: dict[str, Any] = {
                    "processes": True,
                    "dashboard_address": "127.0.0.1:0",
                    **self._cluster_options,
                }
                if self._n_workers is not None:
                    options["n_workers"] = self._n_workers
                if self._threads_per_worker is not None:
                    options["threads_per_worker"] = self._threads_per_worker
                # A dead worker fails its tasks at once: the node fails and the run's RetryPolicy decides.
                options["scheduler_kwargs"] = {"allowed_failures": 0, **options.get("scheduler_kwargs", {})}
                self._cluster = new_cluster(asynchronous=True, **options)
                await self._cluster
                self._owns_client = True
                self._client = new_client(self._cluster, asynchronous=True)
                await self._client
            await self._client.register_plugin(remote.BodyRegistry(), name=remote.PLUGIN_NAME)
            self._client.subscribe_topic(remote.STARTED_TOPIC + self._tag, self._on_started)
            self._ready = True
        except Exception as exc:
            await self._release()
            raise RunError(
                f"DaskExecutor could not start or reach {target}: {type(exc).__name__}: {exc}. "
                f"{start_hint(self._cluster_options) if target == 'a local cluster' else REACH_HINT}"
                "Then create a new DaskExecutor.",
                code="dask_unavailable",
            ) from exc
        except asyncio.CancelledError:  # the loop is going away while the cluster starts
            await self._release()
            raise

    async def close(self) -> None:
        """Close the local cluster (and the client, if this executor made it); a cluster or client passed in stays
        open. Nodes still running on it fail (``RunError``, ``code="dask_closed"``) and their Dask futures are
        cancelled; on a cluster that stays open, a body already running goes on to its end there."""
        if self._closed:
            return
        self._check_loop(asyncio.get_running_loop())
        self._closed = True
        if self._starting is not None:
            await asyncio.gather(self._starting, return_exceptions=True)  # its own awaiters saw any failure
        live, self._live = list(self._live.values()), {}
        for submission in live:
            submission.fail(
                RunError(f"tool {submission.label}: its DaskExecutor was closed while it ran", code="dask_closed")
            )
        await self._release([s.future for s in live if s.future is not None])

    async def _release(self, futures: list[DaskFuture] | None = None) -> None:
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        self._ready = False
        if client is not None and futures:
            await client.cancel(futures, reason="aether_nb: DaskExecutor closed")
        if client is not None and self._owns_client:
            await client.close()
        elif client is not None:  # a client of the user's, which stays open: it stops calling this executor
            with contextlib.suppress(ValueError):  # (not subscribed: the start failed before)
                client.unsubscribe_topic(remote_module().STARTED_TOPIC + self._tag)
        if cluster is not None:
            try:
                await cluster.close()
            except KeyError as exc:
                # distributed's worker-status watcher can trip over a worker it already dropped (one that died, a
                # SIGKILL) while the cluster closes; the cluster is closed all the same: said, not raised
                _log.warning("aether_nb: closing the Dask cluster met a worker it had already lost (%r)", exc)

    async def __aenter__(self) -> DaskExecutor:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        if self._address is not None or self._given_client is not None:
            where = f"address={self._address!r}" if self._address is not None else "client=..."
        else:
            where = f"n_workers={self._n_workers}, threads_per_worker={self._threads_per_worker}"
        state = "closed" if self._closed else "started" if self._ready else "not started"
        link = f", dashboard {self.dashboard_link}" if self._ready else ""
        return f"DaskExecutor({where}; {state}{link})"

    # -- submitting ----------------------------------------------------------------------------------------------------
    def submit(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], *, label: str
    ) -> DaskSubmission:
        """Pickle ``fn(*args, **kwargs)`` here and hand it to the cluster (started first if needed).

        Raises:
            UsageError: the function or an input cannot be pickled (the message names it), the executor is closed,
                or no event loop runs.
        """
        self._check_open()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise UsageError("DaskExecutor.submit needs a running event loop (it runs inside a run)") from None
        self._check_loop(loop)
        token = f"{self._tag}.{uuid.uuid4().hex}"
        payload = pack(fn, args, kwargs, label, token)
        submission = DaskSubmission(self, fn, payload, label, token, loop)
        self._live[token] = submission
        return submission

    def forget(self, token: str) -> None:
        """The submission of ``token`` has ended: the executor stops tracking it."""
        self._live.pop(token, None)

    def _on_started(self, event: tuple[float, Any]) -> None:
        """A worker says the body of the token ``event[1]`` starts now (on the kernel's loop, in the order of the
        scheduler's messages: before that task's result or failure)."""
        submission = self._live.get(str(event[1]))
        if submission is not None:
            submission.mark_started()

    def stop_soon(self, submission: DaskSubmission) -> None:
        """Stop ``submission``'s body together with every other one cancelled meanwhile (see :mod:`.dask_stop`)."""
        self._stops.add(submission)


class DaskSubmission:
    """One body on the cluster (a :class:`~aether_nb.runtime.executors.Submission`).

    ``key`` is its Dask key (``<tool>-<token>``, as the dashboard shows it), ``future`` its ``distributed.Future``
    from its submission until its reply reached the kernel (then it is released, see :meth:`_let_go`), and
    ``where`` the address of the worker that ran it, once known.
    """

    def __init__(
        self,
        executor: DaskExecutor,
        fn: Callable[..., Any],
        payload: bytes,
        label: str,
        token: str,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.where: str | None = None
        self.fn = fn
        self.label = label
        self.token = token
        self.key = f"{label}-{token}"
        self.future: DaskFuture | None = None
        self._executor = executor
        self._payload = payload
        self._loop = loop
        self._outcome: concurrent.futures.Future[Any] = concurrent.futures.Future()
        # By token, not by self: a callback that held the submission would make a cycle through its own outcome,
        # keeping it (and whatever it still holds) alive until the garbage collector runs.
        self._outcome.add_done_callback(lambda _: executor.forget(token))
        self._cancel_requested = False
        self._stop_asked = False
        self.started = False
        """Whether a worker said the body starts (it may have ended since): until then the node shows pending."""
        self._on_start: list[Callable[[], None]] = []
        self._driver = loop.create_task(self._drive(), name=f"aether_nb dask {self.key}")

    def __repr__(self) -> str:
        state = "done" if self.done() else "submitted" if self.future is not None else "starting"
        return f"<DaskSubmission {self.key} {state}{f' on {self.where}' if self.where else ''}>"

    # -- the Submission protocol ---------------------------------------------------------------------------------------
    async def result(self) -> Any:
        return await asyncio.shield(asyncio.wrap_future(self._outcome))

    def done(self) -> bool:
        return self._outcome.done()

    def add_done_callback(self, callback: Callable[[], None]) -> None:
        self._outcome.add_done_callback(lambda _: callback())

    def add_start_callback(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` on the kernel's loop when a worker starts the body (at once if it has): the step
        counts as running, and its timeout starts, from then, not from its wait in Dask's queue."""
        if self.started:
            callback()
        else:
            self._on_start.append(callback)

    def mark_started(self) -> None:
        """A worker announced the body's start (see :data:`remote.STARTED_TOPIC`)."""
        if self.started:
            return
        self.started = True
        callbacks, self._on_start = self._on_start, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                _log.exception("aether_nb: a start callback of %s failed", self.key)

    def outcome(self) -> tuple[bool, Any]:
        if self._outcome.cancelled():
            return False, asyncio.CancelledError()
        exc = self._outcome.exception()
        return (False, exc) if exc is not None else (True, self._outcome.result())

    def cancel(self) -> bool:
        """Cancel the Dask future and stop the body on its worker. True when it never started; otherwise the body
        is being interrupted, and :meth:`done` turns true once its worker says it has ended."""
        if self._outcome.done():
            return True
        self._cancel_requested = True
        if self.future is None:  # not handed to Dask yet: it never will be
            self._driver.cancel()
            self._outcome.cancel()
            return True
        if not self._stop_asked:
            self._stop_asked = True
            self._executor.stop_soon(self)
        return False

    def fail(self, exc: BaseException) -> None:
        """End this submission with ``exc`` (its executor is closing)."""
        self._cancel_requested = True
        self._driver.cancel()
        self._settle(False, exc)

    # -- driving -------------------------------------------------------------------------------------------------------
    def _settle(self, ok: bool, value: Any) -> None:
        if self._outcome.done():
            return
        if ok:
            self._outcome.set_result(value)
        else:
            self._outcome.set_exception(value)

    async def _drive(self) -> None:
        from distributed.client import FutureCancelledError

        try:
            client = await self._executor.connected()
            reply = await self._submitted(client)
            if reply[0] == remote_module().RAISED:
                # The body's exception, sent back as a reply so that Dask does not log it: raised here, where
                # Dask's client raised it, so that the handlers below treat it as before; one that is no
                # Exception (a BaseException subclass of the user's) is wrapped for them, and unwrapped there.
                self.where = reply[1]
                raised = rebuild_raised(reply[2])
                raise raised if isinstance(raised, Exception) else _BodyRaised(raised)
        except FutureCancelledError as exc:
            if not self._cancel_requested:  # Dask cancelled it: the client closed, the scheduler went away
                self._let_go()
                self._settle(
                    False, RunError(f"tool {self.label}: Dask cancelled its task ({exc.reason})", code="dask_cancelled")
                )
            return  # cancelled on purpose: the stopper settles the outcome once the body has ended
        except asyncio.CancelledError:
            if not self._outcome.done():
                self._outcome.cancel()
            raise
        except Exception as caught:
            # (a body's BaseException: the node fails with it, as in the kernel's threads; it hung before)
            error: BaseException = caught.raised if isinstance(caught, _BodyRaised) else caught
            self._let_go()
            self.where = where_from(error) or self.where
            # The cell's file and lines in the remote frames; Dask's own frame re-raising it here left out.
            restore_files(error, [self.fn, remote_module().BodyRegistry.run], drop=(distributed_dir(),))
            self._settle(False, error)
            return
        self._let_go()
        self._receive(reply)

    async def _submitted(self, client: Client) -> Any:
        """Submit the body and await its reply. A task whose worker died before the body started (it waited in
        that worker's queue; with ``allowed-failures: 0`` Dask fails it as ``KilledWorker`` too) is submitted again,
        under a new key: its body never ran, so this is its first run; exactly once holds. One that started fails
        (the run's ``RetryPolicy`` decides)."""
        from distributed.scheduler import KilledWorker

        for attempt in range(_RESUBMITS + 1):
            key = self.key if attempt == 0 else f"{self.key}-{attempt}"
            self.future = client.submit(pickle.loads, self._payload, key=key, pure=False)
            try:
                reply = await self.future
            except KilledWorker:
                if self.started or self._cancel_requested or attempt == _RESUBMITS:
                    raise
                _log.info("aether_nb: %s lost its worker before its body started; submitted again", self.key)
                self._let_go()
                continue
            self._payload = b""
            return reply
        raise AssertionError("unreachable")  # (the last attempt returns or raises)

    def _let_go(self) -> None:
        """Release the Dask future: its reply is in the kernel now, where the journal keeps it.

        While a client holds a key, the scheduler keeps its result on the worker, and recomputes it elsewhere if
        that worker dies: a body that finished long ago would run a second time (its side effects too). Released
        here, at once, rather than whenever this object is collected, the scheduler forgets the task.
        """
        future, self.future = self.future, None
        if future is not None:
            future.release()

    def _receive(self, reply: tuple[str, str, Any]) -> None:
        remote = remote_module()
        kind, where, data = reply
        self.where = where
        if kind == remote.OK:
            try:
                value = pickle.loads(data)
            except Exception as exc:
                self._settle(
                    False,
                    UsageError(
                        f"tool {self.label}: its result, computed on Dask worker {where}, cannot be unpickled in the "
                        f"kernel ({type(exc).__name__}: {exc}); return plain data, or import the types it uses here",
                        code="not_picklable",
                    ),
                )
                return
            self._settle(True, value)
        elif kind == remote.UNPICKLABLE:
            self._settle(
                False,
                UsageError(
                    f"tool {self.label} returned {data}, which cannot be pickled to bring it back from Dask worker "
                    f"{where}. Return plain data (numbers, strings, lists, dicts, dataclasses), or keep the tool in "
                    'the kernel with @ag.tool(..., executor="local").',
                    code="not_picklable",
                ),
            )
        elif kind == remote.UNLOADABLE:
            self._settle(
                False,
                RunError(
                    f"tool {self.label}: Dask worker {where} could not load the tool's code or inputs ({data}); "
                    "the workers need the packages the tool imports, in the same versions as the kernel",
                    code="dask_unloadable",
                ),
            )
        elif kind == remote.EXITED:
            self._settle(False, self._exited(data, where))
        elif kind == remote.UNANNOUNCED:
            self._settle(
                False,
                RunError(
                    f"tool {self.label}: Dask worker {where} could not reach its scheduler to start it ({data}); "
                    "the body did not run. Check the cluster, then resume the run.",
                    code="dask_unavailable",
                ),
            )
        else:  # interrupted: it was cancelled on purpose
            if not self._outcome.done():
                self._outcome.cancel()

    def _exited(self, data: bytes, where: str) -> BaseException:
        """The node's error for a body that raised ``SystemExit`` / ``KeyboardInterrupt`` on its worker: a
        :class:`RunError` (``body_exit``, as in the kernel's threads) caused by the body's exception with its
        remote traceback (raised as itself here, it would stop the kernel's event loop)."""
        exc = rebuild_exit(data, [self.fn, remote_module().BodyRegistry.run])
        error = body_exit(exc, self.label, f"Dask worker {where}")
        error.__cause__ = exc
        return error

    def stopped(self) -> None:
        """Its body has ended on the cluster (or never started): the outcome is settled, the slot freed."""
        if not self._outcome.done():
            self._outcome.cancel()

    def stop_failed(self, exc: Exception) -> None:
        """The cluster could not be reached to stop the body: its end cannot be confirmed."""
        self._settle(False, RunError(f"could not stop {self.key} on the Dask cluster: {type(exc).__name__}: {exc}"))


_RESUBMITS = 3
"""How many times a task whose worker died before its body started is submitted again (a worker that dies on
every task, e.g. while unpickling its inputs, must not loop for ever)."""


class _BodyRaised(Exception):
    """Carries a body's exception that is no ``Exception`` to :meth:`DaskSubmission._drive`'s handler."""

    def __init__(self, raised: BaseException) -> None:
        super().__init__(repr(raised))
        self.raised = raised
