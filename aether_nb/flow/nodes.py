"""Nodes of a state graph: how a node function is called (dependency injection), what its return becomes (writes
plus ``goto`` targets), :func:`interrupt`, and :func:`get_stream_writer`.

A node function is called as LangGraph calls it: the state goes positionally as the first argument (so a
``*args`` wrapper or a positional-only ``state`` gets it), and by name ``config`` the run's config dict (a copy per
node, with LangGraph's ``configurable`` inside); ``writer`` a stream writer (``stream_mode="custom"``); ``error``
(or a parameter annotated ``NodeError``, in an error handler) the failure; ``runtime`` (or a parameter annotated
``Runtime``) LangGraph's :class:`~aether_nb.flow.context.Runtime` with the call's ``context=``; ``store`` the object
given to ``compile(store=...)``. aether_nb adds ``context``/``ctx`` (not first, without a default) or a parameter
annotated ``NodeContext`` for the node's :class:`~aether_nb.runtime.context.NodeContext`, and any other name for a
service given to ``compile(services={...})`` or registered with ``ag.register_context_service``
(:mod:`aether_nb.flow.params` has the whole rule). Sync functions run in a worker thread, like sync tools.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import re
import threading
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal, Protocol, get_args, get_origin

from aether_nb.errors import UsageError, shown
from aether_nb.flow.asks import response_adapter
from aether_nb.flow.cache import CachePolicy
from aether_nb.flow.context import DEFAULT_RUNTIME, Runtime
from aether_nb.flow.interrupt_keys import AskedInterrupt, asking_prefix
from aether_nb.flow.node_returns import NodeResult as NodeResult  # (re-exported: what a node's return becomes)
from aether_nb.flow.node_returns import input_writes as input_writes
from aether_nb.flow.node_returns import normalise_return as normalise_return
from aether_nb.flow.node_returns import update_writes as update_writes
from aether_nb.flow.options import node_destinations, node_metadata, timeout_seconds
from aether_nb.flow.params import bind_parameters
from aether_nb.flow.retry import AnyRetryPolicy, node_policies
from aether_nb.flow.types import Command, NodeError
from aether_nb.runtime.execution import Scope, enter_scope, leave_scope, use_scope
from aether_nb.runtime.executors import Submission, ThreadExecutor, body_exit, linger


class TaskCalls(Protocol):
    """What a task's attempts share (:class:`aether_nb.flow.task_call.TaskCall`): its busy count, and the config and
    :class:`Runtime` its node may ask for, built only then (most nodes never do)."""

    def released(self) -> contextlib.AbstractContextManager[None]: ...

    def config(self) -> dict[str, Any]: ...

    def runtime(self, attempt: int) -> Runtime[Any]: ...


class NodeRun:
    """What code running inside a task can reach: its scope, the answers to its interrupts, its stream writer.

    A class with slots and a plain ``__init__`` (made once per attempt of every task): the config and the
    :class:`Runtime` come from the task's :class:`TaskCalls` when asked for, not from callables made per attempt.
    """

    __slots__ = (
        "_runtime",
        "answers",
        "asked",
        "attempt",
        "busy",
        "configurable",
        "loop",
        "node",
        "ns_label",
        "scope",
        "threads",
        "tid",
        "writer",
    )

    def __init__(
        self,
        scope: Scope,
        loop: asyncio.AbstractEventLoop,
        node: str,
        answers: dict[str, Any],
        writer: Callable[[Any], None] | None = None,
        busy: TaskCalls | None = None,
        ns_label: str = "",
        tid: str = "",
        threads: list[SyncCall] | None = None,
        attempt: int = 0,
        configurable: bool = False,
    ) -> None:
        self.scope = scope
        self.loop = loop
        self.node = node
        self.answers = answers  # by interrupt key (see flow.interrupt_keys)
        self.asked: dict[str, int] = {}  # interrupt() calls this attempt, by their keys' prefix
        self.writer = writer
        # the task's busy counter (a graph invoked inside the node releases it while it runs); also what builds the
        # node's config and Runtime
        self.busy = busy
        self.ns_label = ns_label  # the namespace of a subgraph run in this task: the node, or node:<step> for a Send
        self.tid = tid  # the task's id in its checkpoint: a subgraph run here records its interrupts under it
        self.threads = threads  # the task's sync calls in worker threads (see :class:`SyncCall`)
        self.attempt = attempt  # the Runtime's node_attempt (0: the Runtime is the default one)
        self.configurable = configurable  # whether get_config() answers (not in an error handler, as before)
        self._runtime: Runtime[Any] | None = None

    @property
    def runtime_used(self) -> bool:
        """Whether the node asked for its :class:`Runtime` (a parameter or ``get_runtime()``) in this attempt."""
        return self._runtime is not None

    def runtime(self) -> Runtime[Any]:
        """The task's :class:`Runtime` (built once per attempt, when first asked for)."""
        if self._runtime is None:
            calls = self.busy
            self._runtime = calls.runtime(self.attempt) if calls is not None and self.attempt else DEFAULT_RUNTIME
        return self._runtime

    def config(self) -> dict[str, Any] | None:
        """The node's config for :func:`get_config` (None where it has none to give)."""
        calls = self.busy
        return calls.config() if calls is not None and self.configurable else None


