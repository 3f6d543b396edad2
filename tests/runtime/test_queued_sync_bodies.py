"""A sync body that waits for one of its executor's threads is not running yet: its node shows pending, and its
``_timeout_s`` counts from when its body starts.

Found by a concurrency tester (session 32): a ``@graphify`` graph wider than the default thread pool showed every node
RUNNING while only the pool's size of bodies had started, and the nodes queued behind them failed "ran longer than
its timeout" after their bodies ran a fraction of it. Bodies block on ``threading.Event``s the tests set; every test
releases them before it ends. The pool is an explicit ``ThreadExecutor(max_workers=2)``: no dependence on the
machine's cores.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from tests.conftest import arun
from tests.gates import Gate, until


@pytest.fixture
def pool(gate: Gate) -> Iterator[ag.ThreadExecutor]:
    p = ag.ThreadExecutor(max_workers=2)
    try:
        yield p
    finally:
        gate.release.set()  # (before waiting for the threads: a failed test leaves bodies blocked)
        p.shutdown(wait=True)


async def turns(n: int = 200) -> None:
    """Let the loop run ``n`` turns (no wall-clock wait): what the loop would do by itself is done by then."""
    for _ in range(n):
        await asyncio.sleep(0)


def graphs(gate: Gate) -> tuple[Any, Any]:
    """``holds``: two sync nodes that keep both threads of the pool until released; ``one``: a quick sync node with a
    ``_timeout_s`` of 0.2 s, which (started after them) waits for a thread."""

    @ag.tool(outputs=["y"])
    def hold(x: int) -> dict[str, int]:
        gate.started.append(f"hold {x}")
        assert gate.release.wait(20), "the test never released a blocked body"
        return {"y": x}

    @ag.tool(outputs=["y"])
    def quick(x: int) -> dict[str, int]:
        gate.started.append("quick")
        return {"y": x + 1}

    @ag.graphify(name="holds", inputs=["x"], outputs=["a", "b"])
    def holds(x: Any) -> Any:
        return {"a": hold(x=1).y, "b": hold(x=2).y}

    @ag.graphify(name="one", inputs=["x"], outputs=["y"])
    def one(x: Any) -> Any:
        return {"y": quick(x=x, _timeout_s=0.2).y}

    return holds, one


def test_a_node_waiting_for_a_thread_shows_pending(session: Session, gate: Gate, pool: ag.ThreadExecutor) -> None:
    """Every thread taken: a node started meanwhile shows PENDING (it showed RUNNING), and RUNNING once its body
    starts."""
    holds, one = graphs(gate)

    async def main() -> tuple[Any, Any, list[str]]:
        first = holds.start(x=0, executor=pool)
        await until(lambda: len(gate.started) == 2)
        second = one.start(x=1, executor=pool)
        statuses: list[str] = []
        second.subscribe(lambda e: statuses.append(e.status) if e.kind == "node_status" else None)
        started: list[str] = []
        second.subscribe(lambda e: started.append(e.node_id) if e.kind == "node_started" else None)
        await until(lambda: started == ["quick_1"])
        await turns()
        assert "quick" not in gate.started  # (both threads still held)
        assert [str(n.status) for n in second.graph.nodes] == ["PENDING"]
        gate.release.set()
        return await asyncio.wait_for(first, 20), await asyncio.wait_for(second, 20), statuses

    a, b, statuses = arun(main())
    assert a == {"a": 1, "b": 2} and b == {"y": 2}
    assert statuses == ["PENDING", "RUNNING"]


def test_a_node_timeout_counts_from_its_body_start_not_its_wait_for_a_thread(
    session: Session, gate: Gate, pool: ag.ThreadExecutor
) -> None:
    """A node with ``_timeout_s=0.2`` that waits five times that for a thread is not failed meanwhile (it was, its
    body never started), and succeeds once its body runs."""
    holds, one = graphs(gate)

    async def main() -> tuple[Any, Any]:
        first = holds.start(x=0, executor=pool)
        await until(lambda: len(gate.started) == 2)
        second = one.start(x=1, executor=pool)
        finished: list[str] = []
        second.subscribe(lambda e: finished.append(e.node_id) if e.kind == "node_finished" else None)
        with pytest.raises(TimeoutError):  # (the negative check: nothing may end the node while it waits)
            await until(lambda: bool(finished), timeout=1.0)
        assert "quick" not in gate.started
        gate.release.set()
        return await asyncio.wait_for(first, 20), await asyncio.wait_for(second, 20)

    assert arun(main()) == ({"a": 1, "b": 2}, {"y": 2})
    assert gate.started[-1] == "quick"


def test_a_thread_executor_says_when_a_queued_body_starts(gate: Gate) -> None:
    """A body that starts at once gets a plain submission (nothing more per step); one that waits for a place says
    when it starts, and only then."""
    pool = ag.ThreadExecutor(max_workers=1)

    def body(label: str, block: bool) -> str:
        gate.started.append(label)
        if block:
            assert gate.release.wait(20), "the test never released a blocked body"
        return label

    async def main() -> list[str]:
        first = pool.submit(body, ("first", True), {}, label="first")
        assert not hasattr(first, "add_start_callback")
        second = pool.submit(body, ("second", False), {}, label="second")
        on_start = getattr(second, "add_start_callback", None)
        assert on_start is not None
        told: list[list[str]] = []
        on_start(lambda: told.append(list(gate.started)))
        await until(lambda: gate.started == ["first"])
        await turns()
        assert told == []  # (still queued behind the first)
        gate.release.set()
        await until(lambda: bool(told))
        return [await first.result(), await second.result(), *told[0]]

    try:
        out = arun(main())
    finally:
        gate.release.set()
        pool.shutdown(wait=True)
    assert out[:2] == ["first", "second"]
    assert out[2:] in (["first"], ["first", "second"])  # told as the body starts (its first line may have run)
