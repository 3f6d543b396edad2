"""``get_graph().draw_mermaid()`` (and ``app`` shown in a notebook, a ```mermaid block) is text Mermaid 11 reads:
LangGraph's node ids (``Chart\\20Generator``), ``-.->`` for a conditional edge without a label, quoted labels.

The checks here hold the text to the rules of Mermaid 11's flowchart lexer the drawing depends on (its jison rules,
measured with mermaid 11.17 in Chromium), written out below as a small grammar. The real parser reads the drawings
in tests/browser/test_mermaid_render.py (the Mermaid 11 JupyterLab ships)."""

from __future__ import annotations

import operator
import re
from typing import Annotated, Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typing_extensions import TypedDict

import aether_nb.flow as flow
from aether_nb.errors import UsageError
from tests.flow.conftest import lg_names


class S(TypedDict):
    log: Annotated[list[Any], operator.add]


def _noop(state: S) -> dict[str, Any]:
    return {}


# -- Mermaid 11's flowchart grammar, as far as these drawings use it ---------------------------------------------
# A node id is a run of letters, digits, "_", "-" and backslash escapes; "--" starts an arrow ("a--b" is no id).
_ID = r"(?:[A-Za-z0-9_]|-(?!-)|\\[0-9a-f]+)+"
# The lexer's keywords match where a token starts and no word character follows ("end", "end-x", "end\20x" are
# keywords, "endx" and "end_" ids); "call", "click" and "href" are keywords before whitespace.
_KEYWORD = re.compile(
    r"(?:style|default|linkStyle|interpolate|classDef|class|flowchart-elk|swimlane-beta|graph|flowchart|subgraph"
    r"|end|_self|_blank|_parent|_top)(?![A-Za-z0-9_])|(?:call|click|href)$"
)
# Inside quotes: no '"' (ends the string), '#' only as an entity code, no '%' ("%%{" is a directive), no '`'
# (markdown string), no '<', '>' or '&' (HTML), no whitespace but the space; "direction" before whitespace anywhere
# on a line makes the lexer take the whole line for a direction statement.
_LABEL_CHAR = r'(?:[^"#%`<>&\s]| |#(?:quot|\d+);)'
_LABEL = rf"{_LABEL_CHAR}*"
_STATEMENTS = [
    ("node", re.compile(rf'\s*({_ID})\["({_LABEL})"\];')),
    ("terminal", re.compile(rf'\s*({_ID})\(\["({_LABEL})"\]\);')),
    ("edge", re.compile(rf"\s*({_ID}) (-->|-\.->) ({_ID});")),
    ("labelled", re.compile(rf'\s*({_ID}) -\. "({_LABEL_CHAR}+)" \.-> ({_ID});')),  # ("" is no edge text)
    ("subgraph", re.compile(rf'\s*subgraph ({_ID}) \["({_LABEL})"\]')),
    ("end", re.compile(r"\s*end")),
]


def _decode(label: str) -> str:
    return re.sub(r"#(quot|\d+);", lambda m: '"' if m.group(1) == "quot" else chr(int(m.group(1))), label)


def _read(text: str) -> tuple[dict[str, str], list[tuple[str, str, bool, str | None]]]:
    """The node labels by id and the arrows ``(source id, target id, dotted, label)`` of ``text``; fails on a line
    outside the grammar above."""
    lines = text.split("\n")
    assert lines[0] == "flowchart TD;"
    labels: dict[str, str] = {}
    arrows: list[tuple[str, str, bool, str | None]] = []
    for line in lines[1:]:
        kind, found = next(((k, m) for k, p in _STATEMENTS if (m := p.fullmatch(line))), ("?", None))
        assert found is not None, f"not a Mermaid statement: {line!r}\n{text}"
        for group in {"node": [1], "terminal": [1], "subgraph": [1], "edge": [1, 3], "labelled": [1, 3]}.get(kind, []):
            assert not _KEYWORD.match(found.group(group)), f"{found.group(group)!r} is a Mermaid keyword: {line!r}"
        if kind in ("node", "terminal", "subgraph", "labelled"):
            assert not re.search(r"direction\s", found.group(2)), line
        if kind in ("node", "terminal", "subgraph"):
            assert found.group(1) not in labels, f"{found.group(1)} declared twice\n{text}"
            labels[found.group(1)] = _decode(found.group(2))
        elif kind == "edge":
            arrows.append((found.group(1), found.group(3), found.group(2) == "-.->", None))
        elif kind == "labelled":
            arrows.append((found.group(1), found.group(3), True, _decode(found.group(2))))
    return labels, arrows


_MARKED = re.compile(r"( ⏸before| ⏸after| \(defer\))+$")


