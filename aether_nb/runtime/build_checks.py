"""Checks of a ``@graphify`` body: when it is decorated (what it is, its signature's inputs), and when it is built
(the tools behind its nodes and their conditions).

Why these are build errors: a built graph stores each node's tool by *name* (plus a fingerprint of its code), and a
run finds the tool again by that name. Two different tools with one name in one graph (two ``fetch`` tools a
factory made, or a name reused for another function) could not both be found: one node ran the other's code,
silently, or the run said the tool was "redefined" and building again did not help. A condition with a misspelled
key compared None with None. Each problem is one line of the build's report (see :class:`GraphBuilder`).

At decoration: a generator function's body ran no code when traced (its graph had no nodes and "succeeded" with the
un-run generator as its output), and without ``inputs=`` a parameter's default was ignored (``def p(x, factor=2)``
needed ``factor=`` at every call).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from aether_nb.errors import UsageError, shown
from aether_nb.runtime.registry import lookup
from aether_nb.runtime.taskgraph import REQUIRED, origin


def refuse_non_body(fn: Any) -> None:
    """Refuse at decoration what ``@graphify`` cannot trace: a body is a plain ``def`` that returns its outputs.

    Raises:
        UsageError: ``fn`` is not callable, an ``async def`` (or async generator), or a generator function.
    """
    if not callable(fn):
        raise UsageError(f"@graphify decorates a function, got {type(fn).__name__}")
    name = getattr(fn, "__name__", None) or shown(fn, 80)
    if inspect.isasyncgenfunction(fn) or inspect.isgeneratorfunction(fn):
        raise UsageError(
            f"@graphify {name} is {'an async' if inspect.isasyncgenfunction(fn) else 'a'} generator function (it "
            "yields): a graph's body is a plain `def`, traced once, that returns its outputs; as a generator its "
            "body would never run (no nodes) and its output would be the generator. `return {...}` instead of "
            "`yield`",
            code="graphify_generator",
        )
    if inspect.iscoroutinefunction(fn):
        raise UsageError(
            "@graphify decorates a plain `def` (it is traced once, not awaited); use @graph_fn for async agents"
        )


def signature_inputs(fn: Callable[..., Any], graph: str) -> tuple[list[str], dict[str, Any]]:
    """A graph's inputs from its body's signature (no ``inputs=`` given): the required ones, and the optional ones
    with their defaults (a parameter's default, unless it is ``ag.REQUIRED``).

    Raises:
        UsageError: a parameter cannot be passed by name (``*args``, ``**kwargs``, positional-only): the body is
            called with the inputs by name.
    """
    required: list[str] = []
    optional: dict[str, Any] = {}
    for p in inspect.signature(fn).parameters.values():
        if p.kind is p.VAR_KEYWORD:
            raise UsageError(
                f"@graphify {graph}: **{p.name} does not say which inputs the graph takes: name them with "
                f"@graphify(inputs=[...]) (the body receives them in {p.name}), or make them parameters",
                code="graphify_signature",
            )
        if p.kind in (p.VAR_POSITIONAL, p.POSITIONAL_ONLY):
            what = f"*{p.name}" if p.kind is p.VAR_POSITIONAL else f"positional-only parameter {p.name!r}"
            raise UsageError(
                f"@graphify {graph}: {what} cannot take a graph input (the body is called with its inputs by name): "
                "make each input an ordinary parameter",
                code="graphify_signature",
            )
        if p.default is p.empty or p.default is REQUIRED:
            required.append(p.name)
        else:
            optional[p.name] = p.default
    return required, optional


_CONDITION_KEYS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # op -> (keys it needs, keys it may have besides "op")
    **dict.fromkeys(("eq", "ne", "in", "not_in"), (frozenset({"left", "right"}), frozenset({"left", "right"}))),
    **dict.fromkeys(("truthy", "falsy"), (frozenset({"value"}), frozenset({"value"}))),
    "not": (frozenset(), frozenset({"value", "args"})),
    **dict.fromkeys(("and", "or"), (frozenset({"args"}), frozenset({"args"}))),
}
CONDITION_OPS = frozenset(_CONDITION_KEYS)


def condition_problems(node_id: str, cond: Any) -> list[str]:
    """What is wrong with node ``node_id``'s ``_condition`` in its JSON form (empty: nothing)."""
    if isinstance(cond, bool) or (isinstance(cond, dict) and "$ref" in cond):
        return []
    if not isinstance(cond, dict) or cond.get("op") not in CONDITION_OPS:
        return [
            f"{node_id}: _condition must be a bool, a reference, or {{'op': one of {sorted(CONDITION_OPS)}, ...}}, "
            f"got {cond!r}"
        ]
    op = cond["op"]
    needs, may = _CONDITION_KEYS[op]
    keys = set(cond) - {"op"}
    if not needs <= keys or not keys <= may or (op == "not" and len(keys) != 1):
        # a misspelled key ({"op": "eq", "lhs": x}) compared None with None, silently: it is an error
        shape = {"not": "'value' (or 'args': [one condition])"}.get(op, " and ".join(f"'{k}'" for k in sorted(may)))
        return [f"{node_id}: _condition op {op!r} takes {shape}, got keys {sorted(keys)}"]
    subs = cond.get("args", [])
    if not isinstance(subs, list) or (op == "not" and "args" in cond and len(subs) != 1):
        return [f"{node_id}: _condition op {op!r}: 'args' must be a list of conditions, got {subs!r}"]
    if op == "not" and "value" in cond:
        subs = [cond["value"]]
    return [
        p
        for sub in subs
        if op in ("and", "or") or (isinstance(sub, dict) and "op" in sub)
        for p in condition_problems(node_id, sub)
    ]


def _where(tool: Any) -> str:
    """A tool's definition, for a message telling two of one name apart: ``module.qualname at file:line``."""
    module, qualname = origin(tool)
    code = getattr(getattr(tool, "fn", None), "__code__", None)
    at = f" at {code.co_filename}:{code.co_firstlineno}" if code is not None else ""
    return f"{module}.{qualname}{at}"


def _rename(name: str, factory: bool) -> str:
    made = f' (in a factory, from its arguments: `@ag.tool(name=f"{name}_{{kind}}")`)' if factory else ""
    return f"give each its own name with @ag.tool(name=...){made}"


class GraphTools:
    """The one tool each name and code version stands for in a graph being built (``tools``, kept by the built
    graph, which runs them), and the problems of the nodes whose tool cannot be the one its name finds.

    Why name *and* version: a node records both, and a graph loaded again finds its tool by both, so two tools of
    one name with different code (a notebook's ``ask_approval`` beside the ready-made one) are told apart; two of
    one name and the same code (a factory's tools, differing only in what they closed over) are not."""

    def __init__(self) -> None:
        self.tools: dict[tuple[str, Any], Any] = {}
        self._first: dict[tuple[str, Any], str] = {}  # (name, version) -> the first node that called it
        self._named: dict[tuple[str, tuple[str, str]], tuple[str, Any]] = {}  # (name, origin) -> its first key
        self._told: set[tuple[str, int]] = set()  # (name, id of a tool) already reported: each clash said once

    def problem(self, tool: Any, name: str, node_id: str) -> str | None:
        """Why node ``node_id`` cannot call ``tool`` (registered as ``name``) in this graph, or None."""
        key = (name, getattr(tool, "version", None))
        seen = self.tools.get(key)
        if seen is None:
            self.tools[key] = tool
            self._first[key] = node_id
            first_key = self._named.setdefault((name, origin(tool)), key)
            if first_key == key:
                return self._superseded(tool, name, node_id)
            key, seen = first_key, self.tools[first_key]  # one function defined again with other code: both called
        if seen is tool or (name, id(tool)) in self._told:
            return None
        self._told.add((name, id(tool)))
        first, again = _where(seen), _where(tool)
        how = f"both made by {first}: a factory called twice?" if first == again else f"{first}, and {again}"
        return (
            f"{self._first[key]} and {node_id}: two different tools are both named {name!r} ({how}); a graph finds "
            "each node's tool by its name, so one node would run the other's code. Tool names must be unique in a "
            f"graph: {_rename(name, first == again)}"
        )

    @staticmethod
    def _superseded(tool: Any, name: str, node_id: str) -> str | None:
        """A tool whose function was defined again since, with other code, under the same name: the graph could
        never run it (a run refuses a tool "redefined after the graph was built"), and building again would not help
        while the body calls this definition (kept under another variable)."""
        latest = lookup("tool", name)
        if latest is None or latest is tool or origin(latest) != origin(tool):
            return None
        if getattr(latest, "version", None) == getattr(tool, "version", None):
            return None  # (the same code: the graph keeps and runs the definition it called)
        return (
            f"{node_id}: calls an earlier definition of tool {name!r}: {_where(tool)} was defined again since with "
            f"other code, and the name now stands for the new one. Call the current {name}, or, if both are meant to "
            f"exist, {_rename(name, False)}"
        )


__all__ = ["CONDITION_OPS", "GraphTools", "condition_problems", "refuse_non_body", "signature_inputs"]
