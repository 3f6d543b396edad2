"""The static-graph scheduler: caps, retries, timeouts, failure handling, failed-node resume, random DAGs."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aether_nb as ag
from aether_nb.runtime import session as session_mod
from aether_nb.runtime.session import Session
from aether_nb.runtime.taskgraph import NodeSpec, Ref, TaskGraph, tool_version
from tests.conftest import arun, make_session

in_flight = {"now": 0, "max": 0}
calls: dict[str, int] = {}


@ag.tool(outputs=["v"])
async def work(i: int, deps: list[int] | None = None) -> dict[str, int]:
    in_flight["now"] += 1
    in_flight["max"] = max(in_flight["max"], in_flight["now"])
    try:
        for _ in range(3):
            await asyncio.sleep(0)  # yield so siblings can start: the cap is what limits them
    finally:
        in_flight["now"] -= 1
    calls[f"work{i}"] = calls.get(f"work{i}", 0) + 1
    return {"v": i}


@pytest.fixture(autouse=True)
def _reset() -> None:
    in_flight.update(now=0, max=0)
    calls.clear()


@ag.graphify(name="wide", inputs=["n"], outputs=["total"])
def wide(n: Any) -> Any:
    parts = [work(i=i) for i in range(12)]
    return {"total": work(i=100, deps=[p.v for p in parts]).v}


@pytest.mark.parametrize("cap", [1, 3, 6])
def test_concurrency_cap_is_never_exceeded(session: Session, cap: int) -> None:
    async def main() -> Any:
        return await wide.start(n=0, max_concurrency=cap).result()

    assert arun(main()) == {"total": 100}
    assert in_flight["max"] == cap
    assert all(v == 1 for v in calls.values()) and len(calls) == 13


async def _start_and_wait(graph: Any, **options: Any) -> Any:
    return await graph.start(**options).result()


def test_bounded_retries_stop(session: Session) -> None:
    attempts: list[int] = []

    @ag.tool(outputs=["v"])
    def flaky() -> dict[str, int]:
        attempts.append(1)
        raise ConnectionError("still down")

    @ag.graphify(outputs=["v"])
    def g() -> Any:
        return {"v": flaky().v}

    policy = ag.RetryPolicy(max_attempts=3, backoff_s=0.0, retry_on=(ConnectionError,))
    with pytest.raises(ag.RunFailed) as info:
        arun(_start_and_wait(g, retry=policy))
    assert isinstance(info.value.__cause__, ConnectionError)
    assert len(attempts) == 3


def test_retry_then_success_and_no_retry_for_other_errors(session: Session) -> None:
    attempts: list[int] = []

    @ag.tool(outputs=["v"])
    def flaky_once() -> dict[str, int]:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("blip")
        return {"v": 7}

    @ag.tool(outputs=["v"])
    def wrong() -> dict[str, int]:
        attempts.append(2)
        raise ValueError("a bug, not a blip")

    @ag.graphify(outputs=["v"])
    def ok() -> Any:
        return {"v": flaky_once().v}

    @ag.graphify(outputs=["v"])
    def bad() -> Any:
        return {"v": wrong().v}

    policy = ag.RetryPolicy(max_attempts=5, backoff_s=0.0, retry_on=(ConnectionError,))
    assert arun(_start_and_wait(ok, retry=policy)) == {"v": 7}
    with pytest.raises(ag.RunFailed):
        arun(_start_and_wait(bad, retry=policy))
    assert attempts == [1, 1, 2]


def test_node_timeout(session: Session) -> None:
    @ag.tool(outputs=["v"])
    async def hangs() -> dict[str, int]:
        await asyncio.Event().wait()
        return {"v": 0}

    @ag.graphify(outputs=["v", "other"])
    def g() -> Any:
        h = hangs(_timeout_s=0.05)
        return {"v": h.v, "other": work(i=1, deps=[h.v]).v}

    with pytest.raises(ag.RunFailed) as info:
        arun(g())
    assert isinstance(info.value.__cause__, ag.StepTimeout)
    # (it said only "ran longer than its timeout of 0.05 s": what to do, as a StateGraph node's timeout says)
    said = info.value.__cause__.message
    assert "hangs_1" in said and "_timeout_s=" in said and 'resume_mode="failed_nodes"' in said, said
    statuses = {n.id: n.status for n in ag.runs()[0].graph.nodes}
    assert statuses == {"hangs_1": "FAILED_TIMEOUT", "work_1": "SKIPPED"}


def test_stop_on_first_error_cancels_running_siblings(session: Session) -> None:
    started = asyncio.Event()

    @ag.tool(outputs=["v"])
    async def slow() -> dict[str, int]:
        started.set()
        await asyncio.Event().wait()
        return {"v": 0}

    @ag.tool(outputs=["v"])
    async def boom() -> dict[str, int]:
        await started.wait()
        raise RuntimeError("boom")

    @ag.graphify(outputs=["a", "b"])
    def g() -> Any:
        return {"a": slow().v, "b": boom().v}

    with pytest.raises(ag.RunFailed):
        arun(g())
    statuses = {n.id: n.status for n in ag.runs()[0].graph.nodes}
    assert statuses == {"slow_1": "CANCELLED", "boom_1": "FAILED"}


def test_failed_nodes_resume_reuses_upstream(session: Session) -> None:
    state = {"broken": True}

    @ag.tool(outputs=["v"])
    def fast_ok(x: int) -> dict[str, int]:
        calls["fast_ok"] = calls.get("fast_ok", 0) + 1
        return {"v": 3 * x}

    @ag.tool(outputs=["v"])
    def flaky_work(n: int) -> dict[str, int]:
        if state["broken"]:
            raise RuntimeError("not yet")
        return {"v": n}

    @ag.graphify(outputs=["sum"])
    def resumable(x: Any, n: Any) -> Any:
        return {"sum": add(a=fast_ok(x=x).v, b=flaky_work(n=n).v).z}

    async def main() -> Any:
        first = resumable.start(x=7, n=40, run_id="R")
        with pytest.raises(ag.RunFailed):
            await first
        again = resumable.start(x=7, n=40, run_id="R")  # a failed run is returned as it is
        assert again.status == "failed"
        state["broken"] = False
        fixed = resumable.start(x=7, n=40, run_id="R", resume_mode="failed_nodes")
        return await fixed

    assert arun(main()) == {"sum": 61}
    assert calls["fast_ok"] == 1


@ag.tool(outputs=["z"])
async def add(a: int, b: int) -> dict[str, int]:
    return {"z": a + b}


# -- random DAGs -------------------------------------------------------------------------------------------------

order: list[tuple[str, str]] = []


@ag.tool(outputs=["v"])
async def node_tool(name: str, deps: list[Any]) -> dict[str, Any]:
    order.append(("start", name))
    in_flight["now"] += 1
    in_flight["max"] = max(in_flight["max"], in_flight["now"])
    await asyncio.sleep(0)
    in_flight["now"] -= 1
    order.append(("end", name))
    return {"v": name}


@st.composite
def dags(draw: st.DrawFn) -> dict[str, list[str]]:
    n = draw(st.integers(1, 25))
    edges: dict[str, list[str]] = {}
    for i in range(n):
        earlier = [f"n{j}" for j in range(i)]
        edges[f"n{i}"] = draw(st.lists(st.sampled_from(earlier), unique=True, max_size=3)) if earlier else []
    return edges


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dags(), st.integers(1, 4))
def test_random_dags_run_each_node_once_after_its_deps_within_the_cap(edges: dict[str, list[str]], cap: int) -> None:
    order.clear()
    in_flight.update(now=0, max=0)
    version = tool_version(node_tool)
    nodes = {
        name: NodeSpec(
            id=name,
            tool="node_tool",
            tool_version=version,
            inputs={"name": name, "deps": [Ref(d, "v").to_json() for d in deps]},
            deps=tuple(deps),
        )
        for name, deps in edges.items()
    }
    graph = TaskGraph("random", [], {}, {"last": Ref(list(edges)[-1], "v").to_json()}, nodes)
    s, _ = make_session()
    previous = session_mod.set_default_session(s)
    try:
        out = arun(ag.run(graph, {}, max_concurrency=cap))
    finally:
        session_mod.set_default_session(previous)
    assert out == {"last": list(edges)[-1]}
    starts = [n for kind, n in order if kind == "start"]
    assert sorted(starts) == sorted(edges)  # each node exactly once
    position = {(k, n): i for i, (k, n) in enumerate(order)}
    for name, deps in edges.items():
        for d in deps:
            assert position[("end", d)] < position[("start", name)]
    assert in_flight["max"] <= cap


# -- a waiting node resumed in a new process ------------------------------------------------------------------------

WAITING = """
import asyncio, json, os, sys
import aether_nb as ag
DB, COUNTER, MODE = sys.argv[1], sys.argv[2], sys.argv[3]
ag.configure(store=DB)