def _drawn(app: Any) -> tuple[dict[str, str], list[tuple[str, str, bool, str | None]]]:
    """The arrows of ``app``'s drawing by node name (labels mapped back to names), each label decoded."""
    labels, arrows = _read(app.get_graph().draw_mermaid())
    marks = _MARKED
    # (the terminals by their ids: a node may be named "END" and be labelled as the terminal is)
    name_of = {node_id: {"__start__": flow.START, "__end__": flow.END}.get(node_id, marks.sub("", label))
               for node_id, label in labels.items()}  # fmt: skip
    assert len(set(name_of.values())) == len(name_of), "two ids for one name"
    return labels, [(name_of[s], name_of[t], dotted, label) for s, t, dotted, label in arrows]


def _graph(names: list[str], defer: tuple[str, ...] = ()) -> flow.StateGraph:
    g = flow.StateGraph(S)
    for name in names:
        g.add_node(name, _noop, defer=name in defer)
    return g.add_edge(flow.START, names[0])


# -- what testers found Mermaid could not read -----------------------------------------------------------------
def test_a_router_without_a_path_map_draws_dotted_arrows_mermaid_reads() -> None:
    """``tools_condition`` (no path map): Mermaid has ``a -.-> b``, not ``a -. .-> b``."""
    g = flow.StateGraph(flow.MessagesState).add_node("agent", _noop).add_node("tools", _noop)
    g.add_edge(flow.START, "agent").add_conditional_edges("agent", flow.tools_condition).add_edge("tools", "agent")
    text = g.compile().get_graph().draw_mermaid()
    assert "  agent -.-> tools;" in text.splitlines() and "  agent -.-> __end__;" in text.splitlines()
    assert "-. .->" not in text
    _read(text)


def test_names_with_spaces_get_langgraphs_ids_and_quoted_labels() -> None:
    """LangGraph's own example: "Chart Generator" is the id ``Chart\\20Generator``, shown as its name."""
    g = _graph(["Researcher", "Chart Generator"]).add_edge("Chart Generator", "Researcher")
    g.add_conditional_edges("Researcher", lambda s: "end", {"continue": "Chart Generator", "end": flow.END})
    text = g.compile().get_graph().draw_mermaid()
    assert '  Chart\\20Generator["Chart Generator"];' in text.splitlines()
    assert '  Researcher -. "continue" .-> Chart\\20Generator;' in text.splitlines()
    _, arrows = _drawn(g.compile())
    assert ("Chart Generator", "Researcher", False, None) in arrows


def test_marks_in_labels_are_quoted() -> None:
    """``(defer)`` and the interrupt marks sit in quoted labels: unquoted, "(" opens a round node shape."""
    g = _graph(["a", "j"], defer=("j",)).add_edge("a", "j")
    text = g.compile(interrupt_before=["a"], checkpointer="memory").get_graph().draw_mermaid()
    assert '  j["j (defer)"];' in text.splitlines() and '  a["a ⏸before"];' in text.splitlines()
    _read(text)


@pytest.mark.parametrize("name", ["end", "graph", "style", "class", "subgraph", "click", "end-x", "end x", "a--b"])
def test_mermaid_keywords_and_arrows_in_names_are_escaped(name: str) -> None:
    g = _graph([name, "b"]).add_edge(name, "b")
    labels, arrows = _drawn(g.compile())
    assert name in labels.values() and (name, "b", False, None) in arrows


def test_labels_that_look_like_mermaid_syntax_show_as_written() -> None:
    """Quotes, '#', '%%{', backticks, HTML and "direction TB" in a name or a router's answer are entity codes."""
    odd = ['say "hi" #1', "100% {x}", "`md`", "<b>x<b> & y", "direction TB", "tab\there"]
    g = _graph(odd)
    g.add_conditional_edges(odd[0], lambda s: flow.END, {n: n for n in odd[1:]} | {"direction LR": flow.END})
    labels, arrows = _drawn(g.compile())
    assert sorted(labels.values()) == sorted(["START", "END", *odd])
    assert (odd[0], flow.END, True, "direction LR") in arrows


def test_names_whose_langgraph_ids_coincide_stay_two_nodes() -> None:
    """LangGraph's code points are not prefix-free: " a" and "\\u020a" are both ``\\20a``; the second gets ``_2``."""
    g = _graph([" a", "\u020a"]).add_edge(" a", "\u020a")
    text = g.compile().get_graph().draw_mermaid()
    assert '  \\20a[" a"];' in text.splitlines() and '  \\20a_2["\u020a"];' in text.splitlines()
    assert "  \\20a --> \\20a_2;" in text.splitlines()


