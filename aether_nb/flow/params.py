"""What a node function's parameters receive: the rule :class:`~aether_nb.flow.nodes.NodeSpec` applies once, at
``add_node`` time.

LangGraph calls a node as ``fn(state, **injected)``: the state always goes *positionally* as the first argument,
and only parameters with LangGraph's names (``config``, ``writer``, ``store``, ``runtime``, ``previous``, ``error``)
that can be passed by keyword are filled in. Code written for LangGraph leans on that: a plain decorator's
``def wrapper(*args, **kwargs)`` forwards the state, and ``def node(state, /)`` takes it. So the first parameter
(a ``*args`` included) gets the state positionally here too, whatever its name — ``ctx`` or ``context`` as well,
since a LangGraph node named so is given the state.

aether_nb adds its own injections, chosen so that a function LangGraph runs is called the same way (except a first
parameter that says it is something else: ``def handler(error)``, ``def node(c: NodeContext)``):

* a parameter named ``state`` gets the state by keyword, the first parameter then being another injection
  (``def node(config, state)``, ``def node(llm, state)``, ``def node(*, state)``: LangGraph fails on each with a
  ``TypeError``);
* ``context``/``ctx`` (not first, without a default) or any parameter annotated ``NodeContext`` gets the
  node's :class:`~aether_nb.runtime.context.NodeContext`; ``def node(state, context=None)`` keeps its default, as
  in LangGraph, where nothing fills it;
* a parameter annotated ``Runtime``/``StreamWriter``/``NodeError`` gets that object whatever its name;
* any other name is a service (``compile(services=...)``, ``ag.register_context_service``); with a default, only
  when such a service exists.

A function that can be given nothing (``def node()``, ``def node(**kw)``), or with a required positional-only
parameter after the first, is refused when the node is added: LangGraph fails at its first call with a
``TypeError``; the error here is one too (:class:`~aether_nb.flow.types.NodeSignatureError`).
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from typing import Any, get_args, get_origin

from aether_nb.errors import shown
from aether_nb.flow.context import Runtime
from aether_nb.flow.types import NodeSignatureError

INJECTED = ("config", "writer", "store", "runtime", "previous", "error")
"""The keyword arguments LangGraph injects into a node (its ``KWARGS_CONFIG_KEYS``)."""

CONTEXT_NAMES = ("context", "ctx")
"""aether_nb's names for the :class:`~aether_nb.runtime.context.NodeContext` parameter."""

Binding = tuple[str, str]
"""``(parameter, source)``: the parameter's name (``""``: the first positional argument) and what fills it:
``state``, ``config``, ``context``, ``writer``, ``error``, ``runtime``, ``store``, ``previous`` or
``service:<name>``."""


def bind_parameters(node: str, sig: inspect.Signature) -> tuple[list[Binding], list[Binding]]:
    """The bindings of a node's parameters: those always passed, and the defaulted ones a service may fill.

    Raises:
        NodeSignatureError: the function cannot take the state (see the module's docstring).
    """
    params = list(sig.parameters.values())
    first = params[0] if params else None
    state_first = first is not None and _takes_state(first, params[1:])
    bindings: list[Binding] = [("", "state")] if state_first else []
    optional: list[Binding] = []
    for p in params[1:] if state_first else params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.kind is p.POSITIONAL_ONLY:  # (LangGraph fills no positional-only parameter either)
            if p.default is p.empty:
                raise NodeSignatureError(
                    f"node {shown(node)}: parameter {p.name!r} is positional-only, so nothing can fill it (only the "
                    f"first parameter gets the state positionally); remove the '/' after it, or give it a default",
                    code="node_signature",
                )
            continue
        source = "state" if p.name == "state" else _source(p)
        if source == "context" and p.default is not p.empty and _annotated_source(p) != "context":
            continue  # ``context=None``: LangGraph leaves it at its default, and so does aether_nb
        if source.startswith("service:") and p.default is not p.empty:
            optional.append((p.name, source))
        else:
            bindings.append((p.name, source))
    if not bindings and not optional:
        raise NodeSignatureError(
            f"node {shown(node)}: its function takes no parameter it can be given (LangGraph passes the state as the "
            f"first positional argument, and fails with a TypeError); add one, e.g. `def {node}(state)` (`_state` if "
            "the node ignores it)",
            code="node_signature",
        )
    return bindings, optional


def _source(p: inspect.Parameter) -> str:
    """What fills ``p`` by its annotation, else by its name (the state is decided by position, not here)."""
    annotated = _annotated_source(p)
    if annotated:
        return annotated
    if p.name in CONTEXT_NAMES:
        return "context"
    if p.name in INJECTED:
        return p.name
    return f"service:{p.name}"


def _takes_state(first: inspect.Parameter, rest: list[inspect.Parameter]) -> bool:
    """Whether the first parameter gets the state positionally: as in LangGraph, unless it cannot (keyword-only,
    ``**kwargs``), another parameter is named ``state``, or it says it is something else (an injected name, or an
    annotation such as ``NodeContext``)."""
    if first.kind in (first.KEYWORD_ONLY, first.VAR_KEYWORD):
        return False
    if first.name == "state":
        return True
    if any(p.name == "state" for p in rest):  # (aether_nb: ``def node(llm, state)`` takes it by name)
        return False
    return first.name not in INJECTED and not _annotated_source(first)


def _annotated_source(p: inspect.Parameter) -> str:
    """``context``/``writer``/``error``/``runtime`` for a parameter annotated ``NodeContext``, ``StreamWriter``,
    ``NodeError`` or ``Runtime[...]`` (or that ``| None``, also as text under ``from __future__ import
    annotations``); else ``""``."""
    for ann in _members(p.annotation) if p.annotation is not p.empty else ():
        name = ann if isinstance(ann, str) else getattr(ann, "__name__", "")
        name = name if isinstance(name, str) else ""
        for suffix, source in (("NodeContext", "context"), ("StreamWriter", "writer"), ("NodeError", "error")):
            if name.endswith(suffix):
                return source
        if is_runtime_annotation(ann):
            return "runtime"
    return ""


def _members(ann: Any) -> list[Any]:
    """An annotation's types without ``None``: ``X | None`` and ``Optional[X]`` (objects or text) give ``[X]``."""
    if isinstance(ann, str):
        text = ann.strip()
        optional = re.fullmatch(r"(?:typing\.)?Optional\[(.*)\]", text)
        text = optional.group(1) if optional else text
        return [t.strip() for t in text.split("|") if t.strip() != "None"]
    if get_origin(ann) in (typing.Union, types.UnionType):
        return [a for a in get_args(ann) if a is not type(None)]
    return [ann]


def is_runtime_annotation(ann: Any) -> bool:
    """``Runtime``, ``Runtime[Ctx]``, or their text (``from __future__ import annotations``)."""
    if isinstance(ann, str):
        return re.fullmatch(r"(\w+\.)*Runtime(\[.*\])?", ann.strip()) is not None
    return ann is Runtime or get_origin(ann) is Runtime
