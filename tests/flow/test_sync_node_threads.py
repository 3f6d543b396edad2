"""Sync node functions of a state graph that time out go on in their thread: they keep their slot of the session's
cap until they return, a retry waits for them, and hung ones never starve later sync nodes.

Found by a concurrency tester (session 32): under ``ag.configure(max_concurrency=1)`` a sync tool ran beside a
timed-out node's thread; hung nodes filled the loop's default thread pool, and a later trivial sync node failed
with "ran past its timeout" although it never ran. Bodies block on ``threading.Event``s the tests set; every test
releases them before it ends.
"""

from __future__ import annotations

import asyncio
import operator
import os
from collections.abc import Callable
from typing import Annotated, Any, TypedDict

import pytest

import aether_nb as ag
from aether_nb.flow import END, START, RetryPolicy, StateGraph
from aether_nb.runtime.session import Session
from tests.conftest import arun
from tests.gates import Gate, until


class X(TypedDict):
    x: Annotated[int, operator.add]


def test_a_timed_out_sync_node_keeps_its_slot_of_the_session_cap(session: Session, gate: Gate) -> None:
    """max_concurrency=1: a sync tool called after a sync node timed out waits for the node's thread to return."""
    session.config["global_max_concurrency"] = 1

    def hang(state: X) -> dict[str, int]:
        gate.body("node", block=True)
        return {"x": 1}

    @ag.tool(outputs=["y"])
    def work(x: int) -> dict[str, int]:
        gate.body("tool", block=False)
        return {"y": x}

    @ag.graph_fn(name="uses_work", outputs=["y"])
    async def uses_work(x: int) -> dict[str, Any]:
        return await work(x)

    g = StateGraph(X)
    g.add_node("hang", hang, timeout=0.2)
    g.add_edge(START, "hang")
    g.add_edge("hang", END)
    app = g.compile()

    async def main() -> Any:
        with pytest.raises(ag.StepTimeout):
            await app.ainvoke({"x": 0}, config={"thread_id": "t"})
        assert gate.started == ["node"] and gate.running == 1  # timed out: its thread still runs
        run = uses_work.start(x=1)

        def tool_queued() -> bool:
            return any(n.name == "work" and str(n.status) == "PENDING" for n in run.graph.nodes)

        await until(lambda: run.done or tool_queued())
        assert not run.done and gate.started == ["node"]  # the tool waits for the node's slot
        gate.release.set()
        return await asyncio.wait_for(run, 20)

    assert arun(main()) == {"y": 1}
    assert gate.peak == 1 and gate.started == ["node", "tool"]


def test_hung_sync_nodes_do_not_starve_later_sync_nodes(session: Session, gate: Gate) -> None:
    """As many hung sync nodes as the default thread pool has threads, all timed out: a later trivial sync node
    still runs at once (it waited behind them and failed with "ran past its timeout" without having run)."""
    threads = min(32, (os.cpu_count() or 1) + 4)  # (Python's default pool size)

    def hanging(i: int) -> Callable[[X], dict[str, int]]:
        def hang(state: X) -> dict[str, int]:
            gate.body(f"hang{i}", block=True)
            return {"x": 1}

        return hang

    g = StateGraph(X)
    for i in range(threads):
        g.add_node(f"n{i}", hanging(i), timeout=0.5)
        g.add_edge(START, f"n{i}")
        g.add_edge(f"n{i}", END)
    stuck = g.compile()

    def quick(state: X) -> dict[str, int]:
        gate.body("quick", block=False)
        return {"x": 1}

    q = StateGraph(X)
    q.add_node("quick", quick, timeout=10)
    q.add_edge(START, "quick")
    q.add_edge("quick", END)
    fine = q.compile()

    async def main() -> Any:
        try:
            with pytest.raises(ag.StepTimeout):
                await stuck.ainvoke({"x": 0}, config={"thread_id": "stuck"})
            assert gate.running == len(gate.started) > 0  # (the nodes that started still run)
            return await fine.ainvoke({"x": 0}, config={"thread_id": "fine"})
        finally:
            gate.release.set()  # (the loop's default executor waits for its threads when the loop closes)

    out = arun(main())
    assert out["x"] == 1 and "quick" in gate.started


def test_a_retry_of_a_timed_out_sync_node_waits_for_its_thread(session: Session, gate: Gate) -> None:
    """A node retried after its timeout runs again once the thread of the attempt it replaces returned, shown
    pending meanwhile (two attempts ran at once)."""
    decided: list[BaseException] = []

    def retry_on(exc: BaseException) -> bool:
        decided.append(exc)
        return isinstance(exc, ag.StepTimeout)

    def node(state: X) -> dict[str, int]:
        gate.body(f"attempt {len(gate.started) + 1}", block=not gate.started)
        return {"x": 1}

    g = StateGraph(X)
    policy = RetryPolicy(max_attempts=2, initial_interval=0.0, jitter=False, retry_on=retry_on)
    g.add_node("h", node, timeout=0.2, retry_policy=policy)
    g.add_edge(START, "h")
    g.add_edge("h", END)
    app = g.compile()

    async def main() -> Any:
        call = asyncio.ensure_future(app.ainvoke({"x": 0}, config={"thread_id": "t"}))

        def waits() -> bool:
            return any(n.name == "h" and str(n.status) == "PENDING" for r in session.runs() for n in r.graph.nodes)

        await until(lambda: bool(decided) and (waits() or len(gate.started) > 1))
        assert gate.started == ["attempt 1"] and gate.running == 1  # the retry waits for attempt 1's thread
        gate.release.set()
        return await asyncio.wait_for(call, 20)

    out = arun(main())
    assert out["x"] == 1
    assert gate.peak == 1 and gate.started == ["attempt 1", "attempt 2"]
