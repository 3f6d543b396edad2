"""A notebook shows a ``StateGraph`` (``app`` as a cell's value: ``_repr_markdown_``'s ```mermaid block) with the
Mermaid 11 that JupyterLab ships: every drawing renders as a figure, never as JupyterLab's "could not render"
details, whatever the node names (spaces, punctuation, unicode, Mermaid keywords such as ``end`` or ``graph``).

The fuzzed names come from hypothesis in batches: each example is one cell run that displays a batch of graphs, so
a failure shrinks to the smallest graph Mermaid cannot read."""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from labdriver import LabPage

from aether_nb.errors import UsageError

pytestmark = pytest.mark.browser

# Builds a graph from a JSON spec, in the kernel and in this process alike (the same source, exec'd in both).
BUILD = """
import operator
from typing import Annotated
from typing_extensions import TypedDict
import aether_nb.flow as flow


class DrawState(TypedDict):
    log: Annotated[list, operator.add]


def build(spec):
    g = flow.StateGraph(DrawState)
    for name in spec["nodes"]:
        g.add_node(name, lambda s: {}, defer=name in spec["defer"])
    g.add_edge(flow.START, spec["nodes"][0])
    for source, target in spec["edges"]:
        g.add_edge(source, target)
    for source, path_map in spec["maps"]:
        g.add_conditional_edges(source, lambda s: flow.END, dict(path_map))
    for source in spec["no_map"]:
        g.add_conditional_edges(source, lambda s: flow.END)
    ib = spec["interrupt_before"]
    return g.compile(interrupt_before=ib, checkpointer="memory" if ib else None)
"""

# Per rendered drawing in a cell's output: the Mermaid source JupyterLab kept, and either its error (JupyterLab's
# "jp-mod-warning" details) or the node and edge labels of the SVG it shows (an <img> of a data: URL).
_JS_DRAWINGS = """(out) => Array.from(out.querySelectorAll('.jp-RenderedMermaid'), (el) => {
  const code = el.querySelector('code.mermaid');
  const source = code ? code.textContent : null;
  if (el.classList.contains('jp-mod-warning')) {
    const pre = el.querySelector('details > pre');
    return {source, error: pre ? pre.textContent : 'not rendered'};
  }
  const img = el.querySelector('figure img');
  if (!img) return {source, pending: true};
  const svg = new DOMParser().parseFromString(decodeURIComponent(img.src.split(',')[1]), 'image/svg+xml');
  const texts = (sel) => Array.from(svg.querySelectorAll(sel), (n) => n.textContent.replace(/\\s+/g, ' ').trim());
  return {source, nodes: texts('.node .nodeLabel'), edges: texts('g.edgeLabel').filter((t) => t)};
})"""

CELLS = [
    BUILD + "\nimport json\nfrom IPython.display import display\n",
    "for spec in json.load(open('specs.json')):\n    display(build(spec))",
]


def _built(spec: dict[str, Any]) -> Any:
    scope: dict[str, Any] = {}
    # The module's own source, as the kernel runs it (not under this module's `from __future__ import annotations`).
    exec(compile(BUILD, "<build>", "exec", dont_inherit=True), scope)
    return scope["build"](spec)


def _expected(spec: dict[str, Any]) -> tuple[str, list[str], list[str]]:
    """The Mermaid source, the node labels and the edge labels a person should see for ``spec``."""
    app = _built(spec)
    marks = {n: (" ⏸before" if n in spec["interrupt_before"] else "") + (" (defer)" if n in spec["defer"] else "")
             for n in spec["nodes"]}  # fmt: skip
    nodes = ["START", "END", *(n + marks[n] for n in spec["nodes"])]
    edges = [e.data for e in app.get_graph().edges if e.data]
    return (
        app.get_graph().draw_mermaid(),
        sorted(" ".join(n.split()) for n in nodes),
        sorted(" ".join(e.split()) for e in edges if e.strip()),
    )


def _show(lab: LabPage, specs: list[dict[str, Any]]) -> None:
    """Display the graphs of ``specs`` in cell 1 and check each drawing JupyterLab rendered."""
    (lab.server.root_dir / "specs.json").write_text(json.dumps(specs))
    lab.run_cell(1)
    out = lab.output(1).element_handle()
    lab.page.wait_for_function(
        "([out, n]) => (DRAWINGS)(out).filter((d) => !d.pending).length === n".replace("DRAWINGS", _JS_DRAWINGS),
        arg=[out, len(specs)],
        timeout=60_000,
    )
    drawings = lab.page.evaluate(_JS_DRAWINGS, out)
    for spec, drawing in zip(specs, drawings, strict=True):
        source, nodes, edges = _expected(spec)
        assert drawing["source"].strip() == source, (spec, drawing["source"])
        assert "error" not in drawing, f"Mermaid could not render {spec}:\n{drawing['error']}\n{source}"
        assert sorted(drawing["nodes"]) == nodes, (spec, source)
        assert sorted(drawing["edges"]) == edges, (spec, source)


