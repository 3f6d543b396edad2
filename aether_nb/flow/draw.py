"""Drawing a compiled state graph: Mermaid text and a small node/edge model (LangGraph's ``get_graph``).

Solid arrows are edges; dotted ones are conditional edges (labelled with the router's answer) and the
destinations a node may ``Command(goto=...)`` to (``destinations=`` or a ``Command[Literal[...]]`` annotation).
A waiting edge ``add_edge(["a", "b"], "join")`` draws an arrow from each source. With ``xray``, subgraphs are drawn
inside their node.
"""

from __future__ import annotations

import re
import shutil
import string
import subprocess
import unicodedata
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
    """Mermaid flowchart text of ``graph``: one statement a line, each ended by ``;`` (as LangGraph's)."""
    ids = _MermaidIds()
    lines = ["flowchart TD;", *_start_end_lines(ids, "", "  ")]
    lines.extend(_node_lines(graph, ids, "", xray, "  "))
    lines.extend(_edge_lines(graph, ids, "", "  "))
    return "\n".join(lines)


# Mermaid's flowchart lexer reads these words as keywords wherever a token starts with them and no letter, digit
# or "_" follows (``end``, ``end-x`` and ``end\20x`` are not node ids, ``endx`` and ``end_`` are); "call",
# "click" and "href" only when a space follows. Measured with Mermaid 11 (tests/browser/test_mermaid_render.py).
_KEYWORD_ID = re.compile(
    r"(?:style|default|linkStyle|interpolate|classDef|class|flowchart-elk|swimlane-beta|graph|flowchart|subgraph"
    r"|end|_self|_blank|_parent|_top)(?![A-Za-z0-9_])|(?:call|click|href)$"
)
# Mermaid keeps some of a drawing's nodes in plain JavaScript objects keyed by id: a node named like a property
# every object has (``__proto__``, ``constructor``, ``toString``, ...) made it fail with no message (found by
# tests/browser/test_mermaid_render.py's fuzzing). Such an id is written with its first letter as a code point.
_PROTOTYPE_IDS = frozenset({
    "__proto__", "constructor", "prototype", "toString", "toLocaleString", "valueOf", "hasOwnProperty",
    "isPrototypeOf", "propertyIsEnumerable", "__defineGetter__", "__defineSetter__", "__lookupGetter__",
    "__lookupSetter__",
})  # fmt: skip
_ID_CHARS = frozenset(string.ascii_letters + string.digits + "_-")
# Quoted labels end at '"'; '#' starts Mermaid's entity codes, '%%{' a directive and '`' a markdown string;
# '<', '>' and '&' would be read as HTML. Each is written as an entity code, shown as the character itself.
_LABEL_ESCAPES = {'"': "#quot;", "#": "#35;", "%": "#37;", "`": "#96;", "<": "#60;", ">": "#62;", "&": "#38;"}


def mermaid_id(name: str) -> str:
    """The Mermaid node id LangGraph gives ``name`` (``_to_safe_id``: letters, digits, "_" and "-" kept, any other
    character as a backslash and its hex code point, so "Chart Generator" is ``Chart\\20Generator``), made safe
    where LangGraph's is not: a "-" before another "-" (``--`` starts an arrow) and a first letter that makes a
    Mermaid keyword (``end``, ``graph``, ``style``, ...) or a property every JavaScript object has (``__proto__``,
    ``constructor``, ...: Mermaid keeps nodes in plain objects) are written as code points too."""
    out = "".join(ch if ch in _ID_CHARS else f"\\{ord(ch):x}" for ch in name)
    out = re.sub("-(?=-)", r"\\2d", out)
    if _KEYWORD_ID.match(out) or out in _PROTOTYPE_IDS:
        out = f"\\{ord(out[0]):x}{out[1:]}"
    return out


def mermaid_label(text: str) -> str:
    """``text`` for inside a quoted Mermaid label (``["..."]``), shown as written: the characters Mermaid would read
    as syntax, control characters and whitespace other than a space become entity codes, and the space after
    "direction" too (Mermaid's lexer takes any line holding ``direction`` and whitespace for a direction
    statement, dropping the rest of it)."""
    out = []
    for ch in text:
        if ch in _LABEL_ESCAPES:
            out.append(_LABEL_ESCAPES[ch])
        elif ch != " " and unicodedata.category(ch)[0] in "CZ":
            out.append(f"#{ord(ch)};")
        else:
            out.append(ch)
    return "".join(out).replace("direction ", "direction#32;")


class _MermaidIds:
    """One id per name in a drawing: :func:`mermaid_id`, with ``_2``, ``_3``, ... when two names share it (its
    code points are not prefix-free: " a" and "\\u020a" both give ``\\20a``)."""

    def __init__(self) -> None:
        self._ids: dict[str, str] = {}
        self._taken: set[str] = set()

    def __call__(self, name: str) -> str:
        found = self._ids.get(name)
        if found is None:
            base = found = mermaid_id(name)
            n = 1
            while found in self._taken:
                n += 1
                found = f"{base}_{n}"
            self._ids[name] = found
            self._taken.add(found)
        return found


def _start_end_lines(ids: _MermaidIds, prefix: str, indent: str) -> list[str]:
    return [f'{indent}{ids(prefix + START)}(["START"]);', f'{indent}{ids(prefix + END)}(["END"]);']


def _node_lines(graph: CompiledGraph, ids: _MermaidIds, prefix: str, xray: bool | int, indent: str) -> list[str]:
    lines = []
    for n, spec in graph.nodes.items():
        marks = " ⏸before" if _paused(graph.interrupt_before, n) else ""
        marks += " ⏸after" if _paused(graph.interrupt_after, n) else ""
        marks += " (defer)" if spec.defer else ""
        label = mermaid_label(n + marks)
        if xray and spec.subgraph is not None:
            depth = xray - 1 if isinstance(xray, int) and not isinstance(xray, bool) else xray
            inner = f"{prefix}{n}:"
            lines.append(f'{indent}subgraph {ids(prefix + n)} ["{label}"]')
            lines.extend(_start_end_lines(ids, inner, indent + "  "))
            lines.extend(_node_lines(spec.subgraph, ids, inner, depth, indent + "  "))
            lines.extend(_edge_lines(spec.subgraph, ids, inner, indent + "  "))
            lines.append(f"{indent}end")
        else:
            lines.append(f'{indent}{ids(prefix + n)}["{label}"];')
    return lines


def _edge_lines(graph: CompiledGraph, ids: _MermaidIds, prefix: str, indent: str) -> list[str]:
    """``a --> b`` for an edge, ``a -.-> b`` for an unlabelled conditional one and ``a -. "label" .-> b`` for a
    labelled one (Mermaid has no ``-. .->``)."""
    lines = []
    for e in edges_of(graph):
        source, target = ids(prefix + e.source), ids(prefix + e.target)
        if not e.conditional:
            arrow = "-->"
        elif e.data:
            arrow = f'-. "{mermaid_label(e.data)}" .->'
        else:
            arrow = "-.->"
        lines.append(f"{indent}{source} {arrow} {target};")
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
