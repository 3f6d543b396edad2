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
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin

from aether_nb.errors import UsageError, shown
from aether_nb.flow.asks import response_adapter
from aether_nb.flow.cache import CachePolicy
from aether_nb.flow.context import DEFAULT_RUNTIME, Runtime
from aether_nb.flow.interrupt_keys import AskedInterrupt, asking_prefix
from aether_nb.flow.messages import assistant_message, with_ids
from aether_nb.flow.options import node_destinations, node_metadata, timeout_seconds
from aether_nb.flow.params import bind_parameters
from aether_nb.flow.retry import AnyRetryPolicy, node_policies
from aether_nb.flow.state import ROOT, StateSpec, Write
from aether_nb.flow.types import Command, InvalidUpdate, NodeError, Send
from aether_nb.runtime.execution import Scope, enter_scope, leave_scope, use_scope
from aether_nb.runtime.executors import Submission, ThreadExecutor, body_exit, linger


@dataclass(slots=True)
class NodeRun:
    """What code running inside a task can reach: its scope, the answers to its interrupts, its stream writer."""

    scope: Scope
    loop: asyncio.AbstractEventLoop
    node: str
    answers: dict[str, Any] = field(default_factory=dict)  # by interrupt key (see flow.interrupt_keys)
    asked: dict[str, int] = field(default_factory=dict)  # interrupt() calls this attempt, by their keys' prefix
    writer: Callable[[Any], None] | None = None
    busy: Any = None  # the task's busy counter (a graph invoked inside the node releases it while it runs)
    ns_label: str = ""  # the namespace of a subgraph run in this task: the node, or node:<step> for a Send
    tid: str = ""  # the task's id in its checkpoint: a subgraph run here records its interrupts under it
    build_runtime: Callable[[], Runtime[Any]] | None = None  # made on first use: most nodes never ask for it
    threads: list[SyncCall] | None = None  # the task's sync calls in worker threads (see :class:`SyncCall`)
    build_config: Callable[[], dict[str, Any]] | None = None  # the node's config, for get_config()
    _runtime: Runtime[Any] | None = None

    @property
    def runtime_used(self) -> bool:
        """Whether the node asked for its :class:`Runtime` (a parameter or ``get_runtime()``) in this attempt."""
        return self._runtime is not None

    def runtime(self) -> Runtime[Any]:
        """The task's :class:`Runtime` (built once per attempt, when first asked for)."""
        if self._runtime is None:
            self._runtime = self.build_runtime() if self.build_runtime is not None else DEFAULT_RUNTIME
        return self._runtime


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
    if node_run is None or node_run.build_config is None:
        raise UsageError(
            "get_config() can only be called inside a node of a compiled StateGraph (or a tool its ToolNode runs)",
            code="no_node",
        )
    return node_run.build_config()


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
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        if self.subgraph is not None:
            state = _subgraph_input(self.subgraph, state)
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
        token = _node_run.set(node_run)
        entered = enter_scope(scope)  # (use_scope() without a generator-based context manager per call)
        try:
            if self.is_async:
                return await self.fn(*args, **kwargs)
            return await _in_thread(node_run, self.fn, args, kwargs)
        finally:
            leave_scope(entered)
            _node_run.reset(token)

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


# -- what a node returns ------------------------------------------------------------------------------------------
@dataclass(slots=True)
class NodeResult:
    """A node's return as writes (in order) plus where it asked to go (names and Sends)."""

    writes: list[Write]
    goto: list[str | Send]


def normalise_return(raw: Any, spec: StateSpec, node: str) -> NodeResult:
    """A node's return as :class:`NodeResult`.

    Accepts None, a dict of state keys, a :class:`Command`, a list (or tuple) mixing Commands and updates, a state
    object (its fields, as LangGraph writes them), and Agentflow's message returns (a message, a string, or a list
    of them, appended to ``messages``).

    Raises:
        InvalidUpdate: a return the graph cannot use.
    """
    if isinstance(raw, Command):
        return NodeResult(_command_writes(raw, spec, node), _goto_of(raw, node))
    if isinstance(raw, (list, tuple)) and any(isinstance(x, Command) for x in raw):  # (a tuple too, as LangGraph)
        writes: list[Write] = []
        goto: list[str | Send] = []
        for item in raw:
            if isinstance(item, Command):
                writes.extend(_command_writes(item, spec, node))
                goto.extend(_goto_of(item, node))
            else:
                writes.extend(_update_writes(item, spec, node))
        return NodeResult(writes, goto)
    return NodeResult(_update_writes(raw, spec, node), [])


def _command_writes(cmd: Command[Any], spec: StateSpec, node: str) -> list[Write]:
    if cmd.resume is not None:
        raise InvalidUpdate(
            f"node {shown(node)} returned Command(resume=...): resume is an input of ainvoke, not a return"
        )
    update = cmd.update
    if spec.kind != "root" and isinstance(update, (list, tuple)) and update and all(_is_pair(t) for t in update):
        return spec.known([(str(k), v) for k, v in update], f"node {node!r}")
    return _update_writes(update, spec, node)


