"""A static graph shows its whole plan while it runs.

Found by using it: a ``@graphify`` run showed only the nodes that had started (``run.graph`` and the widget held one
node while the first ran), so the DAG of a graph whose shape is known in advance "grew" as an agent's does and a
person could not see what was still to come. A node that never started (skipped, cancelled) was drawn with a start
and an end at the same moment, "0 ms", as if it had run.

Now the plan is one event before the first node starts; each node is PENDING, with no time, until its step begins.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.graph import RunGraph
from aether_nb.runtime.run import Run
from aether_nb.store.duckdb import DuckDBStore
from tests.conftest import arun, default_session

GATE: dict[str, asyncio.Event] = {}
RAN: list[str] = []


@ag.tool(outputs=["y"])
async def gp_slow(x: int) -> dict[str, int]:
    RAN.append("slow")
    await GATE["open"].wait()
    return {"y": x + 1}


@ag.tool(outputs=["y"])
async def gp_inc(x: int) -> dict[str, int]:
    RAN.append("inc")
    return {"y": x + 1}


@ag.graphify(name="gp_chain", inputs=["x"], outputs=["y"])
def gp_chain(x: Any) -> dict[str, Any]:
    a = gp_slow(x=x)
    b = gp_inc(x=a.y)
    c = gp_inc(x=b.y)
    return {"y": c.y}


@ag.graphify(name="gp_branch", inputs=["x", "go"], outputs=["y"])
def gp_branch(x: Any, go: Any) -> dict[str, Any]:
    a = gp_inc(x=x)
    b = gp_inc(x=a.y, _condition=go)
    return {"y": b.y}


async def _until(run: Run, reached: Any) -> None:
    """Yield to the loop until the run's DAG satisfies ``reached`` (the test's timeout bounds it)."""
    while not reached(run.graph):
        await asyncio.sleep(0)


def _shape(graph: RunGraph) -> dict[str, tuple[str, tuple[str, ...]]]:
    return {n.id: (n.status, n.parents) for n in graph.nodes}


def test_a_running_static_graph_shows_every_node_it_will_run(session: Any) -> None:
    async def main() -> tuple[dict[str, Any], dict[str, Any], list[Any], dict[str, Any]]:
        GATE["open"] = asyncio.Event()
        run = gp_chain.start(x=1)
        await _until(run, lambda g: "gp_slow_1" in g and g.node("gp_slow_1").status == "RUNNING")
        during = _shape(run.graph)
        unstarted = [(n.started_at, n.ended_at, n.duration) for n in run.graph.nodes if n.status == "PENDING"]
        edges = sorted(run.graph.edges)
        GATE["open"].set()
        out = await run
        return during, {"edges": edges}, unstarted, {"out": out, "after": _shape(run.graph)}

    RAN.clear()
    during, edges, unstarted, end = arun(main())
    assert during == {
        "gp_slow_1": ("RUNNING", ()),
        "gp_inc_1": ("PENDING", ("gp_slow_1",)),
        "gp_inc_2": ("PENDING", ("gp_inc_1",)),
    }
    assert edges["edges"] == [("gp_inc_1", "gp_inc_2"), ("gp_slow_1", "gp_inc_1")]
    assert unstarted == [(None, None, None)] * 2, "a node that has not started has no time"
    assert end["out"] == {"y": 4} and RAN == ["slow", "inc", "inc"]
    assert end["after"] == {k: ("DONE", v[1]) for k, v in during.items()}


def test_a_skipped_node_shows_no_time_of_its_own(session: Any) -> None:
    async def main() -> Run:
        run = gp_branch.start(x=1, go=False)
        await run
        return run

    run = arun(main())
    skipped = run.graph.node("gp_inc_2")
    assert skipped.status == "SKIPPED"
    assert skipped.started_at is None and skipped.duration is None, "it never ran: no '0 ms'"
    assert skipped.parents == ("gp_inc_1",)
    assert run.graph.node("gp_inc_1").duration is not None


def test_a_stopped_graph_shows_its_unstarted_nodes_cancelled_without_time(session: Any) -> None:
    async def main() -> Run:
        GATE["open"] = asyncio.Event()
        run = gp_chain.start(x=1)
        await _until(run, lambda g: "gp_slow_1" in g and g.node("gp_slow_1").status == "RUNNING")
        run.cancel()
        with pytest.raises(ag.RunCancelled):
            await run
        return run

    run = arun(main())
    assert {n.id: n.status for n in run.graph.nodes} == {
        "gp_slow_1": "CANCELLED",
        "gp_inc_1": "CANCELLED",
        "gp_inc_2": "CANCELLED",
    }
    assert [n.duration for n in run.graph.nodes if n.id != "gp_slow_1"] == [None, None]


@ag.tool(outputs=["ok"])
async def gp_approve(x: int, *, context: ag.NodeContext) -> dict[str, Any]:
    approved, _ = await context.channel().ask_approval(f"go on with {x}?", options=["yes", "no"])
    return {"ok": approved}


@ag.graphify(name="gp_asks", inputs=["x"], outputs=["y"])
def gp_asks(x: Any) -> dict[str, Any]:
    ok = gp_approve(x=x)
    b = gp_inc(x=x, _condition=ok.ok)
    return {"y": b.y}


def test_the_plan_of_a_waiting_graph_is_in_the_store_after_a_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "plan.duckdb")
    store = DuckDBStore(path)
    with default_session(store) as first:

        async def start() -> str:
            run = gp_asks.start(x=5, run_id="plan-1")
            await run.wait_for("waiting", timeout=10)
            return run.id

        run_id = arun(start())
        live = _shape(first.get_run(run_id).graph)
        first.flush()
    store.close()
    assert live == {
        "gp_approve_1": ("RUNNING", ()),
        "gp_approve_1/ask_approval_1": ("WAITING_HUMAN", ()),
        "gp_inc_1": ("PENDING", ("gp_approve_1",)),
    }
    store = DuckDBStore(path)
    try:
        with default_session(store) as second:
            reopened = second.get_run(run_id)
            assert reopened.status == "waiting"
            assert _shape(reopened.graph) == live, "the DAG read back from the store is the one shown live"
    finally:
        store.close()


FLAKY = {"fail": True}


@ag.tool(outputs=["y"])
async def gp_flaky(x: int) -> dict[str, int]:
    if FLAKY["fail"]:
        raise ValueError("the quote service is down")
    await GATE["open"].wait()
    return {"y": x}


@ag.graphify(name="gp_retry", inputs=["x"], outputs=["y"])
def gp_retry(x: Any) -> dict[str, Any]:
    return {"y": gp_inc(x=gp_flaky(x=x).y).y}


def test_a_resumed_graph_shows_the_nodes_that_had_not_run_pending_again_and_never_as_0_ms(session: Any) -> None:
    """A failed graph resumed with ``resume_mode="failed_nodes"``: while its failed node runs again, the node after
    it said SKIPPED (the last execution's state); when the resumed run failed again, that node, which never
    started, got a start time and "0 ms"."""

    async def main() -> tuple[Any, Any, Any]:
        GATE["open"] = asyncio.Event()
        FLAKY["fail"] = True
        with pytest.raises(ag.RunFailed):
            await gp_retry.start(x=1, run_id="gp-retry")
        again = gp_retry.start(x=1, run_id="gp-retry", resume_mode="failed_nodes")
        with pytest.raises(ag.RunFailed):
            await again  # fails the same way: the node after it is skipped once more
        skipped = again.graph.node("gp_inc_1")
        once_more = (skipped.status, skipped.started_at, skipped.duration)
        FLAKY["fail"] = False
        last = gp_retry.start(x=1, run_id="gp-retry", resume_mode="failed_nodes")
        await _until(last, lambda g: g.node("gp_flaky_1").status == "RUNNING")
        during = _shape(last.graph)
        GATE["open"].set()
        return once_more, during, (await last, _shape(last.graph))

    once_more, during, (out, after) = arun(main())
    assert once_more == ("SKIPPED", None, None)
    assert during == {"gp_flaky_1": ("RUNNING", ()), "gp_inc_1": ("PENDING", ("gp_flaky_1",))}
    assert out == {"y": 2} and after == {"gp_flaky_1": ("DONE", ()), "gp_inc_1": ("DONE", ("gp_flaky_1",))}