class SyncCall:
    """A sync node's call handed to a worker thread. Once the thread has begun it, the call cannot be stopped:
    when a sibling task fails, the engine waits for it and keeps its result (as LangGraph's ``invoke`` does), so
    the next call does not run it again; a call no thread has begun yet is dropped instead."""

    __slots__ = ("_lock", "_state", "future")

    def __init__(self) -> None:
        self.future: Submission | None = None
        self._lock = threading.Lock()
        self._state = "pending"  # -> "running" (a thread began it) or "dropped" (it never will)

    def begin(self) -> bool:
        """In the worker thread: whether to run the call (False once it was dropped)."""
        with self._lock:
            if self._state == "dropped":
                return False
            self._state = "running"
            return True

    def unstoppable(self) -> bool:
        """Whether the call is under way in its thread; a call not begun yet is dropped by this check."""
        if self.future is not None and self.future.done():
            return False
        with self._lock:
            if self._state == "pending":
                self._state = "dropped"
                return False
            return self._state == "running"


_node_run: contextvars.ContextVar[NodeRun | None] = contextvars.ContextVar("aether_nb_flow_node", default=None)


def current_node_run() -> NodeRun | None:
    """The task whose code is running now (None outside a state graph's node)."""
    return _node_run.get()


class OutsideGraph(UsageError, RuntimeError):
    """``interrupt()`` called outside a node of a running graph. Also a ``RuntimeError``, as LangGraph raises there
    (``RuntimeError: Called get_config outside of a runnable context``), so code written for LangGraph that catches
    ``RuntimeError`` catches it."""

    default_code = "no_node"


def interrupt(
    value: Any = None, *, message: str | None = None, reason: str | None = None, response_schema: Any = None
) -> Any:
    """Pause the graph inside a node until ``ainvoke(Command(resume=answer), config)`` answers; return the answer.

    The first call raises a control-flow exception that pauses the task: ``ainvoke`` returns with
    ``res.interrupts`` (``res["__interrupt__"]``). When the answer comes, the node runs again from its start and
    this call returns the answer; the steps it completed before the pause (tool calls, LLM calls) replay from the
    journal instead of running twice. Several ``interrupt()`` calls in one node are answered in order, each answer
    going to the call that asked it also when the call is inside a tool (or a ``@graph_fn``, or one of a ToolNode's
    concurrent calls) whose step replays: see :mod:`aether_nb.flow.interrupt_keys`. The pause is a durable wait of
    the run, so it survives a kernel restart.

    Works in ``def`` and ``async def`` nodes alike (no ``await``), and in tools a ToolNode runs.

    Args:
        value: anything JSON-friendly for whoever answers (shown in the notebook, listed in ``res.interrupts``).
        message: the prompt (default: ``value`` when it is a string).
        reason: why the node asks (Agentflow's ``interrupt(..., reason=...)``, e.g. ``"approval"``): kept with the
            question and on the :class:`~aether_nb.flow.types.Interrupt` (``reason``), as ``message`` is.
        response_schema: what the answer must be, as in LangGraph: a pydantic model, TypedDict or dataclass
            (an answer that does not fit is refused with ``InvalidAnswer`` and the question stays pending; this
            call returns the answer validated into the type), or a JSON Schema dict (shown, not enforced). The
            JSON Schema is on the :class:`~aether_nb.flow.types.Interrupt` (``response_schema``).
    """
    node_run = _node_run.get()
    if node_run is None:
        raise OutsideGraph(
            "interrupt() can only be called inside a node of a compiled StateGraph (or a tool its ToolNode runs): "
            "call it from the node's code while the graph runs (ainvoke/astream)"
        )
    if reason is not None and not isinstance(reason, str):
        raise UsageError(f"interrupt(reason=...) takes a string, e.g. reason='approval'; got {shown(reason)}")
    adapter = response_adapter(response_schema)
    prefix = asking_prefix(node_run.scope.prefix)  # (the step whose body asks: its calls replay as one)
    n = node_run.asked.get(prefix, 0) + 1
    node_run.asked[prefix] = n
    key = f"{prefix}interrupt_{n}"
    if key in node_run.answers:
        answer = node_run.answers[key]
        return answer if adapter is None else adapter.validate_python(answer)
    if adapter is not None:
        raise AskedInterrupt(key, n - 1, value, message, adapter.json_schema(), checks=True, reason=reason)
    raise AskedInterrupt(key, n - 1, value, message, response_schema, reason=reason)


