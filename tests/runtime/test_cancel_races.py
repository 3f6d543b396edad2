"""A stop that races the run's own machinery: what ``cancel()`` and a cancelled caller promise holds.

Found by a concurrency tester (session 32): runs cancelled while more of them waited than ``max_live_waiting``
stayed ``running`` for good when their followers dropped in the same loop turn (an eviction took the place of the
cancel), and the code that owned a run (``await agent(...)``) was told it "was stopped" while it still read
``running``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime import session as session_mod
from aether_nb.runtime.interrupted import told
from aether_nb.runtime.run import Run
from tests.conftest import arun, make_session

GATE = threading.Event()
STARTED = threading.Semaphore(0)


@pytest.fixture(autouse=True)
def _session() -> Iterator[None]:
    GATE.clear()
    s, _ = make_session()  # no scripted answers: questions stay open
    s.max_live_waiting = 2
    previous = session_mod.set_default_session(s)
    try:
        yield
    finally:
        GATE.set()  # (a sync body still blocked ends)
        session_mod.set_default_session(previous)


@ag.graph_fn(outputs=["a"])
async def cr_asker(x: int, *, context: ag.NodeContext) -> dict[str, str]:
    return {"a": await context.channel().ask_text(f"q{x}?")}


@ag.tool(outputs=["y"])
def cr_slow(x: int) -> dict[str, int]:
    STARTED.release()
    GATE.wait(10)
    return {"y": x}


@ag.graph_fn(outputs=["y"])
async def cr_sub(x: int) -> dict[str, Any]:
    a, _ = await asyncio.gather(cr_slow(x), cr_slow(x + 1))
    return a


@ag.graph_fn(outputs=["y"])
async def cr_agent(x: int) -> dict[str, Any]:
    return await cr_sub(x)


@ag.tool(outputs=["y"])
async def cr_wrap(x: int) -> dict[str, Any]:
    return await cr_sub(x)


@ag.graphify(outputs=["y"])
def cr_graph(x: int) -> Any:
    return {"y": cr_wrap(x)["y"]}


def test_runs_cancelled_while_their_followers_drop_beyond_max_live_waiting_end_cancelled() -> None:
    """Re-running a cell that started more waiting runs than ``max_live_waiting``: each run is cancelled, then its
    widget unsubscribes in the same loop turn. The unsubscribe evicted the run whose cancel was under way, and its
    task's ending then said nothing: ``running`` forever, ``await run`` hung, a second cancel() was needed."""

    async def main() -> None:
        runs = [cr_asker.start(x=i) for i in range(6)]
        unsubscribes = [r.subscribe(lambda e: None) for r in runs]  # followed: none leaves memory yet
        for r in runs:
            await r.wait_for("waiting", timeout=10)
        assert not any(r.evicted for r in runs)
        for r in runs:
            assert r.cancel()
        for unsubscribe in unsubscribes:
            unsubscribe()
        outcomes = await asyncio.wait_for(asyncio.gather(*runs, return_exceptions=True), 10)
        assert all(isinstance(o, ag.RunCancelled) for o in outcomes), outcomes
        assert [r.status for r in runs] == ["cancelled"] * 6
        assert sorted(r.status for r in ag.runs()) == ["cancelled"] * 6
        assert all(r.waits == [] for r in runs)

    arun(main())


async def _tools_started(n: int) -> None:
    """Wait (in a thread, not polling) until ``n`` bodies of ``cr_slow`` run."""
    for _ in range(n):
        assert await asyncio.to_thread(STARTED.acquire, True, 10)


def _the_run() -> Run:
    (run,) = ag.runs()
    return run


def test_a_cancelled_await_agent_finds_the_run_it_says_was_stopped_cancelled() -> None:
    """``await agent(...)`` cancelled (a kernel interrupt): when the CancelledError arrives, its note says the run
    was stopped, and the run, the store and its nested steps say so too (they said ``running`` a loop turn more)."""

    async def main() -> None:
        while STARTED.acquire(blocking=False):
            pass
        caller = asyncio.ensure_future(cr_agent(x=1))
        await _tools_started(2)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError) as caught:
            await caller
        run = _the_run()
        assert "was stopped with the code that awaited it" in (told(caught.value) or "")
        assert run.status == "cancelled"
        assert ag.get_run(run.id).status == "cancelled"
        assert ag.session().store.get_run(run.id).status == "cancelled"  # type: ignore[union-attr]
        assert not [n.id for n in run.graph.nodes if str(n.status) in ("RUNNING", "PENDING")]
        GATE.set()

    arun(main())


def test_wait_for_timeout_of_await_agent_reads_cancelled() -> None:
    """The tester's own words: ``asyncio.wait_for(agent(x=1), 0.2)`` (the deadline falls while the tools run or
    before they start: the run is stopped either way)."""

    async def main() -> None:
        with pytest.raises(TimeoutError) as caught:
            await asyncio.wait_for(cr_agent(x=1), 0.2)
        run = _the_run()
        notes = [told(e) for e in (caught.value, caught.value.__context__) if e is not None]
        assert any(n and "was stopped" in n for n in notes), notes
        assert run.status == "cancelled" and ag.runs()[0].status == "cancelled"
        assert not [n.id for n in run.graph.nodes if str(n.status) == "RUNNING"]
        GATE.set()

    arun(main())


def test_a_cancelled_await_graph_finds_its_run_cancelled() -> None:
    """The same for a static graph (``await graph(...)``)."""

    async def main() -> None:
        while STARTED.acquire(blocking=False):
            pass
        caller = asyncio.ensure_future(cr_graph(x=1))
        await _tools_started(2)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError) as caught:
            await caller
        run = _the_run()
        assert "was stopped" in (told(caught.value) or "")
        assert run.status == "cancelled" and ag.runs()[0].status == "cancelled"
        assert not [n.id for n in run.graph.nodes if str(n.status) == "RUNNING"]
        GATE.set()

    arun(main())
