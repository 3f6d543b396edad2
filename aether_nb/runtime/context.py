"""NodeContext: what a running node reaches its services through, and the custom-service registry.

Services are not module globals: a context asks its run's :class:`~aether_nb.runtime.session.Session` for them,
and the session was handed to the run when it started. Built-in services (channel, memory, kv, artifacts, logger,
llm) are factories installed on the session by ``aether_nb``'s wiring; custom ones are registered with
:func:`register_context_service` and reached as ``context.<name>()`` or ``context.svc("<name>")``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from aether_nb.errors import UsageError, shown
from aether_nb.runtime.absent_server import AbsentServer
from aether_nb.runtime.effects import ServiceProxy, pure
from aether_nb.runtime.execution import Scope, StepHost, current_scope, detach_scope
from aether_nb.runtime.slots import in_worker_thread
from aether_nb.runtime.waits import WaitSpec, positive_seconds

if TYPE_CHECKING:
    from aether_nb.runtime.session import Session

T = TypeVar("T")
BUILTIN_SERVICES = ("channel", "memory", "kv", "artifacts", "logger", "llm", "mcp")


class NodeContext:
    """The per-node control plane handed to graph_fn bodies and tools that ask for ``context``.

    Attributes:
        run_id: the run this node belongs to.
        node_id: the node's id in the run's DAG (None for the run's own top-level body).
        graph: the name of the run's graph_fn.
    """

    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._proxies: dict[str, ServiceProxy] = {}

    @property
    def scope(self) -> Scope:
        """The step engine's scope of this node: services use it to make their calls journaled steps."""
        return self._scope

    @property
    def run_id(self) -> str:
        return self._scope.run.id

    @property
    def node_id(self) -> str | None:
        return self._scope.node_id

    @property
    def graph(self) -> str:
        return self._scope.run.graph_name

    @property
    def run(self) -> StepHost:
        """The run this node belongs to."""
        return self._scope.run

    @property
    def session(self) -> Session:
        return self._scope.run.session

    def __repr__(self) -> str:
        return f"NodeContext(run_id={self.run_id!r}, node_id={self.node_id!r})"

    # -- built-in services --------------------------------------------------------------------------------------------
    def _builtin(self, name: str, *args: Any, **kwargs: Any) -> Any:
        factory = self.session.service_factories.get(name)
        if factory is None:
            raise UsageError(
                f"no {shown(name)} service is configured in this session; "
                f"configure one with ag.configure({name}=...) (or import aether_nb, which installs the defaults)",
                run_id=self.run_id,
                node_id=self.node_id,
                code="no_service",
            )
        return factory(self, *args, **kwargs)

    def channel(self, key: str | None = None) -> Any:
        """The chat channel: ``send_text``, ``ask_text``, ``ask_approval``, streaming, progress..."""
        return self._builtin("channel", key)

    def memory(self, scope: str = "notebook") -> Any:
        """Event memory (``record``, ``recent``, ``search``); ``scope="run"`` limits it to this run."""
        return self._builtin("memory", scope)

    def kv(self, scope: str = "notebook") -> Any:
        """A key-value store with TTLs; ``scope="run"`` limits it to this run."""
        return self._builtin("kv", scope)

    def artifacts(self) -> Any:
        """Content-addressed blobs (text, JSON, bytes, files) with labels."""
        return self._builtin("artifacts")

    def logger(self) -> Any:
        """A ``logging.Logger`` whose records land on this node (widget and store)."""
        return self._builtin("logger")

    def llm(self, profile: str | None = None) -> Any:
        """The configured LLM client (OpenAI-compatible)."""
        return self._builtin("llm", profile)

    def mcp(self, name: str) -> Any:
        """The session's connection to MCP server ``name`` (``ag.configure(mcp=...)``), connected on first use;
        ``context.mcp(name).tools[...]`` are journaled tools. For a server the session does not know (a run
        resumed before the cell that configures it), calls that replay from the journal still work; one that
        must execute fails with ``no_mcp_server`` (see :mod:`~aether_nb.runtime.absent_server`)."""
        if not isinstance(name, str) or not name:
            raise UsageError(
                f"context.mcp(name): name must be a server's name, got {shown(name)}", code="bad_mcp_server"
            )
        factory = self.session.service_factories.get("mcp")  # (installed by ag.configure(mcp=...) or ag.mcp.connect)
        if factory is None:
            return AbsentServer(name, self._scope)
        try:
            return factory(self, name)
        except UsageError as exc:
            if exc.code != "no_mcp_server":
                raise
            return AbsentServer(name, self._scope, exc)

    # -- custom services -------------------------------------------------------------------------------------------
    def svc(self, name: str) -> ServiceProxy:
        """The custom service registered under ``name``, as this node sees it: each call of one of its public
        methods is a journaled step named ``<name>.<method>`` (done once, replayed on resume); methods marked
        ``@ag.pure`` run directly. ``.wrapped`` is the service object itself."""
        services = self.session.services
        if not isinstance(name, str) or name not in services:
            known = sorted(services) or "none"
            raise UsageError(
                f"no context service named {shown(name)} (registered: {known}); "
                f"call ag.register_context_service({shown(name)}, service) before the run",
                run_id=self.run_id,
                node_id=self.node_id,
                code="no_service",
            )
        proxy = self._proxies.get(name)
        if proxy is None or proxy.wrapped is not services[name]:
            proxy = self._proxies[name] = ServiceProxy(name, services[name], self._scope)
        return proxy

    def __getattr__(self, name: str) -> ServiceProxy:
        if name.startswith("_"):
            raise AttributeError(name)
        services = self._scope.run.session.services
        if name in services:
            return self.svc(name)  # (callable too: context.<name>() and context.<name>.method() alike)
        raise AttributeError(
            f"NodeContext has no attribute or service {shown(name)}; registered services: {sorted(services) or 'none'}"
        )

    # -- journaled steps and waits ----------------------------------------------------------------------------------
    async def step(self, name: str, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        """Run ``await fn(*args, **kwargs)`` as a journaled DAG node: executed once, replayed on resume.

        For side effects that are not tools (an HTTP call, a file write) in a run that may be resumed.
        """
        if not isinstance(name, str) or not name.isidentifier():
            raise UsageError(f"step name must be an identifier, got {shown(name)}")
        if not callable(fn):
            raise UsageError(f"step() takes an async function to run, got {type(fn).__name__}")
        scope = self._scope

        async def execute(child: Scope) -> Any:
            result = fn(*args, **kwargs)
            if not inspect.isawaitable(result):
                raise UsageError(
                    f"context.step({shown(name)}, fn): fn must be an async function (it returned "
                    f"{type(result).__name__}); for sync work use a @tool"
                )
            return await result

        return await scope.run_step(scope.next_key(name), name, "step", {"args": args, "kwargs": kwargs}, execute)

    async def wait(self, spec: WaitSpec, *, name: str = "wait") -> Any:
        """Wait for an answer described by ``spec`` (shown in the channel); returns the validated answer."""
        if not isinstance(spec, WaitSpec):
            raise UsageError(f"context.wait() takes an ag.WaitSpec, got {type(spec).__name__}")
        return await self._scope.wait(spec, name=name)

    async def sleep(self, seconds: float, *, name: str = "sleep") -> None:
        """A durable sleep: a ``time`` wait whose deadline is its answer. The run waits (it may leave memory, the
        kernel may restart), and a resume after the deadline goes on at once; ``run.answer(None)`` wakes it early.
        """
        secs = positive_seconds(seconds)  # (an int past a float's range, 10**400, was a bare OverflowError)
        if secs is None:
            raise UsageError(f"context.sleep(seconds) takes a positive number of seconds, got {shown(seconds)}")
        await self._scope.wait(WaitSpec(kind="time", timeout_s=secs), name=name)


def current_context() -> NodeContext | None:
    """The NodeContext of the node running now (None outside a run); services use it to know their caller."""
    scope = current_scope()
    return None if scope is None else scope.context


class Service:
    """Optional base class for custom context services (AetherGraph's ``Service``).

    ``self.ctx()`` is the NodeContext of the node calling the service; ``async with self.critical():`` (or
    ``self.critical()`` as a decorator) serialises a critical section across concurrent nodes, and so does
    ``async with self._lock:``, AetherGraph's spelling; ``await self.run_blocking(fn, ...)`` runs blocking work in
    a worker thread.
    """

    def __init__(self) -> None:
        """Nothing to set up: the lock is made on first use, so a subclass whose ``__init__`` does not call
        ``super().__init__()`` has one too."""

    @property
    def _lock(self) -> asyncio.Lock:
        """The service's lock for the running event loop, made on first use.

        AetherGraph's base ``__init__`` sets ``self._lock`` and its examples write ``async with self._lock:``.
        One lock per loop, because an ``asyncio.Lock`` serves a single loop, and a service registered once is
        called from the kernel's loop and from the loop of a run started with ``agent.sync()`` in a thread;
        within one loop, every concurrent node shares it. A lock assigned to ``self._lock`` is used instead.
        """
        state = self.__dict__
        given = state.get("_aether_lock")
        if given is not None:
            return given  # type: ignore[no-any-return]
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] | None = state.get("_aether_locks")
        if locks is None:
            locks = state["_aether_locks"] = weakref.WeakKeyDictionary()
        if loop is None:  # (outside any loop: a lock for the loop that will use it, not kept)
            return asyncio.Lock()
        with _LOCKS_GUARD:  # (two threads' loops may make their first lock at once)
            lock = locks.get(loop)
            if lock is None:
                lock = locks[loop] = asyncio.Lock()
        return lock

    @_lock.setter
    def _lock(self, lock: asyncio.Lock | None) -> None:
        self.__dict__["_aether_lock"] = lock

    def __getstate__(self) -> dict[str, Any]:
        """The service's state without its per-loop locks (a service pickled before its lock was used, as a
        step's value is, pickles after too)."""
        state = dict(self.__dict__)
        state.pop("_aether_locks", None)
        return state

    @pure
    def ctx(self) -> NodeContext:
        """The NodeContext of the node calling the service now."""
        ctx = current_context()
        if ctx is None:
            raise UsageError("Service.ctx() is only available while a node of a run is calling the service")
        return ctx

    @pure
    @contextlib.asynccontextmanager
    async def critical(self) -> AsyncIterator[None]:
        """Serialise a critical section across the concurrent nodes calling this service: ``async with
        self.critical():``, or AetherGraph's ``self.incr = self.critical()(self.incr)`` (each call runs under the
        lock)."""
        async with self._lock:
            yield

    async def run_blocking(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in a worker thread, awaited: blocking work (a file, a C library, a sync client)
        without stalling the event loop and every node on it (AetherGraph's ``run_blocking``).

        ``fn`` runs as a sync tool's body does: tools it calls run directly (they are part of this call, not
        steps of their own), and a run it executes with ``agent.sync()`` keeps to its own loop.
        """
        if not callable(fn):
            raise UsageError(f"run_blocking(fn, ...) takes a function to call, got {shown(fn, 80)}")
        return await asyncio.to_thread(_detached, fn, args, kwargs)


_LOCKS_GUARD = threading.Lock()


def _detached(fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
    # In the worker thread (a copy of the caller's context), as tools._run_detached.
    detach_scope()
    with in_worker_thread():
        return fn(*args, **kwargs)
