"""What a :class:`~aether_nb.flow.toolnode.ToolNode` does with a tool call that fails: LangGraph's prebuilt
``handle_tool_errors`` rule.

By default (as LangGraph's) only a call the model got wrong — malformed or missing arguments — goes back to the
model as an error tool message it can correct; an exception the tool itself raises fails the node, so a payment
gateway that is down stops the turn (and shows in ``get_state``) instead of being narrated by the model as if it
were a typo. ``handle_tool_errors`` widens or narrows that:

* ``True``: every exception becomes an error tool message;
* a string: every exception becomes a tool message with that text;
* an exception class, or a tuple of them: those become error tool messages, others fail the node;
* a callable ``fn(e) -> str``: the exceptions its first parameter's annotation names (``e: ValueError``,
  ``e: ValueError | KeyError``; all of them without an annotation) become tool messages with its text; it may
  raise to fail the node anyway (LangGraph's default handler is such a function);
* ``False``: every exception, invalid arguments included, fails the node.

An ``interrupt()`` inside a tool, and cancellation, are never handled: they are not ``Exception`` s.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from typing import Any, Union

from aether_nb.errors import MCPError, UsageError, shown

ToolErrorHandling = bool | str | Callable[..., str] | type[Exception] | tuple[type[Exception], ...]
"""What ``ToolNode(handle_tool_errors=...)`` takes (LangGraph's type)."""


class ToolInvocationError(UsageError, ValueError):
    """The model called a tool with arguments it does not take (malformed JSON, an unknown or missing argument).

    The one failure LangGraph's default ``handle_tool_errors`` hands back to the model (its
    ``ToolInvocationError``): the model wrote the call, so it can fix it. A ``ValueError`` too, as the pydantic
    ``ValidationError`` behind LangGraph's is.
    """

    default_code = "tool_invocation"

    def __init__(self, message: str, *, tool_name: str = "", tool_kwargs: Any = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.tool_name = tool_name
        self.tool_kwargs = tool_kwargs


def invalid_call(tool_name: str, tool_kwargs: Any, error: str) -> ToolInvocationError:
    """The error for a call of ``tool_name`` with ``tool_kwargs`` that it cannot take, ``error`` saying why."""
    return ToolInvocationError(
        f"Invalid arguments for {tool_name}: {error}", tool_name=tool_name, tool_kwargs=tool_kwargs
    )


def default_handle_tool_errors(e: Exception) -> str:
    """LangGraph's default: an invalid call goes back to the model, any other exception fails the node.

    One addition: an MCP tool that answers ``isError`` (``MCPError`` with code ``mcp_tool_error``) goes back to
    the model too. The MCP spec means such a result for the model ("tool execution errors ... reported in the
    result so the LLM can handle them"); the server is up and answered, unlike a connection failure or timeout,
    which still fail the node.
    """
    if isinstance(e, ToolInvocationError):
        return e.message
    if isinstance(e, MCPError) and e.code == "mcp_tool_error":
        return f"Error: {e.message}"
    raise e


def handled_types(handling: ToolErrorHandling) -> tuple[type[BaseException], ...]:
    """The exception types ``handling`` turns into tool messages (none for ``False``).

    Raises:
        UsageError: a value of another kind, or a handler annotated with something that is not an exception type
            (found when the ToolNode is made, where LangGraph finds it at the first failure).
    """
    if handling is False:
        return ()
    if handling is True or isinstance(handling, str):
        return (Exception,)
    if isinstance(handling, type) and issubclass(handling, Exception):
        return (handling,)
    if isinstance(handling, tuple) and handling and all(_is_exception_type(t) for t in handling):
        return handling
    if callable(handling) and not isinstance(handling, type):
        return _annotated_types(handling)
    raise UsageError(
        f"ToolNode(handle_tool_errors=...) takes True/False, a message, an exception class or a tuple of them, or "
        f"a function fn(e) -> str; got {shown(handling)}",
        code="bad_handle_tool_errors",
    )


def error_content(handling: ToolErrorHandling, exc: Exception) -> str:
    """The tool message's text for ``exc``, which ``handling`` handles; a handler may raise it instead."""
    if isinstance(handling, str):
        return handling
    if callable(handling) and not isinstance(handling, type):
        return str(handling(exc))
    if isinstance(exc, ToolInvocationError):
        return exc.message
    return f"Error: {type(exc).__name__}: {exc}"


def _is_exception_type(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, Exception)


def _annotated_types(handler: Callable[..., Any]) -> tuple[type[BaseException], ...]:
    """The types a handler's first parameter is annotated with (LangGraph's ``_infer_handled_types``)."""
    try:
        params = list(inspect.signature(handler).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature: it takes whatever comes
        return (Exception,)
    if not params:
        return (Exception,)
    first = params[1] if params[0].name in ("self", "cls") and len(params) == 2 else params[0]
    try:
        hints = typing.get_type_hints(handler)
    except Exception:  # unresolvable annotations: take the raw one if it is a class, else handle everything
        hints = {first.name: first.annotation} if isinstance(first.annotation, type) else {}
    hint = hints.get(first.name)
    if hint is None:
        return (Exception,)
    args = typing.get_args(hint) if typing.get_origin(hint) in (Union, types.UnionType) else (hint,)
    if not all(_is_exception_type(a) for a in args):
        raise UsageError(
            f"the handle_tool_errors function {getattr(handler, '__name__', shown(handler))} annotates its error "
            f"as {shown(hint)}: annotate it with an exception class or a union of them (e: ValueError | KeyError), "
            "or not at all",
            code="bad_handle_tool_errors",
        )
    return tuple(args)
