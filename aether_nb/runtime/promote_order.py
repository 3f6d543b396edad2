"""The order between promoted calls that pass no data (see :mod:`~aether_nb.runtime.promote`).

A static graph runs a node as soon as the nodes it takes values from are done. A run's DAG also holds the order of
calls that pass nothing to each other: ``await reserve(item)`` then ``await charge(amount)``, write a file then read
it. Promoted from references alone, ``charge`` ran beside ``reserve`` and charged although ``reserve`` failed, and
the read found no file. So each promoted call is ordered after the promoted calls it came after in the run, with
``_after=[...]`` (an ordering-only dependency of ``@graphify``), for the edges its references do not already imply.

"Came after" is the run's DAG: a call's parents (the calls whose results its scope had received when it started,
see :mod:`~aether_nb.runtime.execution`). A parent the graph does not make (a context call, a call that failed and
was caught) is passed through to that step's own predecessors; a nested agent a parent stands for the calls made
inside it; and a call inside a nested agent also comes after what that agent came after.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aether_nb.runtime.graph import GraphNode

__all__ = ["after_edges", "predecessors"]


def predecessors(nodes: Sequence[GraphNode], promoted: set[str]) -> dict[str, set[str]]:
    """For each promoted node of the run, the promoted nodes it came after (its nearest ones, not reduced)."""
    by_id = {n.id: n for n in nodes}
    inside: dict[str, list[str]] = {}  # container -> the promoted nodes made inside it, at any depth
    for n in nodes:
        if n.id not in promoted:
            continue
        at = n.parent
        while at is not None:
            inside.setdefault(at, []).append(n.id)
            at = by_id[at].parent if at in by_id else None
    memo: dict[str, set[str]] = {}

    def before(node_id: str) -> set[str]:
        """The promoted nodes step ``node_id`` came after (through the steps the graph does not make)."""
        if node_id in memo:
            return memo[node_id]
        memo[node_id] = set()  # (the DAG has no cycle; this only guards a malformed record)
        node = by_id.get(node_id)
        found: set[str] = set()
        if node is not None:
            for p in node.parents:
                found |= done_by(p)
            if node.parent is not None and node.parent not in promoted:
                found |= before(node.parent)
        memo[node_id] = found
        return found

    def done_by(node_id: str) -> set[str]:
        """The promoted nodes that were done when step ``node_id`` was: itself, or what it made, or before it."""
        if node_id in promoted:
            return {node_id}
        made = inside.get(node_id)
        return set(made) if made else before(node_id)

    return {n.id: before(n.id) for n in nodes if n.id in promoted}


def after_edges(
    order: Iterable[str], deps: Mapping[str, Iterable[str]], before: Mapping[str, set[str]]
) -> dict[str, list[str]]:
    """The ``_after`` of each node: the nodes of ``before`` not already implied by its data dependencies ``deps``
    (nor by another node of its own ``before``), so the source says only what its references do not. ``order``:
    the nodes in an order where each comes after its dependencies (the run's)."""
    ordered = list(order)
    rank = {node: i for i, node in enumerate(ordered)}
    ancestors: dict[str, set[str]] = {}
    after: dict[str, list[str]] = {}
    for node in ordered:
        implied: set[str] = set()
        for d in deps.get(node, ()):
            implied |= {d} | ancestors.get(d, set())
        wanted = [
            b for b in sorted(before.get(node, set()), key=lambda b: rank.get(b, -1)) if b != node and b not in implied
        ]
        covered = set().union(*(ancestors.get(b, set()) for b in wanted)) if wanted else set()
        after[node] = [b for b in wanted if b not in covered]
        ancestors[node] = implied | {a for b in after[node] for a in {b} | ancestors.get(b, set())}
    return after
