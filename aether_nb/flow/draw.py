"""Drawing a compiled state graph: Mermaid text and a small node/edge model (LangGraph's ``get_graph``).

Solid arrows are edges; dotted ones are conditional edges (labelled with the router's answer) and the
destinations a node may ``Command(goto=...)`` to (``destinations=`` or a ``Command[Literal[...]]`` annotation).
A waiting edge ``add_edge(["a", "b"], "join")`` draws an arrow from each source. With ``xray``, subgraphs are drawn
inside their node.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aether_nb.errors import UsageError, shown
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

    def draw_mermaid(self, *, with_styles: bool = True, **options: Any) -> str:
        """Mermaid flowchart text. ``with_styles`` is accepted as LangGraph's (this drawing has no style lines
        either way); LangGraph's other styling options are refused rather than silently ignored."""
        if options:
            raise UsageError(
                f"draw_mermaid(): the options {sorted(options)} are not supported (aether_nb draws one plain style); "
                "call draw_mermaid() and style the text yourself"
            )
        return draw_mermaid(self.graph, xray=self.xray)

    def draw_ascii(self) -> str:
        """The graph as plain text, one arrow a line (``a --> b``; ``a -.-> b`` for a conditional edge or a
        Command destination, its label in parentheses): LangGraph's box drawing needs the ``grandalf`` package."""
        lines = []
        for e in self.edges:
            label = f" ({e.data})" if e.data is not None else ""
            lines.append(f"{e.source} {'-.->' if e.conditional else '-->'} {e.target}{label}")
        return "\n".join(lines)

    def draw_png(self, output_file_path: str | None = None, fontname: str | None = None) -> bytes | None:
        """A PNG image of the graph drawn by Graphviz ``dot`` (installed with the ``graphviz`` system package), as
        LangGraph's ``draw_png``: the bytes, or None once written to ``output_file_path``."""
        png = render_dot(to_dot(self.graph, fontname or "Helvetica"), "png")
        if output_file_path is None:
            return png
        Path(output_file_path).write_bytes(png)
        return None

    def draw_mermaid_png(self, **_: Any) -> bytes:
        """Not built: LangGraph renders the Mermaid text with a web service (mermaid.ink) or a headless browser."""
        raise UsageError(
            "draw_mermaid_png() is not available in aether_nb: LangGraph renders it with the mermaid.ink web "
            "service (or a headless browser). Use app.get_graph().draw_png() (Graphviz `dot`, local), "
            "draw_mermaid() for the Mermaid text, or show `app` in a notebook cell (it renders as Mermaid)",
            code="not_supported",
        )

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


def to_dot(graph: CompiledGraph, fontname: str = "Helvetica") -> str:
    """Graphviz DOT source of ``graph``: boxes for nodes, ovals for START and END, dashed arrows for conditional
    edges and Command destinations (labelled with the router's answer)."""

    def q(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    font = q(fontname)
    lines = ["digraph G {", f"  node [shape=box, style=rounded, fontname={font}];", f"  edge [fontname={font}];"]
    lines.append(f"  {q(START)} [shape=oval];")
    lines.extend(f"  {q(n)};" for n in graph.nodes)
    lines.append(f"  {q(END)} [shape=oval];")
    for e in edges_of(graph):
        attrs = ["style=dashed"] if e.conditional else []
        if e.data is not None:
            attrs.append(f"label={q(e.data)}")
        lines.append(f"  {q(e.source)} -> {q(e.target)}" + (f" [{', '.join(attrs)}]" if attrs else "") + ";")
    lines.append("}")
    return "\n".join(lines)


def render_dot(source: str, fmt: str, *, timeout_s: float = 20.0) -> bytes:
    """``dot -T<fmt>`` of ``source`` in a subprocess with a timeout.

    Raises:
        UsageError: ``dot`` is not installed, fails or takes too long.
    """
    dot_bin = shutil.which("dot")
    if dot_bin is None:
        raise UsageError(
            "drawing the graph as an image needs Graphviz's `dot` program (apt install graphviz, brew install "
            "graphviz or conda install graphviz); draw_mermaid() gives Mermaid text without it",
            code="missing_dependency",
        )
    try:
        res = subprocess.run([dot_bin, f"-T{fmt}"], input=source.encode(), capture_output=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise UsageError(f"Graphviz `dot` took over {timeout_s:g} s to draw the graph") from exc
    if res.returncode != 0:
        raise UsageError(f"Graphviz `dot` failed: {shown(res.stderr.decode(errors='replace'), 300)}")
    return res.stdout