@ag.tool(outputs=["v"])
def prepare(x: int) -> dict:
    with open(COUNTER, "a") as f:
        f.write("prepared\\n")
    return {"v": x * 2}

class Approve(ag.DualStageTool, outputs=["decision"]):
    async def setup(self, amount: int) -> ag.WaitSpec:
        with open(COUNTER, "a") as f:
            f.write("setup\\n")
        return ag.WaitSpec(kind="approval", prompt=f"Pay {amount}?", options=["Yes", "No"])
    async def on_resume(self, payload) -> dict:
        return {"decision": payload["choice"]}

@ag.graphify(outputs=["decision", "v"])
def pay(x):
    p = prepare(x=x)
    a = Approve(amount=p.v)
    return {"decision": a.decision, "v": p.v}

async def main():
    if MODE == "start":
        run = pay.start(x=21, run_id="g1")
        await run.wait_for("waiting", timeout=30)
        print("WAITING", run.graph.node("Approve_1").status, flush=True)
        os._exit(0)
    run = ag.get_run("g1")
    print("STATUS", run.status, [w.prompt for w in run.waits], flush=True)
    await run.answer(MODE)
    print("OUT", json.dumps(await run), flush=True)

asyncio.run(main())
"""


def test_a_waiting_node_resumes_in_a_new_process(tmp_path: Path) -> None:
    script = tmp_path / "pay.py"
    script.write_text(WAITING)
    db, counter = str(tmp_path / "g.duckdb"), str(tmp_path / "count.txt")

    def run(mode: str) -> str:
        res = subprocess.run(
            [sys.executable, str(script), db, counter, mode], capture_output=True, text=True, timeout=120
        )
        assert res.returncode == 0, res.stderr
        return res.stdout

    assert "WAITING WAITING_HUMAN" in run("start")
    out = run("Yes")
    assert "STATUS waiting ['Pay 42?']" in out
    assert json.loads(out.split("OUT ", 1)[1]) == {"decision": "Yes", "v": 42}
    assert Path(counter).read_text().splitlines() == ["prepared", "setup"]  # neither ran again


def test_a_global_cap_across_runs(session: Session) -> None:
    ag.configure(max_concurrency=2)

    async def main() -> None:
        runs = [wide.start(n=i) for i in range(3)]
        for r in runs:
            assert await r == {"total": 100}

    arun(main())
    assert in_flight["max"] == 2
    with pytest.raises(ag.UsageError):
        ag.configure(max_concurrency=0)


def test_cancelling_a_graph_run_cancels_its_running_nodes(session: Session) -> None:
    seen: list[str] = []
    started = asyncio.Event()

    @ag.tool(outputs=["v"])
    async def hangs(i: int) -> dict[str, int]:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            seen.append(f"cancelled {i}")
            raise
        return {"v": i}

    @ag.graphify(outputs=["a", "b"])
    def two(x: Any) -> Any:
        return {"a": hangs(i=1).v, "b": hangs(i=2).v}

    async def main() -> str:
        run = two.start(x=0)
        await started.wait()
        run.cancel()
        with pytest.raises(ag.RunCancelled):
            await run
        assert sorted(seen) == ["cancelled 1", "cancelled 2"]  # no node outlives its run
        return run.status

    assert arun(main()) == "cancelled"


# -- a chain: the only node that can run is awaited in place (no task of its own) ----------------------------------
def test_a_chain_runs_in_order_and_a_failure_skips_the_rest(session: Session) -> None:
    ran: list[int] = []

    @ag.tool(outputs=["v"])
    async def link(v: int) -> dict[str, int]:
        ran.append(v)
        if v == 3:
            raise ValueError("link 3 broke")
        return {"v": v + 1}

    @ag.graphify(outputs=["v"])
    def chain() -> Any:
        h = link(v=0)
        for _ in range(5):
            h = link(v=h.v)
        return {"v": h.v}

    with pytest.raises(ag.RunFailed, match="link 3 broke"):
        arun(chain())
    assert ran == [0, 1, 2, 3]
    statuses = [n.status for n in ag.runs()[0].graph.nodes]
    assert statuses == ["DONE", "DONE", "DONE", "FAILED", "SKIPPED", "SKIPPED"]


def test_a_node_raising_cancelled_error_itself_fails_the_run_not_the_caller(session: Session) -> None:
    @ag.tool(outputs=["v"])
    async def gives_up(v: int) -> dict[str, int]:
        raise asyncio.CancelledError()

    @ag.tool(outputs=["v"])
    async def after(v: int) -> dict[str, int]:
        return {"v": v}

    @ag.graphify(outputs=["v"])
    def chain() -> Any:
        return {"v": after(v=gives_up(v=1).v).v}

    async def main() -> str:
        with pytest.raises(ag.RunFailed, match="graph 'chain' was cancelled"):
            await chain()
        return "caller still running"  # the CancelledError did not escape as a cancellation of this task

    assert arun(main()) == "caller still running"
    statuses = {n.id: n.status for n in ag.runs()[0].graph.nodes}
    assert statuses["after_1"] == "SKIPPED"


def test_cancelling_a_run_while_its_chain_waits_cancels_that_node_and_runs_nothing_after(session: Session) -> None:
    started = asyncio.Event()
    ran: list[str] = []

    @ag.tool(outputs=["v"])
    async def hangs(v: int) -> dict[str, int]:
        started.set()
        await asyncio.Event().wait()
        return {"v": v}

    @ag.tool(outputs=["v"])
    async def after(v: int) -> dict[str, int]:
        ran.append("after")
        return {"v": v}

    @ag.graphify(outputs=["v"])
    def chain() -> Any:
        return {"v": after(v=hangs(v=1).v).v}

    async def main() -> str:
        run = chain.start()
        await started.wait()
        run.cancel()
        with pytest.raises(ag.RunCancelled):
            await run
        return run.status

    assert arun(main(), timeout=30) == "cancelled"
    assert ran == []
    statuses = {n.id: n.status for n in ag.runs()[0].graph.nodes}
    assert statuses == {"hangs_1": "CANCELLED", "after_1": "CANCELLED"}  # (the node never started is drawn too)


def test_a_cancelled_fan_out_shows_and_stores_every_node_also_those_waiting_for_a_slot(session: Session) -> None:
    """README: every node of the graph is in run.graph, those that never started included. A cancel used to drop
    the nodes waiting for a slot or a dependency from the DAG, the widget and the store."""
    started: list[int] = []
    two_running = asyncio.Event()

    @ag.tool(outputs=["v"])
    async def slow(i: int) -> dict[str, int]:
        started.append(i)
        if len(started) == 2:
            two_running.set()
        await asyncio.Event().wait()
        return {"v": i}

    @ag.tool(outputs=["v"])
    async def total(vs: list[int]) -> dict[str, int]:
        return {"v": sum(vs)}

    @ag.graphify(outputs=["v"])
    def fan() -> Any:
        return {"v": total(vs=[slow(i=i).v for i in range(6)]).v}

    async def main() -> ag.Run:
        run = fan.start(max_concurrency=2)
        await two_running.wait()
        run.cancel()
        with pytest.raises(ag.RunCancelled):
            await run
        return run

    run = arun(main(), timeout=30)
    assert len(started) == 2
    expected = {f"slow_{i}": "CANCELLED" for i in range(1, 7)} | {"total_1": "CANCELLED"}
    assert {n.id: n.status for n in run.graph.nodes} == expected
    session.flush()
    assert {n.node_id: n.status for n in session.store.list_nodes(run.id)} == expected


def test_a_run_cancelled_while_a_node_waits_to_retry_shows_that_node_stopped(session: Session) -> None:
    """README: unfinished nodes of a finished run show "stopped". A node between two attempts is unfinished: it
    showed FAILED (its last attempt) inside a cancelled run."""
    attempts: list[int] = []
    first_failed = asyncio.Event()

    @ag.tool(outputs=["v"])
    async def flaky(x: int) -> dict[str, int]:
        attempts.append(x)
        first_failed.set()
        raise ConnectionError("the service is down")

    @ag.graphify(outputs=["v"])
    def one(x: Any) -> Any:
        return {"v": flaky(x=x).v}

    async def main() -> ag.Run:
        run = one.start(x=1, retry=ag.RetryPolicy(max_attempts=3, backoff_s=60, jitter=0.0))
        await first_failed.wait()
        for _ in range(20):  # the failed attempt is recorded, the backoff begins
            await asyncio.sleep(0)
        run.cancel()
        with pytest.raises(ag.RunCancelled):
            await run
        return run

    run = arun(main(), timeout=30)
    assert attempts == [1] and run.status == "cancelled"
    assert [(n.id, n.status) for n in run.graph.nodes] == [("flaky_1", "CANCELLED")]
