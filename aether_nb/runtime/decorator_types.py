"""Static types of ``@tool`` and ``@graph_fn``: what a user's type checker sees of decorated functions (no runtime).

A tool is called with its own parameters, so :class:`~aether_nb.runtime.tools.Tool` is generic in them (``P``)
and in the body's return type (``R``); its call returns ``Any`` because what it returns depends on where it is
called (an awaitable step in a run, a node handle while a graph is built, the outputs dict directly).

The context parameter is injected, never passed, but a ParamSpec can only drop a *leading positional* parameter
(``Concatenate``): a context written first (``def f(context: ag.NodeContext, x: int)``) is left out of ``P``; one
written as a keyword (``*, context``) cannot be told apart from an input. So a tool keeps all its parameters (its
inputs are checked; a keyword-only context without a default would have to be passed: write it first, or give it a
default), while an agent, which mostly takes its context as a keyword, is typed by its inputs only when its context
comes first and is ``GraphFn[...]`` (inputs unchecked, never wrongly refused) otherwise. A first parameter that
would accept anything (``Any``, ``object``, unannotated) is not the context: :class:`Broad` sends it to ``...``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Concatenate, Protocol, overload

if TYPE_CHECKING:
    # PEP 696 defaults: a bare ``ag.Tool`` / ``ag.GraphFn`` annotation means ``Tool[..., Any]`` / ``GraphFn[...]``
    # (no "missing type parameters" under --strict). Python 3.11's typing takes no default=, hence the split.
    from typing_extensions import ParamSpec, TypeVar

    from aether_nb.runtime.context import NodeContext
    from aether_nb.runtime.graph_fn import GraphFn
    from aether_nb.runtime.tools import DualStageTool, Tool

    P = ParamSpec("P", default=...)
    R = TypeVar("R", default=Any)
else:
    from typing import ParamSpec, TypeVar

    P = ParamSpec("P")
    R = TypeVar("R")

Q = ParamSpec("Q")
T = TypeVar("T")
D = TypeVar("D", bound="DualStageTool")


class Broad:
    """A type no parameter is annotated with: a function whose first parameter accepts it (``Any``, ``object``,
    unannotated, a bare TypeVar) would also accept a NodeContext there, which does not make it the context."""


class ToolDecorator(Protocol):
    """What ``ag.tool(outputs=...)`` returns: applied to a function, a typed :class:`Tool`."""

    @overload
    def __call__(self, fn: type[D], /) -> type[D]: ...  # type: ignore[overload-overlap]
    @overload
    def __call__(self, fn: Callable[Concatenate[Broad, Q], T], /) -> Tool[..., T]: ...
    @overload
    def __call__(self, fn: Callable[Concatenate[NodeContext, Q], T], /) -> Tool[Q, T]: ...
    @overload
    def __call__(self, fn: Callable[Q, T], /) -> Tool[Q, T]: ...


class GraphFnDecorator(Protocol):
    """What ``ag.graph_fn(name=...)`` returns: applied to an ``async def``, a :class:`GraphFn`."""

    @overload
    def __call__(self, fn: Callable[Concatenate[Broad, Q], Coroutine[Any, Any, Any]], /) -> GraphFn[...]: ...
    @overload
    def __call__(self, fn: Callable[Concatenate[NodeContext, Q], Coroutine[Any, Any, Any]], /) -> GraphFn[Q]: ...
    @overload
    def __call__(self, fn: Callable[..., Coroutine[Any, Any, Any]], /) -> GraphFn[...]: ...
