"""ToolNode: run the tool calls of the last assistant message as steps of the run, and turn their results into
tool messages (and, for tools that say so, state updates).

A tool may declare parameters the model never sees, filled by the ToolNode: ``state`` (the graph's state),
``config`` (the node's config), ``tool_call_id`` (the id of the call being answered) and ``runtime`` (a
:class:`~aether_nb.flow.context.ToolRuntime`: the call's ``context=``, the store, the stream writer, and the three
others); LangGraph's
``Annotated[..., InjectedState]`` / ``InjectedToolCallId`` / ``InjectedConfig`` / ``InjectedStore`` markers work
too, aether_nb's or LangGraph's and LangChain's own (recognised by class name and module, so a LangGraph user's
tools run unchanged without aether_nb importing LangGraph). They are left out of the JSON schema
(:meth:`ToolNode.schemas`) and out of the step's recorded inputs.

A tool's return becomes the tool message's content, except:

* :class:`ToolResult` (Agentflow's): ``ToolResult("done", state={"count": 3})`` answers the call and updates the
  state;
* :class:`~aether_nb.flow.types.Command` (LangGraph's): its update (which should include the tool message) and
  ``goto`` become the ToolNode's.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import typing
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from aether_nb.errors import UsageError, shown
from aether_nb.flow.context import ToolRuntime
from aether_nb.flow.messages import tool_message
from aether_nb.flow.nodes import get_runtime
from aether_nb.flow.tool_errors import (
    ToolErrorHandling,
    default_handle_tool_errors,
    error_content,
    handled_types,
    invalid_call,
)
from aether_nb.flow.types import END, Command
from aether_nb.runtime.execution import current_scope
from aether_nb.runtime.graph_fn import GraphFn
from aether_nb.runtime.tools import DualStageTool, Tool


class InjectedState:
    """Annotation marker: ``state: Annotated[dict, InjectedState]`` receives the graph's state;
    ``Annotated[str, InjectedState("foo")]`` receives ``state["foo"]``."""

    def __init__(self, field: str | None = None) -> None:
        self.field = field


class InjectedToolCallId:
    """Annotation marker: ``call_id: Annotated[str, InjectedToolCallId]`` receives the call's id."""


class InjectedConfig:
    """Annotation marker: ``cfg: Annotated[dict, InjectedConfig]`` receives the node's config."""


_INJECT_BY_NAME = {"state": "state", "config": "config", "tool_call_id": "tool_call_id", "runtime": "runtime"}
_INJECT_BY_MARK = {InjectedState: "state", InjectedToolCallId: "tool_call_id", InjectedConfig: "config"}
_FOREIGN_MARKS = {"InjectedState": "state", "InjectedToolCallId": "tool_call_id", "InjectedStore": "store"}
_FOREIGN_MODULES = ("langgraph.", "langchain_core.", "langchain.")


def _foreign(cls: Any, names: Iterable[str]) -> bool:
    """Whether ``cls`` is LangGraph's or LangChain's class of one of ``names`` (by name and module: importing
    them here would make LangGraph a dependency)."""
    return (
        isinstance(cls, type)
        and cls.__name__ in names
        and str(getattr(cls, "__module__", "")).startswith(_FOREIGN_MODULES)
    )


def _mark_of(meta: Any) -> str | None:
    """What an ``Annotated`` marker injects (``state``, ``state:<field>``, ``tool_call_id``, ``config``,
    ``store``), or None when it is no injection marker."""
    mark = meta if isinstance(meta, type) else type(meta)
    if mark in _INJECT_BY_MARK:
        what = _INJECT_BY_MARK[mark]
    elif _foreign(mark, _FOREIGN_MARKS):
        what = _FOREIGN_MARKS[mark.__name__]
    else:
        return None
    field = None if isinstance(meta, type) else getattr(meta, "field", None)
    return f"state:{field}" if what == "state" and isinstance(field, str) and field else what


def _is_tool_runtime(hint: Any) -> bool:
    """``ToolRuntime`` (aether_nb's or LangGraph's), possibly parametrised."""
    cls = typing.get_origin(hint) or hint
    return cls is ToolRuntime or _foreign(cls, ("ToolRuntime",))


@dataclass(frozen=True)
class ToolResult:
    """A tool's answer that also updates the graph's state (Agentflow's ``ToolResult``).

    Args:
        message: the tool message's content (a string, or anything JSON-friendly).
        state: a partial state update applied with the reducers, like a node's return.
        is_error: mark the tool message as an error.
    """

    message: Any
    state: Mapping[str, Any] | None = None
    is_error: bool = False


