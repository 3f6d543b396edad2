"""Elements of a run's inputs in a promoted graph: ``input_item``, the node that takes one when the graph runs.

An agent that loops over an input (``for sku in skus: await lookup_price(sku)``) passes each tool an *element* of a
run input. A graph reference names a whole input or a whole output (:class:`~aether_nb.runtime.taskgraph.Ref`), so
promotion found no origin for ``'A1'`` and made it an input of its own (``lookup_price_1_sku = 'A1'``, described as
"computed in Python"): the promoted graph had no ``skus`` input, and calling it with ``skus=[...]`` as the agent is
called failed with "unknown ['skus']". Now such a value is taken from the input when the graph runs, by position (or
by key, in a dict): ``input_item_1 = input_item(of=skus, at=[0], length=2, name='skus')``, and the call reads
``input_item_1.value``.

A loop's length decides the graph's shape, which a static graph cannot follow: the graph has one node per element
the run had. When the agent's code iterates over the input (or its source is unknown and every element was used),
``length`` is the run's number of elements and a call with another number stops at this node with an error saying
so (it used to ignore the extra elements, or fail on a missing one with no word why); promotion says it in the
source and in a :class:`~aether_nb.runtime.promote_effects.PromotionWarning`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aether_nb.errors import UsageError, shown
from aether_nb.runtime.promote_trace import same_value, short, trivial
from aether_nb.runtime.taskgraph import INPUTS, Ref
from aether_nb.runtime.tools import tool
from aether_nb.store.redact import redact_text

__all__ = ["TOOL_NAME", "Pick", "Picks", "input_item"]

TOOL_NAME = "input_item"
_DEPTH = 3
"""How deep into an input's lists and dicts an element is looked for (``orders[0]['sku']`` is depth 2)."""


@tool(outputs=["value"], name=TOOL_NAME, executor="local")
def input_item(of: Any, at: list[Any], length: int | None = None, name: str = "") -> dict[str, Any]:
    """The element of a graph input ``of`` at ``at`` (positions in lists, keys in dicts), as the run promoted into
    this graph took it. ``length``: the number of elements ``of`` must have, because the graph has one node per
    element the run had (the agent looped over it); another number is refused, saying why, rather than silently
    ignoring elements or failing on a missing one."""
    label = name or "the input"
    if length is not None and isinstance(of, (list, tuple)) and len(of) != length:
        raise UsageError(
            f"input {label} has {len(of)} element(s), but this graph was promoted from a run whose code looped over "
            f"{length} element(s) of {label}: a static graph has the shape of that run (one node per element). Pass "
            f"{length} element(s), or promote a run of the agent with as many elements as you need (or move the loop "
            "into a tool)",
            code="promoted_shape",
        )
    value = of
    for i, step in enumerate(at):
        try:
            value = value[step]
        except (IndexError, KeyError, TypeError):
            where = "".join(f"[{s!r}]" for s in at[: i + 1])
            raise UsageError(
                f"input {label} has no element {label}{where} ({shown(value, 80)}), which the run this graph was "
                f"promoted from read: pass {label} with that element",
                code="promoted_shape",
            ) from None
    return {"value": value}


@dataclass
class Pick:
    """One ``input_item`` node of a promoted graph: element ``path`` of run input ``input``."""

    node_id: str
    input: str
    path: tuple[Any, ...]
    value: Any
    length: int | None = None  # set when the graph's shape depends on the input's length (see ``shape``)


def _written(name: str, path: tuple[Any, ...]) -> str:
    return name + "".join(f"[{step!r}]" for step in path)


def _elements(value: Any, depth: int) -> list[tuple[tuple[Any, ...], Any]]:
    """The elements of ``value`` with their paths, shallowest first (lists by position, dicts by string key)."""
    if depth == 0:
        return []
    if isinstance(value, (list, tuple)):
        items: list[tuple[Any, Any]] = list(enumerate(value))
    elif isinstance(value, dict):
        items = [(k, v) for k, v in value.items() if isinstance(k, str)]
    else:
        return []
    found = [((k,), v) for k, v in items]
    for k, v in items:
        found += [((k, *p), e) for p, e in _elements(v, depth - 1)]
    return found


