"""The inputs of a promoted graph: the agent's, so the graph is called as the agent is.

A promoted graph used to take only the run inputs some node read as a whole. An agent ``buyer(order_id, skus)``
that looped over ``skus`` and never passed ``order_id`` to a tool was promoted to a graph with neither input, so
``buyer_static(order_id="o1", skus=[...])`` failed with "unknown ['order_id', 'skus']" and no hint. Now the graph
declares every input of the agent (in its order). One a node reads is required, unless the run took the agent's
default (a literal the source can hold): then it is optional with that default. One no node reads is accepted and
optional (its default the agent's, else None: no node reads it), and the source says so (the agent's code used it
only in Python, or not at all).

The run's values of the inputs the agent's code reads are what ``promoted_from`` remembers: a value computed in
Python from them is stale when the graph is called with others (see ``TaskGraph.check_inputs``); an input the
code never reads cannot make one stale, so it is left out there (passing another ``order_id`` is no reason to
refuse the call).
"""

from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass, field
from typing import Any

from aether_nb.runtime.promote_trace import holds_secret, same_value

__all__ = ["Declared", "declared", "input_notes", "literal", "remembered", "shape_warning"]

_RESERVED = ("run_id", "session", "max_concurrency", "retry", "stop_on_first_error", "resume_mode", "executor")
"""``@graphify`` start()'s keywords: no graph input may have one of these names (it could never be passed)."""


@dataclass
class Declared:
    """The promoted graph's inputs that are the agent's: names in order, and the defaults of the optional ones."""

    names: list[str]
    defaults: dict[str, Any] = field(default_factory=dict)
    placeholders: set[str] = field(default_factory=set)  # defaults that are None for want of the agent's


def literal(value: Any) -> bool:
    """Whether ``value`` can be written into source as its repr and read back as itself (no secret)."""
    if holds_secret(value):
        return False
    try:
        return same_value(ast.literal_eval(repr(value)), value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False


def declared(run_inputs: dict[str, Any], agent: Any, used: set[str]) -> Declared:
    """The agent's inputs as the promoted graph declares them (see the module docstring). ``used``: the inputs a
    node or output references."""
    sig = getattr(agent, "signature", None)
    names = list(getattr(agent, "inputs", None) or [])
    params = sig.parameters if isinstance(sig, inspect.Signature) else {}
    if not set(run_inputs) <= set(names):  # (the agent found by name is not the run's: its inputs are unknown)
        names, params = [], {}
    out = Declared([])
    for name in [*names, *(k for k in run_inputs if k not in names)]:
        if not isinstance(name, str) or not name.isidentifier() or (name in _RESERVED and name not in used):
            continue
        param = params.get(name)
        default = param.default if param is not None else inspect.Parameter.empty
        has_default = default is not inspect.Parameter.empty and literal(default)
        if name not in used:  # (accepted, read by no node: optional, so a call without it works as before)
            out.names.append(name)
            out.defaults[name] = default if has_default else None
            if not has_default:
                out.placeholders.add(name)
        elif name in run_inputs:
            out.names.append(name)
            if has_default and same_value(run_inputs[name], default):
                out.defaults[name] = default
    return out


def remembered(run_inputs: dict[str, Any], inputs: Declared, read: set[str] | None) -> dict[str, Any]:
    """The run's values of the declared inputs the agent's code may read (``read`` None: its source is unknown),
    secrets and values the source cannot hold left out: what ``promoted_from`` compares a call's inputs with."""
    taken = {k: v for k, v in inputs.defaults.items() if k not in inputs.placeholders}  # (the agent's defaults)
    values = {**taken, **{k: v for k, v in run_inputs.items() if k in inputs.names}}
    return {k: v for k, v in values.items() if (read is None or k in read) and literal(v)}


def input_notes(run_id: str, names: list[str], used: set[str], shape: dict[str, int]) -> list[str]:
    """The source's notes on the graph's inputs: those whose length is the graph's shape (``shape``: input ->
    the run's number of elements), and those no node reads."""
    notes = [
        f"This graph has the shape of run {run_id}: the agent's code looped over input {name} ({n} element(s)), and "
        f"the graph has one node per element, each taking its element of {name} by position (input_item). Called "
        f"with another number of elements of {name}, it stops with an error saying so: promote a run with as many "
        "elements, or move the loop into a tool"
        for name, n in shape.items()
    ]
    unread = [k for k in names if k not in used]
    if len(unread) == 1:
        notes.append(
            f"{unread[0]}: an input of the agent that no node of this graph reads (its code used it only in Python, "
            "or not at all); the graph takes it, optional, so it is called as the agent is"
        )
    elif unread:
        notes.append(
            f"{', '.join(unread)}: inputs of the agent that no node of this graph reads (its code used them only in "
            "Python, or not at all); the graph takes them, optional, so it is called as the agent is"
        )
    return notes


def shape_warning(shape: dict[str, int]) -> str:
    """What the PromotionWarning says of a graph whose shape is the run's number of elements of some inputs."""
    which = ", ".join(f"{n} element(s) of {name}" for name, n in shape.items())
    return (
        f"has the shape of that run: the agent's code looped over its inputs ({which}) and the graph has one node "
        "per element. Called with another number of elements it stops with an error saying so (promoted_shape): "
        "promote a run with as many elements, or move the loop into a tool"
    )