def get_stream_writer() -> Callable[[Any], None]:
    """A function that sends a value to ``astream(..., stream_mode="custom")`` (a no-op when nobody streams)."""
    node_run = _node_run.get()
    if node_run is None or node_run.writer is None:
        return _no_writer
    return node_run.writer


def _no_writer(_: Any) -> None:
    return None


_router_runtime: contextvars.ContextVar[Callable[[], Runtime[Any]] | None] = contextvars.ContextVar(
    "aether_nb_flow_router_runtime", default=None
)


@contextlib.contextmanager
def routing_runtime(factory: Callable[[], Runtime[Any]] | None) -> Iterator[None]:
    """Inside the block, :func:`get_runtime` answers with ``factory()`` (a router runs outside its node's call)."""
    token = _router_runtime.set(factory)
    try:
        yield
    finally:
        _router_runtime.reset(token)


def get_config() -> dict[str, Any]:
    """The running node's config (the call's keys, flat and under ``configurable``, with ``thread_id`` and
    ``checkpoint_ns``), as LangGraph's ``langgraph.config.get_config``.

    Raises:
        UsageError: called outside a node of a compiled StateGraph.
    """
    node_run = _node_run.get()
    config = None if node_run is None else node_run.config()
    if config is None:
        raise UsageError(
            "get_config() can only be called inside a node of a compiled StateGraph (or a tool its ToolNode runs)",
            code="no_node",
        )
    return config


def get_store() -> Any:
    """The object given to ``compile(store=...)`` (the parent's for a subgraph without one), as LangGraph's
    ``langgraph.config.get_store``; None when there is none.

    Raises:
        UsageError: called outside a node of a compiled StateGraph.
    """
    return get_runtime().store


def get_runtime(context_schema: Any = None) -> Runtime[Any]:
    """The running node's :class:`~aether_nb.flow.context.Runtime` (``runtime.context`` is the call's
    ``context=``), as LangGraph's ``get_runtime``; ``context_schema`` is only a type hint.

    Raises:
        UsageError: called outside a node of a compiled StateGraph.
    """
    factory = _router_runtime.get()  # in a router (which may run inside a parent graph's node)
    if factory is not None:
        return factory()
    node_run = _node_run.get()
    if node_run is None:
        raise UsageError(
            "get_runtime() can only be called inside a node of a compiled StateGraph (or a tool its ToolNode runs); "
            "elsewhere there is no run whose context it could return",
            code="no_node",
        )
    return node_run.runtime()