@dataclass
class Picks:
    """The ``input_item`` nodes a promotion made, one per element taken (see the module docstring).

    ``inputs``: the run's inputs; ``reads``: whether the agent's code may read an input (one it never reads is no
    origin, nor one whose elements it never takes); ``taken``: node ids already used by the run's nodes."""

    inputs: dict[str, Any]
    reads: Callable[[str], bool]
    taken: set[str] = field(default_factory=set)
    elements: dict[str, list[tuple[tuple[Any, ...], Any]]] = field(default_factory=dict)  # input -> its elements
    made: dict[tuple[str, tuple[Any, ...]], Pick] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # node id -> which of several equal elements it takes

    def ref(self, value: Any) -> Ref | None:
        """A reference to the element of a run input equal to ``value`` (a node taking it), or None. A trivial
        value (None, a bool, an empty one) is no element: many origins hold one. An input holding the value at
        several positions gives the first not taken yet (a loop passes them in order: ``['A1', 'A1']`` is two
        elements), noted so it can be edited."""
        if trivial(value):
            return None
        for name, held in self.inputs.items():
            if not self.reads(name):
                continue
            if name not in self.elements:  # (walked once: a run may make many calls)
                self.elements[name] = _elements(held, _DEPTH)
            found = [path for path, element in self.elements[name] if same_value(element, value)]
            if not found:
                continue
            path = next((p for p in found if (name, p) not in self.made), found[0])
            pick = self._pick(name, path, value)
            if len(found) > 1:
                where = ", ".join(_written(name, p) for p in found)
                self.notes[pick.node_id] = redact_text(
                    f"{pick.node_id}: {short(value, 60)} is {where} of the run's input; the graph takes "
                    f"{_written(name, path)} (the run's order) — if the agent used another, edit at=[...]"
                )
            return Ref(pick.node_id, "value")
        return None

    def _pick(self, name: str, path: tuple[Any, ...], element: Any) -> Pick:
        key = (name, path)
        if key not in self.made:
            n = len(self.made) + 1
            while f"{TOOL_NAME}_{n}" in self.taken:
                n += 1
            self.taken.add(f"{TOOL_NAME}_{n}")
            self.made[key] = Pick(f"{TOOL_NAME}_{n}", name, path, element)
        return self.made[key]

    def keep(self, read: set[str]) -> None:
        """Keep the picks whose node some call or output reads (``read``: node ids): tracing a list or dict element
        by element makes picks that go unused when the whole is computed."""
        self.made = {k: p for k, p in self.made.items() if p.node_id in read}
        self.notes = {k: v for k, v in self.notes.items() if k in read}

    def shape(self, iterated: set[str] | None) -> dict[str, int]:
        """Set ``length`` on the picks of each list input the graph's shape depends on, and return those inputs
        with their run lengths: the agent's code iterates over the input (``iterated``: the names its loops and
        comprehensions iterate over; None when its source is unknown, then: every element was taken)."""
        bound: dict[str, int] = {}
        for name, held in self.inputs.items():
            mine = [p for p in self.made.values() if p.input == name]
            if not mine or not isinstance(held, (list, tuple)):
                continue
            used = {p.path[0] for p in mine}
            looped = name in iterated if iterated is not None else used == set(range(len(held)))
            if looped:
                bound[name] = len(held)
                for p in mine:
                    p.length = len(held)
        return bound

    def arguments(self, pick: Pick) -> dict[str, Any]:
        """The arguments of ``pick``'s node, the input as a reference (what the promoted source writes)."""
        args: dict[str, Any] = {"of": Ref(INPUTS, pick.input), "at": list(pick.path)}
        if pick.length is not None:
            args["length"] = pick.length
        args["name"] = pick.input
        return args

    def given(self, pick: Pick) -> dict[str, Any]:
        """What the promotion check expects the node to be called with in the run (the run's input itself)."""
        return {**self.arguments(pick), "of": self.inputs[pick.input]}
