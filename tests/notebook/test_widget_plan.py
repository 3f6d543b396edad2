"""The widget of a static graph: its whole plan from the start, and each planned node's arguments once it starts.

The widget caches each node's argument preview by node id (a node's inputs never change once it started); a
planned node, drawn before it starts, has no inputs yet, and its empty preview stayed for good: the node read
"tool" after it had run with its arguments.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aether_nb as ag
from aether_nb.notebook.widget import RunView
from aether_nb.runtime.session import Session
from tests.conftest import arun

GATE: dict[str, asyncio.Event] = {}


@ag.tool(outputs=["y"])
async def wp_wait(x: int) -> dict[str, int]:
    await GATE["open"].wait()
    return {"y": x + 1}


@ag.tool(outputs=["total"])
def wp_add(a: int, b: int) -> dict[str, int]:
    return {"total": a + b}


@ag.graphify(name="wp_plan", inputs=["x"], outputs=["total"])
def wp_plan(x: Any) -> dict[str, Any]:
    first = wp_wait(x=x)
    return {"total": wp_add(a=first.y, b=40).total}


def _nodes(view: RunView) -> dict[str, dict[str, Any]]:
    view.flush()
    return {n["id"]: n for n in view.widget.graph["nodes"]}


def test_a_planned_node_shows_its_arguments_once_it_runs(session: Session) -> None:
    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        GATE["open"] = asyncio.Event()
        run = wp_plan.start(x=1)
        view = RunView(run)
        while "wp_add_1" not in run.graph:
            await asyncio.sleep(0)
        before = _nodes(view)
        GATE["open"].set()
        await run
        after = _nodes(view)
        view.close()
        return before, after

    before, after = arun(main())
    assert before["wp_add_1"]["status"] == "PENDING" and before["wp_add_1"]["started_at"] is None
    assert before["wp_add_1"]["label"] == ""
    assert after["wp_add_1"]["status"] == "DONE"
    assert "a=2" in after["wp_add_1"]["label"] and "b=40" in after["wp_add_1"]["label"], after["wp_add_1"]


SKIP = {"first": True}


@ag.tool(outputs=["y"])
async def wp_maybe_fail(x: int) -> dict[str, int]:
    if SKIP["first"]:
        raise ValueError("down for now")
    return {"y": x + 1}


@ag.graphify(name="wp_resumed", inputs=["x"], outputs=["total"])
def wp_resumed(x: Any) -> dict[str, Any]:
    return {"total": wp_add(a=wp_maybe_fail(x=x).y, b=40).total}


def test_a_node_that_ran_only_on_resume_shows_its_arguments_in_the_open_widget(session: Session) -> None:
    """The node skipped by the first execution (no inputs) had its empty preview cached: after the resume ran it,
    the widget still open on the run showed no arguments, where a new widget showed them."""

    async def main() -> dict[str, Any]:
        SKIP["first"] = True
        run = wp_resumed.start(x=1, run_id="wp-resumed")
        view = RunView(run)
        with contextlib.suppress(ag.RunFailed):
            await run
        assert _nodes(view)["wp_add_1"]["status"] == "SKIPPED"
        SKIP["first"] = False
        await wp_resumed.start(x=1, run_id="wp-resumed", resume_mode="failed_nodes")
        nodes = _nodes(view)
        view.close()
        return nodes["wp_add_1"]

    node = arun(main())
    assert node["status"] == "DONE" and "a=2" in node["label"] and "b=40" in node["label"], node
