"""Graph drawings with Graphviz ``dot``, always in a subprocess with a timeout.

``dot`` can take minutes on graphs with long-range edges (FACTS.md): a layout that exceeds the timeout is retried
with cheap settings, and failing that the caller falls back to a plain list. The Python ``graphviz`` package only
writes the DOT source.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections import Counter
from typing import Any

from aether_nb.runtime import status

FAST_LAYOUT = {"mclimit": "0.1", "nslimit": "1", "nslimit1": "1", "splines": "line"}


def to_dot(graph: dict[str, Any], *, fast: bool = False) -> str:
    """DOT source for a run graph (``RunGraph.to_dict()``), with sub-graphs drawn as clusters.

    Statuses are drawn in the words and colours of :mod:`aether_nb.runtime.status`, as the widget draws them: a
    node's ``shown`` status when the graph carries one (the rules in that module), else its own.
    """
    import graphviz

    rankdir = direction(graph)
    dot = graphviz.Digraph(graph_attr={"rankdir": rankdir, "compound": "true", **(FAST_LAYOUT if fast else {})})
    dot.attr("node", shape="box", style="rounded,filled", fontname="Helvetica", fontsize="10")
    nodes = graph.get("nodes", [])
    shown = status.shown_statuses(nodes, str(graph.get("status") or ""))
    children: dict[str | None, list[dict[str, Any]]] = {}
    for n in nodes:
        children.setdefault(n.get("parent"), []).append(n)
    # DOT ids of our own ("n0", "n1"...): a run's ids may hold ':' (a port in DOT) or other syntax.
    ids = {n["id"]: f"n{i}" for i, n in enumerate(nodes)}

    def anchor(node_id: str) -> str:
        """A drawn node standing for ``node_id``: itself, or for a cluster its first leaf (edges clip to the box)."""
        while node_id in children:
            node_id = children[node_id][0]["id"]
        return ids[node_id]

    def add(container: Any, parent: str | None) -> None:
        for n in children.get(parent, []):
            st = str(n.get("shown") or shown.get(n["id"]) or n["status"])
            stroke, fill = status.TONE_COLORS.get(status.tone(st), ("#757575", "#ffffff"))
            label = f"{n['name']}\n{status.words(st)}"
            if n.get("label"):
                label = f"{n['name']}\n{n['label']}\n{status.words(st)}"
            if n.get("body"):  # a sync body given up on: what it does now (it may still do its effect)
                label += "\n" + status.BODY_WORDS.get(str(n["body"]), status.BODY_WORDS["ended"])
            if n["id"] in children:
                with container.subgraph(name=f"cluster_{ids[n['id']]}") as sub:
                    sub.attr(label=f"{n['name']} · {status.words(st)}", color=stroke, fontcolor=stroke)
                    add(sub, n["id"])
            else:
                # the SVG element keeps the run's node id (``id``), and its hover title says it too
                container.node(
                    ids[n["id"]],
                    label,
                    id=str(n["id"]),
                    tooltip=str(n["id"]),
                    color=stroke,
                    fillcolor=fill,
                    fontcolor="#222222",
                )

    add(dot, None)
    for a, b in graph.get("edges", []):
        if a not in ids or b not in ids:
            continue
        attrs = {}
        if a in children:
            attrs["ltail"] = f"cluster_{ids[a]}"
        if b in children:
            attrs["lhead"] = f"cluster_{ids[b]}"
        dot.edge(anchor(a), anchor(b), **attrs)
    return str(dot.source)


def direction(graph: dict[str, Any]) -> str:
    """``"LR"`` (left to right), or ``"TB"`` for a graph much deeper than it is wide: a 35-step chain drawn left to
    right is one row far wider than a notebook cell, while top to bottom it scrolls the way the notebook does."""
    depth: dict[str, int] = {n["id"]: 0 for n in graph.get("nodes", []) if n.get("parent") is None}
    if not depth:
        return "LR"
    after: dict[str, list[str]] = {}
    waiting = dict.fromkeys(depth, 0)  # edges into each node not yet followed (Kahn's order: linear time)
    for a, b in graph.get("edges", []):
        if a in depth and b in depth and a != b:
            after.setdefault(a, []).append(b)
            waiting[b] += 1
    ready = [n for n, count in waiting.items() if count == 0]
    while ready:
        a = ready.pop()
        for b in after.get(a, ()):
            depth[b] = max(depth[b], depth[a] + 1)
            waiting[b] -= 1
            if waiting[b] == 0:
                ready.append(b)
    ranks = max(depth.values()) + 1
    widest = max(Counter(depth.values()).values())
    return "TB" if ranks > 12 and ranks > 2 * widest else "LR"


def _svg_text(out: bytes) -> str:
    text = out.decode("utf-8", errors="replace")
    return text[text.find("<svg") :] if "<svg" in text else text


def render_svg_sync(graph: dict[str, Any], *, timeout_s: float = 5.0) -> str | None:
    """:func:`render_svg` for synchronous callers (``TaskGraph.visualize``)."""
    dot_bin = shutil.which("dot")
    if dot_bin is None or not graph.get("nodes"):
        return None
    for fast in (False, True):
        try:
            res = subprocess.run(
                [dot_bin, "-Tsvg"], input=to_dot(graph, fast=fast).encode(), capture_output=True, timeout=timeout_s
            )
        except subprocess.TimeoutExpired:
            continue
        if res.returncode == 0:
            return _svg_text(res.stdout)
    return None


async def render_svg(graph: dict[str, Any], *, timeout_s: float = 5.0) -> str | None:
    """SVG of the graph, or None when ``dot`` is missing or too slow even with the fast settings.

    ``dot`` runs from a worker thread (:func:`render_svg_sync`), not as an asyncio subprocess: cancelling
    ``asyncio.create_subprocess_exec`` while it starts waits for the child to exit (CPython 3.11), and ``dot``
    waits for its input, so a loop shutting down (``asyncio.run`` ending right after a run) hung for ever. A
    cancelled drawing now leaves a thread that ends within ``2 * timeout_s``.
    """
    if shutil.which("dot") is None or not graph.get("nodes"):
        return None
    return await asyncio.to_thread(render_svg_sync, graph, timeout_s=timeout_s)
