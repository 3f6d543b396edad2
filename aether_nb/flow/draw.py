"""Drawing a compiled state graph: Mermaid text and a small node/edge model (LangGraph's ``get_graph``).

Solid arrows are edges; dotted ones are conditional edges (labelled with the router's answer) and the
destinations a node may ``Command(goto=...)`` to (``destinations=`` or a ``Command[Literal[...]]`` annotation).
A waiting edge ``add_edge(["a", "b"], "join")`` draws an arrow from each source. With ``xray``, subgraphs are drawn
inside their node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aether_nb.flow.types import END, START

if TYPE_CHECKING:
    from aether_nb.flow.compiled import CompiledGraph


@dataclass(frozen=True)
class DrawnEdge:
    """An arrow of the drawing: ``conditional`` for routers and Command destinations; ``data`` is its label."""

    source: str
    target: str
    data: str | None = None
    conditional: bool = False


def edges_of(graph: CompiledGraph) -> list[DrawnEdge]:
    """The arrows, grouped by source (START, then the nodes in the order they were added); a node with no way
    out gets an arrow to END, as LangGraph draws it."""
    out: list[DrawnEdge] = []
    seen: set[tuple[str, str, bool]] = set()

    def add(edge: DrawnEdge) -> None:
        key = (edge.source, edge.target, edge.conditional)
        if key not in seen:
            seen.add(key)
            out.append(edge)

    topo = graph.topology
    for source in [START, *graph.nodes]:
        before = len(out)
        for s, e in topo.edges:
            if s == source:
                add(DrawnEdge(s, e))
        for srcs, target in topo.waiting:
            if source in srcs:
                add(DrawnEdge(source, target))
        for b in topo.branches:
            if b.source != source:
                continue
            if b.path_map is not None:
                for key, t in b.path_map.items():
                    add(DrawnEdge(source, t, None if key == t else str(key), True))
            else:
                for n in [*graph.nodes, END]:
                    if n != source:
                        add(DrawnEdge(source, n, None, True))
        spec = graph.nodes.get(source)
        if spec is not None:
            for dest in spec.destinations or ():
                add(DrawnEdge(source, dest, spec.edge_labels.get(dest), True))
        if source != START and len(out) == before:
            add(DrawnEdge(source, END))
    return out


def draw_mermaid(graph: CompiledGraph, *, xray: bool | int = False) -> str:
    """Mermaid flowchart text of ``graph``."""
    lines = ["flowchart TD", f"  {START}([START])", f"  {END}([END])"]
    lines.extend(_node_lines(graph, "", xray))
    lines.extend(_edge_lines(graph, ""))
    return "\n".join(lines)


def _node_lines(graph: CompiledGraph, prefix: str, xray: bool | int) -> list[str]:
    lines = []
    for n, spec in graph.nodes.items():
        marks = " ⏸before" if _paused(graph.interrupt_before, n) else ""
        marks += " ⏸after" if _paused(graph.interrupt_after, n) else ""
        marks += " (defer)" if spec.defer else ""
        if xray and spec.subgraph is not None:
            depth = xray - 1 if isinstance(xray, int) and not isinstance(xray, bool) else xray
            lines.append(f"  subgraph {prefix}{n}[{n}{marks}]")
            lines.extend(_node_lines(spec.subgraph, f"{prefix}{n}_", depth))
            lines.extend(_edge_lines(spec.subgraph, f"{prefix}{n}_"))
            lines.append("  end")
        else:
            lines.append(f"  {prefix}{n}[{n}{marks}]")
    return lines


def _edge_lines(graph: CompiledGraph, prefix: str) -> list[str]:
    def nid(n: str) -> str:
        return n if n in (START, END) and not prefix else f"{prefix}{n}"

    lines = []
    for e in edges_of(graph):
        if e.conditional:
            label = f" {e.data} " if e.data is not None else " "
            lines.append(f"  {nid(e.source)} -.{label}.-> {nid(e.target)}")
        else:
            lines.append(f"  {nid(e.source)} --> {nid(e.target)}")
    return lines


def _paused(option: tuple[str, ...] | str, node: str) -> bool:
    return option == "*" or node in option


Edge = DrawnEdge
"""LangGraph's name for an arrow of ``get_graph().edges``."""


class DrawableGraph:
    """What ``get_graph()`` returns: ``nodes`` (name -> node spec), ``edges`` and ``draw_mermaid()``."""

    def __init__(self, graph: CompiledGraph, *, xray: bool | int = False) -> None:
        self.graph = graph
        self.xray = xray
        self.nodes: dict[str, Any] = {START: None, **graph.nodes, END: None}
        self.edges = edges_of(graph)

    def draw_mermaid(self) -> str:
        return draw_mermaid(self.graph, xray=self.xray)

    def to_dict(self) -> dict[str, Any]:
        nodes = [{"id": n, "name": n} for n in self.nodes]
        edges = [
            {"source": e.source, "target": e.target, "label": e.data, "conditional": e.conditional} for e in self.edges
        ]
        info = {
            "name": self.graph.name,
            "node_count": len(nodes),
            "edge_count": len(edges),
            "interrupt_before": list(self.graph.interrupt_before),
            "interrupt_after": list(self.graph.interrupt_after),
        }
        return {"info": info, "nodes": nodes, "edges": edges}