class NodeSpec:
    """A node function with its parameters resolved once, at ``add_node`` time, and its policies.

    Attributes:
        destinations: where a ``Command(goto=...)`` may lead (``destinations=`` or a ``Command[Literal[...]]``
            return annotation); used for drawing.
        retry: the retry policies (the first whose ``retry_on`` matches applies).
        timeout_s: the time one attempt may take.
        error_handler: called with the state and a :class:`NodeError` after the retries failed; its return
            replaces the node's.
        input_schema: the type the node receives the state as (default: the graph's state schema).
        defer: run only when nothing else is left to run (a final reduce step).
    """

    def __init__(
        self,
        name: str,
        fn: Callable[..., Any],
        *,
        destinations: Iterable[str] | Mapping[str, str] | None = None,
        retry: AnyRetryPolicy | Sequence[AnyRetryPolicy] | None = None,
        timeout_s: float | None = None,
        error_handler: Callable[..., Any] | None = None,
        input_schema: Any = None,
        defer: bool = False,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        if not callable(fn):
            raise UsageError(
                f"add_node({shown(name)}, ...): a node is a function (or a ToolNode), got {type(fn).__name__}"
            )
        self.name = name
        self.fn = fn
        self.retry = node_policies(f"add_node({shown(name)}, retry_policy=...)", retry)
        self.timeout_s = timeout_seconds(timeout_s, f"add_node({shown(name)}, timeout=...)")
        self.error_handler = None if error_handler is None else NodeSpec(f"{name}:on_error", error_handler)
        self.input_schema = input_schema
        if not isinstance(defer, bool):  # (an array's truth was a bare ValueError; a string was always True)
            raise UsageError(f"add_node({shown(name)}, defer=...) takes True or False, got {shown(defer)}")
        self.defer = defer
        self.metadata = node_metadata(name, metadata)
        self.subgraph: Any = None  # the CompiledGraph when this node is a subgraph
        self.cache_policy: CachePolicy | None = None  # add_node(..., cache_policy=...)
        target = fn if inspect.isfunction(fn) or inspect.ismethod(fn) else getattr(fn, "__call__", fn)  # noqa: B004
        self.is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(target)
        self.bindings: list[tuple[str, str]] = []  # (parameter, source): state | config | context | service name
        self.optional: list[tuple[str, str]] = []  # parameters with defaults that a service may fill
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):
            sig = None
        given, labels = node_destinations(name, destinations)
        self.destinations: tuple[str, ...] | None = (
            given if given is not None else _destinations_from_annotation(fn, sig)
        )
        self.edge_labels: dict[str, str] = labels
        if sig is not None:
            self.bindings, self.optional = bind_parameters(name, sig)
        else:
            self.bindings.append(("", "state"))
        # the function takes the state alone, positionally (most nodes): called without walking the bindings
        self.state_only = self.bindings == [("", "state")] and not self.optional

    def missing_services(self, known: Iterable[str]) -> list[str]:
        names = set(known)
        return [p for p, src in self.bindings if src.startswith("service:") and src[8:] not in names]

    async def call(
        self,
        state: Any,
        config: dict[str, Any],
        scope: Scope,
        services: Mapping[str, Any],
        node_run: NodeRun,
        error: NodeError | None = None,
    ) -> Any:
        """Call the function once with its injected arguments, in ``scope``; sync functions run in a worker
        thread."""
        if self.subgraph is not None:
            state = _subgraph_input(self.subgraph, state)
        if self.state_only:  # (most nodes: the state alone, positionally)
            args: list[Any] = [state]
            kwargs: dict[str, Any] = {}
        else:
            args, kwargs = self._arguments(state, config, scope, services, node_run, error)
        token = _node_run.set(node_run)
        entered = enter_scope(scope)  # (use_scope() without a generator-based context manager per call)
        try:
            if self.is_async:
                return await self.fn(*args, **kwargs)
            return await _in_thread(node_run, self.fn, args, kwargs)
        finally:
            leave_scope(entered)
            _node_run.reset(token)

    def _arguments(
        self,
        state: Any,
        config: dict[str, Any],
        scope: Scope,
        services: Mapping[str, Any],
        node_run: NodeRun,
        error: NodeError | None,
    ) -> tuple[list[Any], dict[str, Any]]:
        """The positional and keyword arguments of a call (:meth:`call`), by the parameters' sources."""
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for pname, source in self.bindings if not self.optional else [*self.bindings, *self.optional]:
            if source == "state":
                value: Any = state
            elif source == "config":
                value = config
            elif source == "context":
                value = scope.context
            elif source == "writer":
                value = node_run.writer or _no_writer
            elif source == "error":
                value = error
            elif source == "runtime":
                value = node_run.runtime()
            elif source == "previous":
                value = None  # (LangGraph's functional API's; a StateGraph node gets None there too)
            elif source == "store":
                store = node_run.runtime().store
                value = store if store is not None else services.get("store")
            else:
                sname = source[8:]
                if sname not in services:
                    if (pname, source) in self.optional:
                        continue
                    raise UsageError(
                        f"node {shown(self.name)} asks for {shown(sname)}, which is neither state, config, "
                        f"context nor a "
                        f"service (known: {sorted(services)}); pass it with compile(services={{{shown(sname)}: ...}})",
                        code="unknown_dependency",
                    )
                value = services[sname]
            if pname == "":
                args.append(value)
            else:
                kwargs[pname] = value
        return args, kwargs

    @functools.cached_property
    def takes_config(self) -> bool:
        """Whether the function has a ``config`` parameter (the config is built for the nodes that read it)."""
        return any(source == "config" for _, source in self.bindings) or any(
            source == "config" for _, source in self.optional
        )


