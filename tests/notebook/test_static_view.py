"""The static view (nbviewer, nbconvert, a reopened notebook): grouped like the widget, capped, readable."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from aether_nb.notebook import static_view
from aether_nb.notebook.static_view import group_graph, prefix_svg_ids, static_html, transcript

ROOT = Path(__file__).resolve().parents[2]


def _node(nid: str, name: str, status: str = "DONE", parent: str | None = None) -> dict[str, Any]:
    return {"id": nid, "name": name, "kind": "tool", "status": status, "parent": parent, "inputs": {"i": nid}}


def gathers(rounds: int, width: int) -> dict[str, Any]:
    """``rounds`` gathers of ``width`` calls, each call depending on every call of the round before."""
    nodes, edges = [], []
    for r in range(rounds):
        for i in range(width):
            nodes.append(_node(f"step_{r * width + i + 1}", "step"))
            if r:
                edges += [[f"step_{(r - 1) * width + j + 1}", f"step_{r * width + i + 1}"] for j in range(width)]
    return {"run_id": "big", "name": "big", "status": "succeeded", "nodes": nodes, "edges": edges}


def test_ten_gathers_of_twenty_become_ten_groups_in_a_chain() -> None:
    g = group_graph(gathers(10, 20))
    assert [n["name"] for n in g["nodes"]] == ["step ×20"] * 10
    assert len(g["edges"]) == 9


def test_a_loop_of_one_tool_is_a_group_and_short_runs_stay_as_they_are() -> None:
    chain = {"run_id": "c", "name": "c", "status": "running", "nodes": [], "edges": []}
    for i in range(8):
        chain["nodes"].append(_node(f"poll_{i}", "poll", "RUNNING" if i == 7 else "DONE"))
        if i:
            chain["edges"].append([f"poll_{i - 1}", f"poll_{i}"])
    g = group_graph(chain)
    assert [(n["name"], n["shown"]) for n in g["nodes"]] == [("poll ×8", "RUNNING")]
    small = gathers(1, static_view.GROUP_MIN - 1)
    assert len(group_graph(small)["nodes"]) == static_view.GROUP_MIN - 1


def _random_graph(rng: random.Random) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = []
    edges: list[list[str]] = []
    for i in range(rng.randint(1, 40)):
        parent = rng.choice([None, None, None, *[n["id"] for n in nodes if n["name"] == "agent"]])
        name = rng.choice(["a", "b", "agent", "step", "step", "step"])
        nodes.append(_node(f"{name}_{i}", name, rng.choice(["DONE", "RUNNING", "FAILED", "WAITING_HUMAN"]), parent))
        siblings = [n["id"] for n in nodes[:-1] if n["parent"] == parent]
        for s in rng.sample(siblings, k=min(len(siblings), rng.choice([0, 1, 1, 2, 5]))):
            edges.append([s, nodes[-1]["id"]])
    return {"run_id": "r", "name": "r", "status": "running", "nodes": nodes, "edges": edges}


@pytest.mark.skipif(shutil.which("node") is None, reason="node is needed to run the widget's grouping")
def test_python_groups_exactly_like_the_widget(tmp_path: Path) -> None:
    """The same 300 random graphs through ``group_graph`` and the widget's ``groupGraph`` (groups.ts, bundled by
    esbuild and run in node): the same groups with the same members, the same edges between them."""
    rng = random.Random(7)
    graphs = [_random_graph(rng) for _ in range(300)] + [gathers(10, 20)]
    (tmp_path / "graphs.json").write_text(json.dumps(graphs))
    entry = tmp_path / "entry.ts"
    entry.write_text(
        f'import {{ groupGraph }} from "{ROOT / "js" / "lib" / "groups"}";\n'
        'import { readFileSync } from "node:fs";\n'
        f'const graphs = JSON.parse(readFileSync("{tmp_path / "graphs.json"}", "utf8"));\n'
        "console.log(JSON.stringify(graphs.map((g: any) => groupGraph(g))));\n"
    )
    bundle = tmp_path / "entry.mjs"
    esbuild = ROOT / "node_modules" / ".bin" / "esbuild"
    if not esbuild.exists():
        pytest.skip("node_modules is missing (make setup installs it)")
    subprocess.run([str(esbuild), str(entry), "--bundle", "--platform=node", "--format=esm", f"--outfile={bundle}"],
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    out = subprocess.run(["node", str(bundle)], check=True, capture_output=True, text=True, timeout=60).stdout
    for py_in, js in zip(graphs, json.loads(out), strict=True):
        py = group_graph(py_in)
        py_groups = {n["id"]: (n["name"], n["members"]) for n in py["nodes"] if n.get("kind") == "group"}
        js_groups = {n["id"]: (n["name"], n["members"]) for n in js["nodes"] if n.get("kind") == "group"}
        assert py_groups == js_groups
        # Edges between what is drawn at the top of each group: the widget keeps members inside their group.
        js_edges = {tuple(e) for e in js["edges"] if not any(e[0] in m or e[1] in m for _, m in js_groups.values())}
        py_edges = {tuple(e) for e in py["edges"]}
        drawn = {n["id"] for n in py["nodes"]}
        assert {e for e in js_edges if e[0] in drawn and e[1] in drawn} == py_edges


def test_a_big_run_is_summarised_not_drawn() -> None:
    graph = {"run_id": "x", "name": "x", "status": "succeeded", "nodes": [], "edges": []}
    for i in range(static_view.MAX_STATIC_NODES + 5):
        graph["nodes"].append(_node(f"t{i}", f"tool{i % 3}{i}"))  # all different: nothing groups
    assert asyncio.run(static_view.static_svg(graph)) is None
    page = static_html(graph, [], None)
    assert "too many to draw" in page and "<svg" not in page
    assert len(page) < 40_000


def test_svg_ids_are_unique_per_run() -> None:
    svg = '<svg id="graph0"><g id="node1" class="node"><title>a</title></g></svg>'
    a, b = prefix_svg_ids(svg, "aether-run-1"), prefix_svg_ids(svg, "aether-run-2")
    assert 'id="aether-run-1-node1"' in a and 'id="aether-run-2-node1"' in b


PNG = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)


def _msg(mid: str, mtype: str, content: dict[str, Any], role: str = "assistant") -> dict[str, Any]:
    return {"id": mid, "type": mtype, "role": role, "content": content, "final": True, "node_id": None}


def test_the_transcript_renders_markdown_embeds_images_and_shows_files() -> None:
    messages = [
        _msg("1", "markdown", {"text": "Buy **A-1** <script>alert(1)</script>"}),
        _msg("2", "text", {"text": "Pick *one*?", "turn": "question"}),
        _msg("3", "text", {"text": "A-1", "turn": "answer"}, role="user"),
        _msg("4", "image", {"name": "chart.png", "size": 70, "data_url": PNG, "alt": "chart"}),
        _msg("5", "files", {"text": "a.csv (1.2 kB)", "files": [{"name": "a.csv", "size": 1229}]}, role="user"),
    ]
    graph = {"run_id": "r", "name": "shop", "status": "succeeded", "nodes": [], "edges": []}
    page = static_html(graph, messages, None)
    assert "<strong>A-1</strong>" in page and "<em>one</em>" in page
    assert "<script>" not in page, "raw HTML in the chat is escaped"
    assert f"src='{PNG}'" in page
    assert "a.csv · 1.2 kB" in page
    text = transcript(messages)
    assert text.splitlines() == [
        "assistant: Buy **A-1** <script>alert(1)</script>",
        "assistant: Pick *one*?",
        "user: A-1",
        "assistant: [image: chart.png (70 B)]",
        "user: [files: a.csv (1.2 kB)]",
    ]


def test_a_stopped_stream_and_progress_bar_say_they_stopped() -> None:
    messages = [
        _msg("1", "stream", {"text": "Dear Ada, your order", "stopped": True}),
        _msg("2", "progress", {"title": "Indexing", "current": 4, "total": 10, "done": False, "stopped": True}),
        _msg("3", "progress", {"title": "Saving", "current": 2, "total": 2, "done": True}),
    ]
    assert transcript(messages).splitlines() == [
        "assistant: Dear Ada, your order … (stopped)",
        "assistant: [Indexing: 4/10 stopped]",
        "assistant: [Saving: 2/2 done]",
    ]
    graph = {"run_id": "r", "name": "mail", "status": "cancelled", "nodes": [], "edges": []}
    page = static_html(graph, messages, None)
    assert "<p>Dear Ada, your order</p>\n <p><i style='opacity:.6'>… (stopped)</i></p>" in page
    assert "Indexing: 4/10 · stopped" in page and "Saving: 2/2 · done" in page


def test_a_streamed_reply_is_markdown_in_the_saved_view() -> None:
    """A model streams markdown; the saved view renders it as the live widget does (it showed the asterisks),
    with any HTML in it escaped."""
    messages = [_msg("1", "stream", {"text": "A **solid** week <script>x()</script>"})]
    page = static_html(
        {"run_id": "r", "name": "report", "status": "succeeded", "nodes": [], "edges": []}, messages, None
    )
    assert "A <strong>solid</strong> week &lt;script&gt;" in page
    assert "**solid**" not in page


def test_a_failed_run_says_why_in_words() -> None:
    graph = {
        "run_id": "r",
        "name": "report",
        "status": "failed",
        "nodes": [
            _node("load_1", "load"),
            {
                **_node("average_1", "average", "FAILED"),
                "error": {"type": "builtins.ZeroDivisionError", "message": "division by zero"},
            },
        ],
        "edges": [["load_1", "average_1"]],
    }
    page = static_html(graph, [], None)
    assert "report · failed · r" in page
    assert "Failed at average (average_1): ZeroDivisionError: division by zero" in page
