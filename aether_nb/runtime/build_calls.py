"""A ``@graphify`` body's usual tool call, added to its graph with what the build already knows of the tool.

Why: a graph is built again at each call of it (its body is user code that may read anything), and the build was
~12 % of a W1 ``@graphify`` step: each call of a tool (``inc(x=h.y)``) read the tool's name, outputs and version,
looked up its signature and keyword plan, asked the graph's tool checks (:class:`GraphTools`) about it and copied
its outputs, all answers that cannot change between two calls of the same tool in one build. :class:`KnownTool`
keeps them from the tool's first call, which went the general way (``GraphBuilder.add``), for the calls after it:

* the tool checks: ``GraphTools.problem`` says None for every call of a tool after its first one (the first call
  registers the tool under its name and version, or notes the clash it reported), so a known tool skips it;
* binding: a call by keywords given in the signature's order is the ``BoundArguments`` of ``keyword_bind`` itself;
  any other call goes to ``keyword_bind`` (None: the general way, for its error message);
* the tool's name, outputs and version are compared by identity with the ones kept (a tool given other ones since
  goes the general way again).

:func:`bound_inputs` is the part shared with the general way: a call's bound arguments in their JSON form.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aether_nb.runtime.keyword_binding import KeywordPlan, keyword_bind
from aether_nb.runtime.taskgraph import INPUTS, Ref, refs_in


class KnownTool:
    """What the build knows of a ``@tool`` after its first call (see the module's docstring)."""

    __slots__ = ("declared", "handle", "name", "names", "outputs", "plan", "tool", "version")

    def __init__(self, tool: Any, plan: KeywordPlan, declared: tuple[str, ...] | None, handle: type[Any]) -> None:
        self.tool = tool
        self.name: str = tool.name
        self.outputs: list[str] | None = tool.outputs
        self.version: str = tool.version
        self.plan = plan
        self.names = plan[0]
        self.declared = declared
        self.handle = handle

    def bind(self, tool: Any, kwargs: dict[str, Any]) -> dict[str, Any] | None:
        """``kwargs`` bound to the tool's parameters (``keyword_bind``'s answer), or None: the call goes the general
        way (another tool, other name, outputs or version since, or a call ``keyword_bind`` does not bind)."""
        if tool is not self.tool or tool.name is not self.name or tool.outputs is not self.outputs:
            return None
        if tool.version is not self.version:
            return None
        if tuple(kwargs) == self.names:  # every parameter, in order: keyword_bind returns kwargs itself
            return kwargs
        return keyword_bind(self.plan, kwargs)


def bound_inputs(
    arguments: dict[str, Any], node_id: str, encode: Callable[[Any, str], Any]
) -> tuple[dict[str, Any], list[str]]:
    """A node's inputs in their JSON form, and the nodes they refer to (in order, repeats kept).

    A reference or a scalar (most inputs) is its own JSON form and its dependency is taken at once; anything else
    is ``encode``-d (the builder's, which reports what cannot be an input) and searched for references."""
    inputs: dict[str, Any] = {}
    deps: list[str] = []
    for k, v in arguments.items():
        t = type(v)
        if t is Ref:
            node = v.node
            inputs[k] = {"$ref": [node, v.key]}
            if node != INPUTS:
                deps.append(node)
        elif t is str or t is int or t is float or t is bool or v is None:
            inputs[k] = v
        else:
            inputs[k] = encoded = encode(v, f"{node_id}: input {k!r}")
            deps += [r.node for r in refs_in(encoded) if r.node != INPUTS]
    return inputs, deps


__all__ = ["KnownTool", "bound_inputs"]