def _spec(nodes: list[str], **parts: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"nodes": nodes, "edges": [], "maps": [], "no_map": [], "defer": [], "interrupt_before": []}
    return {**base, **parts}


def test_graphs_a_tester_found_unreadable_render_in_jupyterlab(notebook: Callable[[list[str]], LabPage]) -> None:
    """A router without a path map (``tools_condition``'s kind), LangGraph's "Chart Generator" example, a defer
    node and an interrupt mark: Mermaid read none of them before (``-. .->``, ``Chart Generator[...]``,
    ``j[j (defer)]``); and nodes named like properties every JavaScript object has (``__proto__``)."""
    lab = notebook(CELLS)
    lab.run_cell(0)
    _show(
        lab,
        [
            _spec(["agent", "tools"], edges=[["tools", "agent"]], no_map=["agent"]),
            _spec(
                ["Researcher", "Chart Generator"],
                edges=[["Chart Generator", "Researcher"]],
                maps=[["Researcher", [["continue", "Chart Generator"], ["end", "__end__"]]]],
            ),
            _spec(["a", "j"], edges=[["a", "j"]], defer=["j"], interrupt_before=["a"]),
            _spec(
                ["end", "graph", "style", "class", "subgraph", "click", "a--b", 'x (1) [2] {3} #4 <b>5<b> "6"'],
                edges=[["end", "graph"], ["graph", "style"], ["style", "class"], ["class", "subgraph"]],
                maps=[["subgraph", [["direction TB", "click"], ["%%{init: {}}%%", "a--b"], ["`md`", "__end__"]]]],
                no_map=["click"],
            ),
            # names of properties every JavaScript object has: Mermaid failed on them with no message (fuzzing)
            _spec(
                ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf"],
                edges=[["__proto__", "constructor"], ["constructor", "toString"], ["toString", "hasOwnProperty"]],
                maps=[["hasOwnProperty", [["__proto__", "valueOf"], ["constructor", "__end__"]]]],
            ),
        ],
    )


# Names a person might give a node, and the words and characters Mermaid's flowchart grammar treats specially.
_TRICKY = ["end", "graph", "style", "class", "subgraph", "classDef", "linkStyle", "click", "call", "href", "default",
           "flowchart", "interpolate", "direction", "direction TB", "_self", "v", "o", "x", "LR", "a--b", "-", "end-x",
           "node (1)", "[x]", "{x}", "a|b", "a;b", "#quot;", "`md`", "**b**", "__x__", "<b>x</b>", "a&amp;b", "%%",
           "é", "中文", "🦜", "a\tb", "\\", " a", "Ȋ", "__proto__", "constructor", "toString"]  # fmt: skip
_CHARS = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/|:")
_NAMES = st.one_of(
    st.sampled_from(_TRICKY),
    st.text(_CHARS, min_size=1, max_size=10),
    st.builds(operator.add, st.sampled_from(_TRICKY), st.text(_CHARS, min_size=1, max_size=3)),
).filter(lambda n: n.strip() and n not in ("__start__", "__end__"))


@st.composite
def _specs(draw: st.DrawFn) -> dict[str, Any]:
    nodes = draw(st.lists(_NAMES, min_size=1, max_size=5, unique=True))
    targets = [*nodes, "__end__"]
    spec = _spec(nodes, defer=draw(st.lists(st.sampled_from(nodes), unique=True, max_size=2)))
    for n in nodes:
        kind = draw(st.sampled_from(["edge", "map", "no_map", "none"]))
        if kind == "edge":
            spec["edges"].append([n, draw(st.sampled_from(targets))])
        elif kind == "map":
            keys = draw(st.lists(st.one_of(st.sampled_from(_TRICKY), st.text(_CHARS, max_size=8)), unique=True,
                                 min_size=1, max_size=3))  # fmt: skip
            spec["maps"].append([n, [[k, draw(st.sampled_from(targets))] for k in keys]])
        elif kind == "no_map":
            spec["no_map"].append(n)
    spec["interrupt_before"] = draw(st.lists(st.sampled_from(nodes), unique=True, max_size=1))
    try:
        _built(spec)
    except UsageError:
        assume(False)  # a name add_node refuses (a secret's shape, say)
    return spec


@pytest.mark.timeout(300)
def test_fuzzed_node_names_render_in_jupyterlab(notebook: Callable[[list[str]], LabPage]) -> None:
    lab = notebook(CELLS)
    lab.run_cell(0)

    # No shrinking (each step is a cell run): the failing assertion names the graph and its Mermaid text.
    @settings(max_examples=6, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(st.lists(_specs(), min_size=6, max_size=6))
    def check(specs: list[dict[str, Any]]) -> None:
        _show(lab, specs)

    check()
