"""Drawings with Graphviz ``dot`` (aether_nb.runtime.dot): an SVG when dot is there, and never a hang."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import textwrap

import pytest

from aether_nb.runtime.dot import render_svg, to_dot

GRAPH = {"nodes": [{"id": "a", "name": "a", "status": "DONE"}, {"id": "b", "name": "b", "status": "FAILED"}],
         "edges": [{"source": "a", "target": "b"}]}  # fmt: skip

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot is not installed")


@needs_dot
def test_a_graph_is_drawn_as_svg() -> None:
    svg = asyncio.run(render_svg(GRAPH))
    assert svg is not None and svg.startswith("<svg")
    assert ">a<" in svg and ">b<" in svg


def test_no_nodes_draws_nothing() -> None:
    assert asyncio.run(render_svg({"nodes": [], "edges": []})) is None
    assert "digraph" in to_dot(GRAPH)


@needs_dot
def test_a_loop_that_ends_while_a_drawing_starts_does_not_hang() -> None:
    """A run finished, its widget started drawing, and the script's ``asyncio.run`` ended at once (or raised):
    the interpreter exits instead of waiting for ``dot`` for ever."""
    script = textwrap.dedent(
        """
        import asyncio
        from aether_nb.runtime.dot import render_svg

        async def main():
            asyncio.ensure_future(render_svg({"nodes": [{"id": "a", "name": "a", "status": "DONE"}], "edges": []}))
            await asyncio.sleep(0)
            raise RuntimeError("the cell failed")

        try:
            asyncio.run(main())
        except RuntimeError:
            print("exited")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "exited", done.stderr


def test_a_long_chain_is_drawn_top_to_bottom_and_a_wide_or_short_graph_left_to_right() -> None:
    def chain(n: int) -> dict[str, object]:
        nodes = [{"id": f"s{i}", "name": f"s{i}", "status": "DONE"} for i in range(n)]
        return {"nodes": nodes, "edges": [[f"s{i}", f"s{i + 1}"] for i in range(n - 1)]}

    fan = {"nodes": [{"id": f"f{i}", "name": "f", "status": "DONE"} for i in range(40)], "edges": []}
    assert "rankdir=TB" in to_dot(chain(35))
    assert "rankdir=LR" in to_dot(chain(5))
    assert "rankdir=LR" in to_dot(fan)


def test_a_node_whose_body_was_given_up_on_says_what_the_body_does() -> None:
    """Stopped while its sync body ran on: the saved drawing says the body still runs, then how it ended (the
    widget's DAG box says the same words)."""
    node = {"id": "pay_1", "name": "pay", "status": "CANCELLED"}
    for body, words in [
        ("running", "body still running"),
        ("returned", "body returned later"),
        ("odd", "body ended later"),
    ]:
        source = to_dot({"nodes": [{**node, "body": body}], "edges": []})
        assert f"stopped\n{words}" in source or f"stopped\\n{words}" in source, source
    assert "body" not in to_dot({"nodes": [node], "edges": []})