def _is_pair(t: Any) -> bool:
    return isinstance(t, tuple) and len(t) == 2 and isinstance(t[0], str) and not _looks_like_message_pair(t)


def _looks_like_message_pair(t: tuple[Any, ...]) -> bool:
    return t[0] in ("human", "user", "ai", "assistant", "system", "tool") and isinstance(t[1], str)


def _goto_of(cmd: Command[Any], node: str) -> list[str | Send]:
    targets = cmd.goto_list()
    for t in targets:
        if not isinstance(t, (str, Send)):
            raise InvalidUpdate(
                f"node {shown(node)} returned Command(goto={shown(cmd.goto)}): targets are node names or Sends"
            )
    return targets


def _update_writes(raw: Any, spec: StateSpec, node: str) -> list[Write]:
    if raw is None:
        return []
    if spec.kind == "root":
        return [(ROOT, raw)]
    if isinstance(raw, Mapping) and "role" not in raw:
        return spec.node_writes([(str(k), v) for k, v in raw.items()], node)
    as_object = spec.object_writes(raw)
    if as_object is not None:
        return spec.known(as_object, f"node {node!r}")
    if isinstance(raw, (list, tuple, str, Mapping)) or hasattr(raw, "role"):
        if spec.fields is not None and "messages" not in spec.fields:
            raise InvalidUpdate(
                f"node {shown(node)} returned {type(raw).__name__} {raw!r:.80}: return a dict of state keys (the state "
                f"{spec.name} has no 'messages' key to append messages to), a Command, or None",
                code="bad_return",
            )
        items = list(raw) if isinstance(raw, list) else [raw]
        # Agentflow's node returning text answers as the assistant (written under "messages", a string is a user's)
        return [("messages", [assistant_message(m) if isinstance(m, str) else m for m in items])]
    raise InvalidUpdate(
        f"node {shown(node)} returned a {type(raw).__name__}; return a dict of state keys, a Command, a list of "
        f"messages, a {spec.name} object, or None",
        code="bad_return",
    )


def _agentflow_state(spec: StateSpec, value: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    """Agentflow's ``{"state": {field: value}}`` input (edits of the state's fields, e.g. a reviewer's decision
    given when resuming a breakpoint) as the fields themselves, when the state has no ``state`` key of its own:
    it was dropped as an unknown key and the paused node ran without the edit. Agentflow's ``current_node``
    (moving the cursor) has no counterpart here: refused, saying what to use."""
    edits = value.get("state")
    if not isinstance(edits, Mapping) or spec.fields is None or "state" in spec.fields:
        return value
    if "current_node" in edits:
        raise UsageError(
            f"{where}: Agentflow's state.current_node (moving the cursor) is not supported; route with "
            "update_state(config, values, as_node=...) or Command(goto=...)",
            code="unsupported_input",
        )
    return {**{k: v for k, v in value.items() if k != "state"}, **edits}


def input_writes(spec: StateSpec, value: Any, where: str) -> list[Write]:
    """A turn's input as writes: only the input schema's keys, as LangGraph maps an input to its input channels;
    messages to an ``add_messages`` key get ids and default to the user's role."""
    return _writes_of(spec, value, where, spec.input_keys)


def update_writes(spec: StateSpec, value: Any, where: str) -> list[Write]:
    """An edit (``aupdate_state``'s values, ``Command(update=...)`` given to a call) as writes: any key of the state
    — its private keys and those outside ``input_schema`` too — as LangGraph's edits write any channel of the graph
    (an edit is a node's write, not an input); messages as in :func:`input_writes`."""
    return _writes_of(spec, value, where, None)


def _writes_of(spec: StateSpec, value: Any, where: str, keys: Iterable[str] | None) -> list[Write]:
    if value is None:
        return []
    if isinstance(value, Command):
        return normalise_return(Command(update=value.update), spec, where).writes
    if spec.kind == "root":
        return [(ROOT, value)]
    as_object = spec.object_writes(value)
    if as_object is not None:
        writes = spec.known(as_object, where, keys)
    elif isinstance(value, Mapping):
        value = _agentflow_state(spec, value, where)
        writes = spec.known([(str(k), v) for k, v in value.items()], where, keys)
    else:
        raise InvalidUpdate(
            f"{where} takes a dict of state keys (e.g. {{'messages': [...]}}), a {spec.name} object or None, got "
            f"{type(value).__name__}"
        )
    out: list[Write] = []
    for k, v in writes:
        if spec.is_messages(k):
            items = v if isinstance(v, list) else [v]
            v = with_ids(items, default_role="user")
        out.append((k, v))
    return out
