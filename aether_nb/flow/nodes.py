"""Nodes of a state graph: how a node function is called (dependency injection), what its return becomes (an
update plus an optional ``goto``), :func:`interrupt`, and :class:`ToolNode`.

A node function receives its inputs by parameter name: the first parameter (or one named ``state``) gets the
state; ``config`` the run's config dict (a copy per node); ``context``/``ctx`` (or a parameter annotated
``NodeContext``) the node's :class:`~aether_nb.runtime.context.NodeContext`; any other name a service given to
``compile(services={...})`` or registered with ``ag.register_context_service``. Sync functions run in a worker
thread, like sync tools.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aether_nb.errors import UsageError
from aether_nb.flow.messages import Message, tool_message, with_ids
from aether_nb.flow.state import StateSpec
from aether_nb.flow.types import END, Command, InvalidUpdate, Overwrite
from aether_nb.runtime.execution import Scope, _current_scope, current_scope
from aether_nb.runtime.tools import Tool
from aether_nb.runtime.waits import WaitSpec

_RESERVED = ("state", "config")
_CONTEXT_NAMES = ("context", "ctx")


@dataclass
class NodeRun:
    """What code running inside a node can reach: its scope, the loop, and the engine's interrupt hook."""

    scope: Scope
    loop: asyncio.AbstractEventLoop
    node: str
    on_interrupt: Callable[[], None]


_node_run: contextvars.ContextVar[NodeRun | None] = contextvars.ContextVar("aether_nb_flow_node", default=None)


class NodeSpec:
    """A node function with its parameters resolved once, at ``add_node`` time."""

    def __init__(self, name: str, fn: Callable[..., Any], destinations: Iterable[str] | None = None) -> None:
        if not callable(fn):
            raise UsageError(f"add_node({name!r}, ...): a node is a function (or a ToolNode), got {type(fn).__name__}")
        self.name = name
        self.fn = fn
        self.destinations = tuple(destinations) if destinations is not None else None
        target = fn if inspect.isfunction(fn) or inspect.ismethod(fn) else getattr(fn, "__call__", fn)  # noqa: B004
        self.is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(target)
        self.bindings: list[tuple[str, str]] = []  # (parameter, source): state | config | context | service name
        self.optional: list[tuple[str, str]] = []  # parameters with defaults that a service may fill
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):
            sig = None
        self.may_command = False
        if sig is not None:
            ret = sig.return_annotation
            self.may_command = "Command" in (ret if isinstance(ret, str) else repr(ret))
            self._resolve(sig)
        else:
            self.bindings.append(("", "state"))

    def _resolve(self, sig: inspect.Signature) -> None:
        params = list(sig.parameters.values())
        state_taken = any(p.name == "state" for p in params)
        for i, p in enumerate(params):
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            ann = p.annotation
            ann_name = ann if isinstance(ann, str) else getattr(ann, "__name__", "")
            if p.name == "state" or (i == 0 and not state_taken and p.name not in ("config", *_CONTEXT_NAMES)):
                source = "state"
            elif p.name == "config":
                source = "config"
            elif p.name in _CONTEXT_NAMES or (isinstance(ann_name, str) and ann_name.endswith("NodeContext")):
                source = "context"
            else:
                source = f"service:{p.name}"
            if source.startswith("service:") and p.default is not p.empty:
                self.optional.append((p.name, source))
            else:
                self.bindings.append((p.name, source))

    def missing_services(self, known: Iterable[str]) -> list[str]:
        names = set(known)
        return [p for p, src in self.bindings if src.startswith("service:") and src[8:] not in names]

    async def call(
        self,
        state: Any,
        config: dict[str, Any],
        scope: Scope,
        services: Mapping[str, Any],
        on_interrupt: Callable[[], None],
    ) -> Any:
        """Call the function with its injected arguments; sync functions run in a worker thread."""
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for pname, source in [*self.bindings, *self.optional]:
            if source == "state":
                value: Any = state
            elif source == "config":
                value = config
            elif source == "context":
                value = scope.context
            else:
                sname = source[8:]
                if sname not in services:
                    if (pname, source) in self.optional:
                        continue
                    raise UsageError(
                        f"node {self.name!r} asks for {sname!r}, which is neither state, config, context nor a "
                        f"service (known: {sorted(services)}); pass it with compile(services={{{sname!r}: ...}})",
                        code="unknown_dependency",
                    )
                value = services[sname]
            if pname == "":
                args.append(value)
            else:
                kwargs[pname] = value
        token = _node_run.set(NodeRun(scope, asyncio.get_running_loop(), self.name, on_interrupt))
        try:
            if self.is_async:
                return await self.fn(*args, **kwargs)
            return await asyncio.to_thread(_run_detached, self.fn, args, kwargs)
        finally:
            _node_run.reset(token)