def _subgraph_input(subgraph: Any, state: Any) -> Any:
    """The part of the parent's state a subgraph node hands its subgraph: the keys of the subgraph's input schema.

    The subgraph reads only those (LangGraph maps the parent's state onto the subgraph's input channels); handing
    it the parent's whole state made the subgraph's input warn, on every run, about keys the user never wrote."""
    spec = getattr(subgraph, "spec", None)
    keys = getattr(spec, "input_keys", None)
    if not isinstance(state, Mapping) or keys is None or getattr(spec, "kind", "") not in _KEYED_KINDS:
        return state
    return {k: v for k, v in state.items() if k in keys}


_KEYED_KINDS = ("typeddict", "dataclass", "pydantic")


NODE_THREADS = ThreadExecutor()
"""Where sync node functions run: threads of their own, not the loop's default executor, which ``asyncio.to_thread``
shares (a node that timed out and hangs held one of its few threads for good, and later sync nodes waited there
and timed out without having run). A node given up on stops counting among them (see :class:`ThreadExecutor`)."""


async def _in_thread(node_run: NodeRun, fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
    """``asyncio.to_thread`` that the task can tell apart once begun (see :class:`SyncCall`).

    Given up on (the node's timeout, a cancel) while its thread runs it, the call keeps the node's slot of the
    session's cap until it returns (:func:`linger`), as a sync tool's body does: the cap counts bodies that run."""
    call = SyncCall()
    submission = NODE_THREADS.submit(_run_detached, (call, fn, args, kwargs), {}, label=node_run.node)
    call.future = submission
    if node_run.threads is not None:
        node_run.threads.append(call)  # one per attempt; the task's list lives one superstep
    try:
        return await submission.result()
    except asyncio.CancelledError:
        # (one no thread has begun never runs: cancelled here, or dropped by the unstoppable check)
        if not submission.cancel() and call.unstoppable():
            linger(submission)
        raise


def _run_detached(call: SyncCall, fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
    # In the worker thread: tool calls made by a sync node run directly, as in sync tools.
    if not call.begin():
        return None  # (the task was stopped before a thread took the call: nothing ran)
    with use_scope(None):
        try:
            return fn(*args, **kwargs)
        except (SystemExit, KeyboardInterrupt) as exc:
            # asyncio lets both through every task, to stop the loop (the kernel's, which every run lives on): the
            # node fails instead, as a tool's body does
            raise body_exit(exc, shown(getattr(fn, "__name__", "node")), what="node") from exc


def _destinations_from_annotation(fn: Any, sig: inspect.Signature | None) -> tuple[str, ...] | None:
    """``-> Command[Literal["a", "b"]]`` declares the targets ``("a", "b")``."""
    if sig is None or sig.return_annotation is sig.empty:
        return None
    ann = sig.return_annotation
    if isinstance(ann, str):
        try:
            ann = typing.get_type_hints(fn).get("return", ann)
        except Exception:  # names only the defining function knows: read the Literal's strings from the text
            found = re.search(r"Command\[\s*Literal\[(.*?)\]\s*\]", ann)
            return tuple(re.findall(r"[\"']([^\"']+)[\"']", found.group(1))) if found else None
    for hint in get_args(ann) if get_origin(ann) in (typing.Union, types.UnionType) else (ann,):
        if get_origin(hint) is Command:
            args = get_args(hint)
            if args and get_origin(args[0]) is Literal:
                return tuple(str(a) for a in get_args(args[0]))
    return None