def test_ids_and_arrows_match_langgraphs_drawing() -> None:
    """The same graph drawn by LangGraph 1.x: the same node ids and arrows (its labels are ``&nbsp;`` padded)."""
    lg = lg_names()

    def build(lib: Any) -> Any:
        g = lib.StateGraph(S)
        for name in ["Researcher", "Chart Generator", "x.y", "naïve", "a-b", "1st"]:
            g.add_node(name, _noop)
        g.add_edge(lib.START, "Researcher").add_edge("Chart Generator", "x.y").add_edge("x.y", "naïve")
        g.add_conditional_edges("Researcher", lambda s: "a", {"a": "Chart Generator", "go on": "a-b", "z": lib.END})
        g.add_edge("a-b", "1st")
        return g.compile()

    theirs = build(lg).get_graph().draw_mermaid(with_styles=False)
    arrow = re.compile(r"\t(\S+) (?:(-->)|(-\.->)|-\. &nbsp;(.*)&nbsp; \.->) (\S+);")
    expected = sorted((m[1], m[5], m[2] is None, m[4]) for line in theirs.splitlines() if (m := arrow.fullmatch(line)))
    assert len(expected) == 9
    _, ours = _read(build(flow).get_graph().draw_mermaid())
    assert sorted(ours) == expected


def test_xray_draws_subgraphs_with_langgraphs_inner_ids() -> None:
    """An inner node's id is LangGraph's for "parent:child" (``my\\20sub\\3aend``), inside ``subgraph``...``end``;
    a keyword's escape holds for a subgraph too."""
    inner = _graph(["end", "x"]).add_edge("end", "x").compile()
    g = _graph(["a"]).add_node("my sub", inner).add_node("style", inner).add_edge("a", "my sub")
    text = g.add_edge("my sub", "style").compile().get_graph(xray=True).draw_mermaid()
    labels, arrows = _read(text)
    assert '  subgraph my\\20sub ["my sub"]' in text.splitlines()
    assert '  subgraph \\73tyle ["style"]' in text.splitlines()  # "style" is a keyword
    assert labels["my\\20sub\\3aend"] == "end" and labels["my\\20sub\\3a__start__"] == "START"
    assert "    my\\20sub\\3a__start__ --> my\\20sub\\3aend;" in text.splitlines()
    assert ("my\\20sub", "\\73tyle", False, None) in arrows


# -- any names -----------------------------------------------------------------------------------------------------
_TRICKY = ["end", "graph", "style", "class", "subgraph", "classDef", "linkStyle", "click", "call", "href", "default",
           "flowchart", "flowchart-elk", "interpolate", "direction", "direction TB", "_self", "_top", "v", "o", "x",
           "LR", "TD", "a--b", "a---b", "-", "end-", "end x", "x -> y", "a-.->b", "%%{init: {}}%%", "#quot;", "`md`",
           "**b**", "__x__", "<b>x<b>", "a&amp;b", "(x)", "[x]", "{x}", "a;b", "é", "中文", "🦜", "a\tb", "a\nb",
           "\u00a0", "x\u200dy", "\\", "a\\20b", " a", "\u020a", "Ȋ"]  # fmt: skip
_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="/|:")
_NAMES = st.one_of(
    st.sampled_from(_TRICKY),
    st.text(_CHARS, min_size=1, max_size=12),
    st.builds(operator.add, st.sampled_from(_TRICKY), st.text(_CHARS, max_size=3)),
)
_ANSWERS = st.one_of(st.sampled_from([*_TRICKY, "", " ", "True"]), st.text(_CHARS, max_size=10))


@st.composite
def _apps(draw: st.DrawFn) -> Any:
    names = [
        n
        for n in draw(st.lists(_NAMES, min_size=1, max_size=6, unique=True))
        if n not in (flow.START, flow.END) and not _MARKED.search(n)  # (a name ending like a mark reads as one)
    ]
    assume(names)
    defer = tuple(draw(st.lists(st.sampled_from(names), unique=True, max_size=2)))
    try:
        g = _graph(names, defer)
    except UsageError:
        assume(False)  # a name add_node refuses
    targets = [*names, flow.END]
    for n in names:
        kind = draw(st.sampled_from(["edge", "map", "no_map", "none"]))
        if kind == "edge":
            g.add_edge(n, draw(st.sampled_from(targets)))
        elif kind == "map":
            g.add_conditional_edges(
                n, lambda s: flow.END, draw(st.dictionaries(_ANSWERS, st.sampled_from(targets), min_size=1, max_size=3))
            )
        elif kind == "no_map":
            g.add_conditional_edges(n, lambda s: flow.END)
    paused = draw(st.lists(st.sampled_from(names), unique=True, max_size=2))
    return g.compile(interrupt_before=paused, checkpointer="memory" if paused else None)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(_apps())
def test_any_node_names_draw_text_in_mermaids_grammar(app: Any) -> None:
    """Every line is a statement of the grammar above, each node is declared once with its name as label, and the
    arrows are the graph's edges (``get_graph().edges``) with their labels."""
    labels, arrows = _drawn(app)
    marks = {n: (" ⏸before" if n in app.interrupt_before else "") + (" (defer)" if spec.defer else "")
             for n, spec in app.nodes.items()}  # fmt: skip
    assert sorted(labels.values()) == sorted(["START", "END", *(n + marks[n] for n in app.nodes)])
    drawn = [(e.source, e.target, e.conditional, e.data or None) for e in app.get_graph().edges]
    assert sorted(arrows, key=repr) == sorted(drawn, key=repr)
