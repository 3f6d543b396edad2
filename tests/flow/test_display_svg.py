"""A StateGraph shown in a cell (compiled, or the builder) carries an SVG of its nodes and edges, as a TaskGraph
does (API.md: "a static SVG/text fallback"), beside the text and the compiled graph's Mermaid markdown."""

from __future__ import annotations

import shutil
from typing import Any, TypedDict

import pytest
from IPython.core.formatters import DisplayFormatter

from aether_nb.flow import END, START, StateGraph

pytestmark = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot draws the SVG")


class S(TypedDict):
    n: int


def graph() -> StateGraph:
    g = StateGraph(S)
    g.add_node("plan", lambda s: {"n": 1})
    g.add_node("act", lambda s: {"n": 2})
    g.add_edge(START, "plan")
    g.add_conditional_edges("plan", lambda s: "go", {"go": "act", "stop": END})
    g.add_edge("act", END)
    return g


def shown(obj: Any) -> dict[str, Any]:
    data, _ = DisplayFormatter().format(obj)
    return data


def test_a_compiled_graph_displays_an_svg_of_its_nodes_and_edges() -> None:
    data = shown(graph().compile(checkpointer="memory"))
    svg = data["image/svg+xml"]
    assert svg.startswith("<svg")
    for name in ("plan", "act", "__start__", "__end__", "stop"):
        assert name in svg
    assert "```mermaid" in data["text/markdown"]
    assert data["text/plain"].startswith("<CompiledGraph")


def test_a_builder_displays_an_svg_of_what_it_holds_so_far() -> None:
    g = graph()
    data = shown(g)
    assert data["text/plain"] == "StateGraph(S, nodes=['plan', 'act'])"
    assert "act" in data["image/svg+xml"]
    assert "image/svg+xml" not in shown(StateGraph(S))  # (nothing to draw yet: the text only)


def test_no_dot_program_leaves_text_and_mermaid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    data = shown(graph().compile(checkpointer="memory"))
    assert "image/svg+xml" not in data and "```mermaid" in data["text/markdown"]
    assert "image/svg+xml" not in shown(graph())
