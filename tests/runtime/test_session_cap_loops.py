"""The session's cap counts the bodies of every loop: the kernel's, and ``agent.sync()``'s in other threads.

A semaphore belongs to one loop, so the cap was a semaphore per loop, and a run on a second loop replaced the
session's while bodies still held it: under a cap of 1 two bodies ran on the kernel's loop alone. A sync tool
body running a sub-agent with ``agent.sync()`` found its caller's slots in its copied context and failed with
asyncio's "Semaphore ... is bound to a different event loop". Bodies here count themselves (a counter under a
lock, across threads), so the peak is measured, not timed.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime import session as session_mod
from aether_nb.runtime.session import Session
from aether_nb.runtime.slots import session_limit
from tests.conftest import arun, make_session


class Counter:
    """How many bodies run at once, at most (bodies on any loop, in any thread)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.ran = 0

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.now -= 1
            self.ran += 1


bodies = Counter()


@pytest.fixture
def capped() -> Iterator[Session]:
    """A session capped at 1 body, the default one in every thread (a helper thread's agent.sync() uses it)."""
    global bodies
    bodies = Counter()
    s, _ = make_session()
    s.config["global_max_concurrency"] = 1
    previous = session_mod.set_default_session(s)
    try:
        yield s
    finally:
        session_mod.set_default_session(previous)


@ag.tool(name="cap_counted", outputs=["y"])
def counted(x: int) -> dict[str, int]:
    with bodies:
        time.sleep(0.01)  # (long enough for the other loop's bodies to start beside it, without a cap)
    return {"y": x}


@ag.graph_fn(name="cap_one_call", outputs=["r"])
async def one_call(x: int) -> dict[str, Any]:
    return {"r": (await counted(x))["y"]}


@ag.tool(name="cap_runs_an_agent", outputs=["y"])
def runs_an_agent(x: int) -> dict[str, int]:
    return {"y": one_call.sync(x=x)["r"]}  # a sync tool (a worker thread, no loop running) running a sub-agent


@ag.graph_fn(name="cap_fan_out", outputs=["r"])
async def fan_out(n: int) -> dict[str, Any]:
    out = await asyncio.gather(*[runs_an_agent(i) for i in range(n)], *[counted(100 + i) for i in range(n)])
    return {"r": sorted(o["y"] for o in out)}


def test_the_cap_holds_across_the_kernels_loop_and_a_helper_threads(capped: Session) -> None:
    def helper() -> None:
        for i in range(15):
            one_call.sync(x=i)

    async def main() -> list[dict[str, Any]]:
        thread = threading.Thread(target=helper)
        thread.start()
        try:
            return list(await asyncio.gather(*[one_call(x=100 + i) for i in range(15)]))
        finally:
            await asyncio.to_thread(thread.join, 10)

    out = arun(main())
    assert [o["r"] for o in out] == list(range(100, 115))
    assert (bodies.ran, bodies.peak) == (30, 1)


def test_a_sync_tool_running_a_sub_agent_under_the_cap_lends_it_its_slot(capped: Session) -> None:
    """Its thread is blocked while the sub-agent runs, so the sub-agent's calls run in its slot, one at a time:
    the cap holds, and a cap of 1 does not hang (a slot of their own would wait for the tool, which waits for them)."""

    async def main() -> dict[str, Any]:
        return await asyncio.wait_for(fan_out(n=3), 20)

    assert arun(main()) == {"r": [0, 1, 2, 100, 101, 102]}
    assert (bodies.ran, bodies.peak) == (6, 1)


_let_go = threading.Event()


@ag.tool(name="cap_lingers", outputs=["y"])
def lingers() -> dict[str, int]:
    _let_go.wait(10)
    return {"y": 1}


@ag.graph_fn(name="cap_gives_up_on_it", outputs=["r"])
async def gives_up_on_it() -> dict[str, Any]:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(lingers(), 0.02)
    return {"r": 1}


def test_a_body_given_up_on_that_ends_after_its_loop_closed_gives_its_slot_back(capped: Session) -> None:
    """The run of ``agent.sync()`` ends (its loop closes) while a sync body it gave up on still runs: that body keeps
    the session's slot until it ends, then gives it back from its thread (the loop it would go back through is
    gone), and the other loops' calls take it."""
    _let_go.clear()
    assert gives_up_on_it.sync() == {"r": 1}
    cap = session_limit(capped.config)
    assert cap is not None and cap.locked()  # (still held by the body that runs on)

    async def main() -> dict[str, Any]:
        _let_go.set()
        return await asyncio.wait_for(one_call(x=7), 10)

    assert arun(main()) == {"r": 7}
    assert not cap.locked()


def test_a_state_graph_sync_node_running_a_sub_agent_under_the_cap(capped: Session) -> None:
    """The same for a StateGraph's sync node, whose thread copies the caller's context too (a guard: a fixer
    suspected it of the sync tool's "bound to a different event loop"; its task's slot is not in that context)."""
    from typing import TypedDict

    from aether_nb.flow import END, START, StateGraph

    class S(TypedDict):
        x: int

    def node(state: S) -> dict[str, int]:
        return {"x": one_call.sync(x=state["x"] + 1)["r"]}

    g = StateGraph(S)
    g.add_node("node", node)
    g.add_edge(START, "node")
    g.add_edge("node", END)
    app = g.compile()

    async def main() -> Any:
        return await asyncio.wait_for(app.ainvoke({"x": 1}, config={"thread_id": "cap-sg"}), 20)

    assert dict(arun(main())) == {"x": 2}
    assert (bodies.ran, bodies.peak) == (1, 1)
