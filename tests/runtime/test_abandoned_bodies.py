"""Sync bodies given up on (their node timed out) go on in their thread: nothing that comes later runs beside them
twice, nor starves behind them.

Found by a concurrency tester (session 32): a failed run resumed with ``resume_mode="failed_nodes"`` ran its timed-out
node again beside the old thread, even under ``max_concurrency=1``; and hung bodies held every thread of the pool,
so each later sync tool of the session stayed RUNNING without starting. Bodies block on ``threading.Event``s the
tests set; every test releases them before it ends.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from tests.conftest import arun
from tests.gates import Gate, until


async def turns(n: int = 200) -> None:
    """Let the loop run ``n`` turns (no wall-clock wait): what the loop would do by itself is done by then."""
    for _ in range(n):
        await asyncio.sleep(0)


@pytest.mark.parametrize("cap", ["none", "run", "session"])
def test_a_resumed_failed_node_waits_for_its_abandoned_body(session: Session, gate: Gate, cap: str) -> None:
    """resume_mode="failed_nodes" right after a timeout: the node runs again once the old thread returned, never
    beside it (with no cap, under the run's max_concurrency=1, and under the session's cap of 1)."""
    calls: list[int] = []

    @ag.tool(outputs=["y"])
    def charge(x: int) -> dict[str, str]:
        calls.append(x)
        return {"y": gate.body(f"attempt {len(calls)}", block=len(calls) == 1)}

    @ag.graphify(name="pay", inputs=["x"], outputs=["y"])
    def pay(x: Any) -> Any:
        return {"y": charge(x=x, _timeout_s=0.2).y}

    if cap == "session":
        session.config["global_max_concurrency"] = 1
    options: dict[str, Any] = {"max_concurrency": 1} if cap == "run" else {}

    async def main() -> Any:
        with pytest.raises(ag.RunFailed):
            await pay.start(x=1, run_id="pay-1", **options)
        assert gate.started == ["attempt 1"] and gate.running == 1  # timed out: its thread still runs
        resumed = pay.start(x=1, run_id="pay-1", resume_mode="failed_nodes", **options)
        started: list[str] = []
        resumed.subscribe(lambda e: started.append(e.node_id) if e.kind == "node_started" else None)
        await turns()
        # the node has not started again: the thread of its first attempt still runs
        assert "charge_1" not in started and gate.started == ["attempt 1"]
        gate.release.set()
        out = await asyncio.wait_for(resumed, 20)
        assert "charge_1" in started
        return out

    out = arun(main())
    assert out == {"y": "attempt 2"}
    assert gate.peak == 1 and gate.started == ["attempt 1", "attempt 2"]


def test_a_given_up_call_run_again_by_a_resume_waits_for_its_abandoned_body(session: Session, gate: Gate) -> None:
    """A @graph_fn's call given up on (asyncio.wait_for) and run again by resume_mode="failed_nodes": its body starts
    once the old one returned, never beside it."""
    limits = [0.2, 20.0]  # the first call is given up on; the resumed one has all the time it needs

    @ag.tool(outputs=["y"])
    def charge(x: int) -> dict[str, str]:
        first = not gate.started
        return {"y": gate.body("first" if first else "again", block=first)}

    @ag.graph_fn(name="pay_fn", outputs=["y"])
    async def pay_fn(x: int) -> dict[str, Any]:
        return await asyncio.wait_for(charge(x=x), limits.pop(0))

    async def main() -> Any:
        with pytest.raises(ag.RunFailed):
            await pay_fn.start(x=1, run_id="pay-fn-1")
        assert gate.started == ["first"] and gate.running == 1  # given up on: its thread still runs
        resumed = pay_fn.start(x=1, run_id="pay-fn-1", resume_mode="failed_nodes")
        await turns()
        assert gate.started == ["first"]  # the call runs again only once the old body returned, pending till then
        assert [str(n.status) for n in resumed.graph.nodes if n.name == "charge"] == ["PENDING"]
        gate.release.set()
        return await asyncio.wait_for(resumed, 20)

    assert arun(main()) == {"y": "again"}
    assert gate.peak == 1 and gate.started == ["first", "again"]


def test_a_hung_abandoned_body_does_not_starve_later_sync_tools(session: Session, gate: Gate) -> None:
    """Every thread of an executor held by a body that timed out and hangs: a later sync tool still starts at once
    (it stayed RUNNING for good, its body never started)."""
    pool = ag.ThreadExecutor(max_workers=1)

    @ag.tool(outputs=["y"])
    def fetch(x: int) -> dict[str, str]:
        return {"y": gate.body("fetch", block=True)}

    @ag.tool(outputs=["y"])
    def add_one(x: int) -> dict[str, int]:
        gate.body("add_one", block=False)
        return {"y": x + 1}

    @ag.graphify(name="fetch_one", inputs=["x"], outputs=["y"])
    def fetch_one(x: Any) -> Any:
        return {"y": fetch(x=x, _timeout_s=0.2).y}

    @ag.graph_fn(name="simple", outputs=["y"])
    async def simple(x: int) -> dict[str, Any]:
        return await add_one(x)

    async def main() -> Any:
        with pytest.raises(ag.RunFailed):
            await fetch_one.start(x=1, executor=pool)
        assert gate.started == ["fetch"] and gate.running == 1  # the only thread of the pool still runs it
        out = await asyncio.wait_for(simple.start(x=1, executor=pool), 10)
        assert gate.running == 1  # (beside the hung body, which still runs)
        return out

    try:
        assert arun(main()) == {"y": 2}
    finally:
        gate.release.set()
        pool.shutdown(wait=True)
    assert gate.started == ["fetch", "add_one"]


def test_a_thread_executor_keeps_its_bound_around_abandoned_bodies(gate: Gate) -> None:
    """max_workers=1: a body given up on stops counting (the next one starts), the bodies that count never overlap,
    and once the abandoned one returned the bound is 1 again (its thread adds no room)."""
    pool = ag.ThreadExecutor(max_workers=1)
    second_go = threading.Event()

    async def main() -> list[Any]:
        hung = pool.submit(gate.body, ("hung",), {"block": True}, label="hung")
        waiter = asyncio.ensure_future(hung.result())
        await until(lambda: gate.started == ["hung"])
        waiter.cancel()  # given up on: the awaiter leaves, the thread goes on
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert not hung.cancel()  # (running: it cannot be stopped)
        # the next body starts although the only counted thread still runs the hung one
        assert await asyncio.wait_for(pool.submit(gate.body, ("next",), {"block": False}, label="n").result(), 10)
        gate.release.set()
        await until(hung.done)
        # back to one at a time: the first blocks until told, the others wait for it
        first = pool.submit(lambda: (gate.body("a", block=False), second_go.wait(20)), (), {}, label="a")
        others = [pool.submit(gate.body, (label,), {"block": False}, label=label) for label in ("b", "c")]
        await until(lambda: "a" in gate.started)
        await turns()
        assert gate.started[-1] == "a"  # b and c wait for a's thread
        second_go.set()
        return [await s.result() for s in (first, *others)]

    try:
        out = arun(main())
    finally:
        gate.release.set()
        second_go.set()
        pool.shutdown(wait=True)
    assert out[1:] == ["b", "c"]
    assert gate.started == ["hung", "next", "a", "b", "c"]


@pytest.mark.parametrize("how", ["stop", "timeout"])
def test_the_dag_says_a_given_up_body_still_runs_then_how_it_ended(gate: Gate, tmp_path: Any, how: str) -> None:
    """A payment's sync body runs on in its thread after Stop (or its node's timeout): the node says stopped (or
    timed out), and the DAG says the body still runs, then that it returned: its effect happened. A graph read back
    from the store (another session, as after a restart) says the same."""
    from aether_nb.store.duckdb import DuckDBStore
    from tests.conftest import default_session

    @ag.tool(outputs=["paid"])
    def pay(amount: int) -> dict[str, int]:
        gate.body("pay", block=True)
        return {"paid": amount}

    @ag.graphify(name="checkout", inputs=["amount"], outputs=["paid"])
    def checkout(amount: Any) -> Any:
        return {"paid": pay(amount=amount, _timeout_s=0.2 if how == "timeout" else None).paid}

    path = tmp_path / "runs.duckdb"
    with DuckDBStore(path) as store, default_session(store) as s:

        async def main() -> tuple[str, str | None, str | None]:
            run = checkout.start(amount=5)
            await until(lambda: gate.running == 1)
            if how == "stop":
                run.cancel()
                await until(lambda: run.status == "cancelled")
            else:
                await until(lambda: run.status == "failed")
            node = run.graph.node("pay_1")
            during = node.body
            gate.release.set()
            await until(lambda: run.graph.node("pay_1").body != "running")
            return node.status, during, run.graph.node("pay_1").body

        status, during, after = arun(main())
        s.flush()
        run_id = s.runs()[0].id
    assert status == ("CANCELLED" if how == "stop" else "FAILED_TIMEOUT")
    assert (during, after) == ("running", "returned")
    with DuckDBStore(path) as store, default_session(store) as s:
        node = s.get_run(run_id).graph.to_dict()["nodes"][0]
        assert (node["id"], node["status"], node["body"]) == ("pay_1", status, "returned")


def test_a_given_up_body_that_raises_is_said_raised(session: Session, gate: Gate) -> None:
    @ag.tool(outputs=["paid"])
    def pay(amount: int) -> dict[str, int]:
        gate.body("pay", block=True)
        raise ConnectionError("the bank hung up")

    @ag.graph_fn(name="pay_agent", outputs=["paid"])
    async def pay_agent(amount: int) -> dict[str, Any]:
        return await pay(amount=amount)

    async def main() -> str | None:
        run = pay_agent.start(amount=5)
        await until(lambda: gate.running == 1)
        run.cancel()
        await until(lambda: run.status == "cancelled")
        assert run.graph.node("pay_1").body == "running"
        gate.release.set()
        await until(lambda: run.graph.node("pay_1").body != "running")
        return run.graph.node("pay_1").body

    assert arun(main()) == "raised"