def _run_detached(fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
    # In the worker thread: tool calls made by a sync node run directly, as in sync tools.
    _current_scope.set(None)
    return fn(*args, **kwargs)


# -- what a node returns ------------------------------------------------------------------------------------------
def normalise_return(
    raw: Any, spec: StateSpec, before: dict[str, Any], node: str, nodes: Iterable[str]
) -> dict[str, Any]:
    """A node's return as ``{"update": {...}, "goto": [...] | None}``, messages given ids.

    Raises:
        InvalidUpdate: a return type the graph cannot use, or a ``goto`` to an unknown node.
    """
    goto: list[str] | None = None
    if isinstance(raw, Command):
        if raw.resume is not None:
            raise InvalidUpdate(
                f"node {node!r} returned Command(resume=...): resume is an input of ainvoke, not a return"
            )
        if raw.goto is not None:
            goto = [raw.goto] if isinstance(raw.goto, str) else list(raw.goto)
            known = set(nodes)
            bad = [g for g in goto if g != END and g not in known]
            if bad:
                raise InvalidUpdate(
                    f"node {node!r} returned Command(goto={raw.goto!r}): no node named {bad} (nodes: {sorted(known)})",
                    code="unknown_goto",
                )
        update = _update_of(raw.update, spec, before, node)
    else:
        update = _update_of(raw, spec, before, node)
    return {"update": update, "goto": goto}


def _update_of(raw: Any, spec: StateSpec, before: dict[str, Any], node: str) -> dict[str, Any]:
    if raw is None:
        return {}
    as_object = spec.from_object(raw)
    if as_object is not None:
        update = spec.diff(before, as_object)
    elif isinstance(raw, Mapping) and "role" not in raw:
        update = dict(raw)
    elif isinstance(raw, (list, tuple, str)) or (isinstance(raw, Mapping) and "role" in raw) or hasattr(raw, "role"):
        items = list(raw) if isinstance(raw, (list, tuple)) else [raw]
        update = {"messages": items}
    else:
        raise InvalidUpdate(
            f"node {node!r} returned a {type(raw).__name__}; return a dict of state keys, a list of messages, "
            f"a Command, a {spec.name} object, or None",
            code="bad_return",
        )
    if "messages" in update:
        update["messages"] = _messages_with_ids(update["messages"])
    return update


def _messages_with_ids(value: Any) -> Any:
    if isinstance(value, Overwrite):
        return Overwrite(_messages_with_ids(value.value))
    items = value if isinstance(value, (list, tuple)) else [value]
    return with_ids(items)


# -- interrupt() --------------------------------------------------------------------------------------------------
def interrupt(value: Any = None, *, message: str | None = None) -> Any:
    """Pause the graph inside a node until ``ainvoke({"resume": answer}, config)`` (or ``Command(resume=...)``).

    In an ``async def`` node write ``answer = await interrupt(value)``; in a plain ``def`` node
    ``answer = interrupt(value)`` blocks its worker thread until the answer comes. The pause is a durable wait of
    the run: in this process the node simply continues with the answer; after a kernel restart the node runs
    again, and every step it completed before the pause (tool calls, LLM calls) is replayed from the journal.

    Args:
        value: anything JSON-friendly for whoever answers (shown in the notebook, listed in ``res.interrupts``).
        message: the prompt (default: ``value`` when it is a string).
    """
    node_run = _node_run.get()
    if node_run is None:
        raise UsageError("interrupt() can only be called inside a node of a compiled StateGraph", code="no_node")
    prompt = message if message is not None else (value if isinstance(value, str) else f"{node_run.node}: resume?")
    spec = WaitSpec(kind="human", prompt=prompt, meta={"flow": "interrupt", "node": node_run.node, "value": value})
    node_run.on_interrupt()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is node_run.loop:
        return _InterruptCall(current_scope() or node_run.scope, spec)
    scope = node_run.scope  # a sync node in its worker thread: hop onto the loop and block until answered

    async def on_loop() -> Any:
        return await _InterruptCall(scope, spec)

    return asyncio.run_coroutine_threadsafe(on_loop(), node_run.loop).result()


class _InterruptCall:
    """``await interrupt(...)``: a wait node of the calling scope; reported if never awaited."""

    def __init__(self, scope: Scope, spec: WaitSpec) -> None:
        self._scope = scope
        self._spec = spec
        self._key = scope.next_key("interrupt")
        scope.unawaited[self._key] = "interrupt"

    def __await__(self) -> Any:
        scope, key, spec = self._scope, self._key, self._spec
        scope.unawaited.pop(key, None)
        inputs = {"kind": spec.kind, "prompt": spec.prompt, "options": None}

        async def execute(child: Scope) -> Any:
            return await scope.await_answer(key, spec, None)

        return scope.run_step(key, "interrupt", "wait", inputs, execute).__await__()


# -- ToolNode -------------------------------------------------------------------------------------------------------
class ToolNode:
    """A node that runs every tool call of the last assistant message, concurrently, and returns the results as
    tool messages (in call order).

    Each call is a step of the run (a DAG node, journaled: replayed on resume). A failing tool, malformed
    arguments or an unknown tool name become a tool message with ``is_error: True``, and the graph goes on.

    Args:
        tools: ``@ag.tool`` functions (plain functions are wrapped as tools), or DualStageTool classes.
        messages_key: the state key holding the conversation.
    """

    def __init__(self, tools: Iterable[Any], *, messages_key: str = "messages") -> None:
        self.tools: dict[str, Any] = {}
        for t in tools:
            tool = t if isinstance(t, Tool) or hasattr(t, "tool_name") else Tool(t)
            name = tool.name if isinstance(tool, Tool) else tool.tool_name
            self.tools[name] = tool
        self.messages_key = messages_key

    def __repr__(self) -> str:
        return f"ToolNode({sorted(self.tools)})"

    def schemas(self) -> list[dict[str, Any]]:
        """OpenAI ``tools=[...]`` definitions of the (function) tools, for the model that calls them."""
        from aether_nb.services.llm_schema import tool_spec  # services sit above the runtime; only needed here

        return [tool_spec(t).schema for t in self.tools.values() if isinstance(t, Tool)]

    async def __call__(self, state: Any) -> dict[str, Any]:
        messages = state.get(self.messages_key) if isinstance(state, Mapping) else getattr(state, self.messages_key)
        last = _last_ai_message(messages or [])
        if last is None:
            raise UsageError(
                f"ToolNode ran but the last assistant message in state[{self.messages_key!r}] has no tool_calls; "
                "route to the tool node only when the model asked for tools",
                code="no_tool_calls",
            )
        scope = current_scope()
        if scope is None:
            raise UsageError("a ToolNode runs as a node of a compiled StateGraph", code="no_node")
        calls: list[Awaitable[Message]] = [self._start(scope, call) for call in last["tool_calls"]]
        results = await asyncio.gather(*calls)
        return {self.messages_key: list(results)}

    def _start(self, scope: Scope, call: Mapping[str, Any]) -> Awaitable[Message]:
        """Prepare one call now (so step keys follow call order), run it when awaited."""
        call_id = str(call.get("id") or "")
        fn = call.get("function") or {}
        name = str(fn.get("name") or call.get("name") or "")

        async def error(text: str) -> Message:
            return tool_message(text, call_id, name=name, is_error=True)

        tool = self.tools.get(name)
        if tool is None:
            return error(f"Tool {name!r} not found. Available tools: {sorted(self.tools)}")
        raw_args = fn.get("arguments", call.get("args"))
        try:
            args = json.loads(raw_args) if isinstance(raw_args, str) else dict(raw_args or {})
            if not isinstance(args, dict):
                raise ValueError(f"arguments must be a JSON object, got {type(args).__name__}")
            inputs, execute = tool.prepare((), args)
        except Exception as exc:
            return error(f"Invalid arguments for {name}: {exc}")
        key = scope.next_key(name)
        version = getattr(tool, "version", "")

        async def run() -> Message:
            try:
                out = await scope.run_step(key, name, "tool", inputs, execute, meta={"tool_version": version})
            except Exception as exc:
                return tool_message(f"Error: {type(exc).__name__}: {exc}", call_id, name=name, is_error=True)
            return tool_message(_content(out), call_id, name=name)

        return run()


def _last_ai_message(messages: list[Any]) -> Mapping[str, Any] | None:
    for m in reversed(messages):
        if isinstance(m, Mapping) and m.get("role") == "assistant":
            return m if m.get("tool_calls") else None
        if isinstance(m, Mapping) and m.get("role") != "tool":
            return None
    return None


def _content(outputs: Any) -> str:
    if isinstance(outputs, dict) and set(outputs) == {"result"}:
        outputs = outputs["result"]
    if isinstance(outputs, str):
        return outputs
    try:
        return json.dumps(outputs, default=str)
    except (TypeError, ValueError):
        return str(outputs)
