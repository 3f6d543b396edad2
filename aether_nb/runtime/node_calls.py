"""What a static graph's node is called with when it executes: its tool and its inputs' values.

Why a module of its own: both were worked out from scratch at every node's execution (``TaskGraph.resolve_tool``:
two registry lookups, the redefinition check and the tool's signature walked again; ``resolve``: a recursive walk
of the node's inputs), ~10 % of a W1 ``@graphify`` step beyond a ``@graph_fn``'s. The answers here are the same
ones, found with less:

* :class:`NodeTools` keeps, per tool name and code version, the tool ``resolve_tool`` found while the registry's
  latest tool of that name and the graph's own tool are still the very objects it was found with (the only case it
  keeps: the graph runs the definition that is current). A cell that redefines the tool between two nodes changes
  the registry's entry, so the next node asks ``resolve_tool`` again and is refused as before.
* :func:`resolve_inputs` resolves a node's inputs one level at a time where ``resolve`` recursed for every value:
  a reference or a scalar (what a build makes of most inputs) is settled in place, anything else goes to
  ``resolve`` itself.
"""

from __future__ import annotations

from typing import Any

from aether_nb.runtime.registry import lookup
from aether_nb.runtime.taskgraph import NodeSpec, TaskGraph, resolve


class NodeTools:
    """:meth:`TaskGraph.resolve_tool` for one execution of ``graph``, its answers kept while nothing they depend on
    changed (see the module's docstring)."""

    def __init__(self, graph: TaskGraph) -> None:
        self.graph = graph
        self._found: dict[tuple[str, str], tuple[Any, Any]] = {}  # (name, version) -> (the latest tool, node tool)

    def of(self, spec: NodeSpec) -> Any:
        """The tool node ``spec`` runs (what ``graph.resolve_tool(spec)`` returns, or raises)."""
        key = (spec.tool, spec.tool_version)
        latest = lookup("tool", spec.tool)
        found = self._found.get(key)
        if found is not None and found[0] is latest and self.graph.tools.get(key) is latest:
            return found[1]
        tool = self.graph.resolve_tool(spec)
        if latest is not None and self.graph.tools.get(key) is latest:
            # the graph's own tool is the registry's latest: resolve_tool's answer while both stay these objects
            self._found[key] = (latest, tool)
        else:
            self._found.pop(key, None)
        return tool


def resolve_inputs(inputs: Any, results: dict[str, dict[str, Any] | None]) -> Any:
    """``resolve(inputs, results)`` for a node's inputs (a dict of input names), one level inlined."""
    if type(inputs) is not dict or ("$ref" in inputs and len(inputs) == 1):  # (not a dict of inputs: resolve's way)
        return resolve(inputs, results)
    resolved: dict[str, Any] = {}
    for k, v in inputs.items():
        t = type(v)
        if t is dict and "$ref" in v and len(v) == 1:
            node, key = v["$ref"]
            outputs = results.get(node)
            resolved[k] = None if outputs is None else outputs.get(key)
        elif t is str or t is int or t is float or t is bool or v is None:
            resolved[k] = v
        else:
            resolved[k] = resolve(v, results)
    return resolved


__all__ = ["NodeTools", "resolve_inputs"]