def injected_params(tool: Tool) -> dict[str, str]:
    """``{parameter: what it receives}`` for the parameters of ``tool`` the ToolNode fills."""
    try:
        hints = typing.get_type_hints(tool.fn, include_extras=True)
    except Exception:  # unresolvable annotations: only the parameter names can say what is injected
        hints = {}
    out: dict[str, str] = {}
    for name in tool.signature.parameters:
        hint = hints.get(name)
        if typing.get_origin(hint) is Annotated:
            for meta in typing.get_args(hint)[1:]:
                what = _mark_of(meta)
                if what is not None:
                    out[name] = what
        raw = tool.signature.parameters[name].annotation
        if name not in out and (_is_tool_runtime(hint) or _names_tool_runtime(raw)):
            out[name] = "runtime"
        if name not in out and name in _INJECT_BY_NAME:
            out[name] = _INJECT_BY_NAME[name]
    return out


def _names_tool_runtime(annotation: Any) -> bool:
    """An annotation written as text (``from __future__ import annotations``) that names ``ToolRuntime``."""
    return isinstance(annotation, str) and re.fullmatch(r"(\w+\.)*ToolRuntime(\[.*\])?", annotation.strip()) is not None


class ToolNode:
    """A node that runs every tool call of the last assistant message, concurrently, and returns the results as
    tool messages (in call order).

    Each call is a step of the run (a DAG node, journaled: replayed on resume, and after an ``interrupt()`` in a
    sibling tool). As in LangGraph, an unknown tool name and (by default) malformed arguments become a tool message
    with ``is_error: True`` and the graph goes on, while an exception the tool raises fails the node (after its
    sibling calls finished): ``handle_tool_errors`` changes that (see :mod:`aether_nb.flow.tool_errors`).

    Args:
        tools: ``@ag.tool`` functions (plain functions are wrapped as tools), or DualStageTool classes.
        messages_key: the state key holding the conversation.
        handle_tool_errors: which failures go back to the model as error tool messages: ``True`` (all), a
            message, an exception class or tuple of them, a function ``fn(e) -> str``, or ``False`` (none);
            LangGraph's default hands back only invalid calls (:class:`ToolInvocationError`).
        name: the node's name when it is added without one (``add_node(ToolNode(...))``).
    """

    def __init__(
        self,
        tools: Iterable[Any],
        *,
        messages_key: str = "messages",
        handle_tool_errors: ToolErrorHandling = default_handle_tool_errors,
        name: str = "tools",
    ) -> None:
        self.handle_tool_errors = handle_tool_errors
        self._handled = handled_types(handle_tool_errors)  # (checked now: a bad value fails where it is written)
        self.tools: dict[str, Any] = {}
        self.injected: dict[str, dict[str, str]] = {}
        given: dict[str, Any] = {}  # name -> the object passed for it
        if isinstance(tools, (str, bytes, Mapping)) or not isinstance(tools, Iterable):
            # (as LangGraph's, which takes a sequence: a lone function is the usual slip)
            raise UsageError(
                f"ToolNode takes a list of tools (functions or @ag.tool), got {shown(tools)}; pass a list, even of "
                "one tool: ToolNode([search])",
                code="bad_tools",
            )
        for t in tools:
            if not (callable(t) or hasattr(t, "tool_name")):
                raise UsageError(f"ToolNode takes tools (functions or @ag.tool), got {shown(t)}")
            # (a @graph_fn is not wrapped: a Tool would call it as a sync function and return its coroutine)
            tool = t if isinstance(t, (Tool, GraphFn)) or hasattr(t, "tool_name") else Tool(t)
            tool_name = tool.name if isinstance(tool, (Tool, GraphFn)) else tool.tool_name
            tool_name = getattr(tool, "llm_name", None) or tool_name  # the name the model calls it by (MCP: "add")
            if given.setdefault(tool_name, t) is not t:  # (the same tool listed twice is one tool)
                # (LangGraph's keeps the last one silently: the model's calls then all reach one of the two)
                raise UsageError(
                    f"ToolNode: two tools are named {shown(tool_name)} ({shown(given[tool_name])} and {shown(t)}); "
                    "the model calls a tool by its name, so each needs its own: give one a distinct "
                    f'name=, e.g. @ag.tool(name="{tool_name}_2") (a factory making tools: pass the name in)',
                    code="duplicate_tool_name",
                )
            self.tools[tool_name] = tool
            self.injected[tool_name] = injected_params(tool) if isinstance(tool, Tool) else {}
        self.messages_key = messages_key
        self.__name__ = name  # (add_node(ToolNode([...])) adds the node "tools", as in LangGraph)

    def __repr__(self) -> str:
        return f"ToolNode({sorted(self.tools)})"

    def schemas(self) -> list[dict[str, Any]]:
        """OpenAI ``tools=[...]`` definitions of the tools, without the injected parameters (what
        ``context.llm().message(..., tools=tool_node)`` offers the model)."""
        # (services sit above the runtime; only needed here)
        from aether_nb.services.llm_schema import parameters_schema, parse_docstring, tool_spec

        out = []
        for name, t in self.tools.items():
            if isinstance(t, type) and issubclass(t, DualStageTool):  # (it ran, but was left out of the schemas)
                out.append(tool_spec(t).schema)
                continue
            if not isinstance(t, (Tool, GraphFn)):
                continue
            hidden = self.injected.get(name, {})
            if not hidden or not isinstance(t, Tool):
                out.append(tool_spec(t).schema)
                continue
            # the injected parameters are left out before the schema is built: their types (a ToolRuntime, the
            # state) may have no JSON schema at all
            kept = [p for n, p in t.signature.parameters.items() if n not in hidden]
            params, _ = parameters_schema(
                f"tool {t.name}", t.fn, t.signature.replace(parameters=kept), skip=t.context_param
            )
            description, _ = parse_docstring(inspect.getdoc(t.fn))
            fn = {"name": t.name, "description": description or t.name, "parameters": params}
            out.append({"type": "function", "function": fn})
        return out

    async def __call__(self, state: Any, config: dict[str, Any]) -> Any:
        messages = state.get(self.messages_key) if isinstance(state, Mapping) else getattr(state, self.messages_key)
        last = _last_ai_message(messages or [])
        if last is None:
            raise UsageError(
                f"ToolNode ran but state[{shown(self.messages_key)}] holds no assistant message; route to the tool "
                "node only when the model asked for tools (tools_condition does that)",
                code="no_tool_calls",
            )
        if not last.get("tool_calls"):
            raise UsageError(
                f"ToolNode ran but the latest assistant message in state[{shown(self.messages_key)}] has no "
                "tool_calls; route to the tool node only when the model asked for tools (tools_condition does that)",
                code="no_tool_calls",
            )
        scope = current_scope()
        if scope is None:
            raise UsageError("a ToolNode runs as a node of a compiled StateGraph", code="no_node")
        calls = [self._start(scope, call, state, config) for call in last["tool_calls"]]
        # Every call finishes before an interrupt() in one of them pauses the node: the node then runs again and
        # replays its siblings from the journal, which needs them done (not still running).
        results = await asyncio.gather(*calls, return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r
        commands: list[Any] = []
        messages_out: list[dict[str, Any]] = []
        for r in results:
            if isinstance(r, Command):
                commands.append(r)
            elif isinstance(r, tuple):
                msg, update = r
                messages_out.append(msg)
                commands.append(Command(update=dict(update)))
            elif isinstance(r, dict):
                messages_out.append(r)
        if not commands:
            return {self.messages_key: messages_out}
        return [*commands, {self.messages_key: messages_out}]

    def _start(self, scope: Any, call: Mapping[str, Any], state: Any, config: dict[str, Any]) -> Awaitable[Any]:
        """Prepare one call now (so step keys follow call order), run it when awaited."""
        call_id = str(call.get("id") or "")
        fn = call.get("function") or {}
        name = str(fn.get("name") or call.get("name") or "")

        async def error(text: str) -> dict[str, Any]:
            return tool_message(text, call_id, name=name, is_error=True)

        async def failed(exc: Exception) -> dict[str, Any]:
            return self._failure_message(exc, call_id, name)

        tool = self.tools.get(name)
        if tool is None:
            return error(f"Tool {name!r} not found. Available tools: {sorted(self.tools)}")
        raw_args = fn.get("arguments", call.get("args"))
        if isinstance(tool, GraphFn):
            return self._agent_call(tool, raw_args, call_id, name)
        try:
            args = json.loads(raw_args) if isinstance(raw_args, str) else dict(raw_args or {})
            if not isinstance(args, dict):
                raise ValueError(f"arguments must be a JSON object, got {type(args).__name__}")
            hidden = self.injected.get(name, {})
            full = {**args, **{p: _injected(what, state, config, call_id) for p, what in hidden.items()}}
            _, execute = tool.prepare((), full)
        except Exception as exc:
            return failed(invalid_call(name, raw_args, str(exc)))
        node_name = tool.name if isinstance(tool, Tool) else name  # the node's name (an MCP tool: "calc.add")
        key = scope.next_key(node_name)
        version = getattr(tool, "version", "")

        async def run() -> Any:
            try:
                out = await scope.run_step(key, node_name, "tool", args, execute, meta={"tool_version": version})
            except Exception as exc:
                return self._failure_message(exc, call_id, name)
            value = out["result"] if isinstance(out, dict) and set(out) == {"result"} else out
            if isinstance(value, Command):
                return value
            if isinstance(value, ToolResult):
                msg = tool_message(_content(value.message), call_id, name=name, is_error=value.is_error)
                return (msg, value.state or {})
            return tool_message(_content(out), call_id, name=name)

        return run()

    def _failure_message(self, exc: Exception, call_id: str, name: str) -> dict[str, Any]:
        """The error tool message for a failed call, or ``exc`` raised again when ``handle_tool_errors`` leaves
        it to fail the node (its handler may raise too)."""
        if not isinstance(exc, self._handled):
            raise exc
        return tool_message(error_content(self.handle_tool_errors, exc), call_id, name=name, is_error=True)

    def _agent_call(self, agent: GraphFn, raw_args: Any, call_id: str, name: str) -> Awaitable[Any]:
        """A ``@graph_fn`` the model asked for: a nested agent, a sub-graph node of the tool node (as when a node's
        code calls it), its outputs the tool's result; bad arguments or its failure are handled as a tool's."""
        try:
            args = json.loads(raw_args) if isinstance(raw_args, str) else dict(raw_args or {})
            if not isinstance(args, dict):
                raise ValueError(f"arguments must be a JSON object, got {type(args).__name__}")
            step = agent(**args)  # (its step key is taken now, in call order)
        except Exception as exc:
            invalid = invalid_call(name, raw_args, str(exc))

            async def refused() -> dict[str, Any]:
                return self._failure_message(invalid, call_id, name)

            return refused()

        async def run() -> Any:
            try:
                out = await step
            except Exception as exc:
                return self._failure_message(exc, call_id, name)
            return tool_message(_content(out), call_id, name=name)

        return run()


def _injected(what: str, state: Any, config: dict[str, Any], call_id: str) -> Any:
    if what == "state":
        return state
    if what == "config":
        return config
    if what == "tool_call_id":
        return call_id
    if what == "store":
        return get_runtime().store
    if what == "runtime":
        rt = get_runtime()
        return ToolRuntime(
            context=rt.context,
            store=rt.store,
            stream_writer=rt.stream_writer,
            execution_info=rt.execution_info,
            state=state,
            config=config,
            tool_call_id=call_id,
        )
    key = what.split(":", 1)[1]
    return state[key] if isinstance(state, Mapping) else getattr(state, key)


def tools_condition(state: Any, messages_key: str = "messages") -> str:
    """A router: ``"tools"`` when the last message asks for tool calls, else END (LangGraph's helper; as there, the
    state may also be the list of messages itself)."""
    if not isinstance(messages_key, str):
        raise UsageError(
            f"tools_condition: messages_key must be the name of the state key holding the messages (a str), got "
            f"{type(messages_key).__name__}",
            code="bad_messages_key",
        )
    messages: Any
    if isinstance(state, list):
        messages = state
    else:
        messages = state.get(messages_key) if isinstance(state, Mapping) else getattr(state, messages_key, None)
    if not messages:
        raise UsageError(f"tools_condition: no messages in state[{shown(messages_key)}]", code="no_messages")
    last = messages[-1]
    calls = last.get("tool_calls") if isinstance(last, Mapping) else getattr(last, "tool_calls", None)
    return "tools" if calls else END


def _last_ai_message(messages: list[Any]) -> Mapping[str, Any] | None:
    """The latest assistant message, whatever follows it (LangGraph's ToolNode takes it so): after a failed or
    stopped tool turn the user's next message comes after the assistant message whose calls are still to be
    answered, and the ToolNode that runs again answers them."""
    for m in reversed(messages):
        if isinstance(m, Mapping) and m.get("role") == "assistant":
            return m
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
