"""What code whose ``await`` of a run is cancelled learns (aether_nb.runtime.interrupted): the cancellation goes on
up, carrying one note on what became of the run. The notebook prints that note when the interrupt button stops a
cell (tests/kernel/test_interrupt.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypedDict

import aether_nb as ag
from aether_nb.flow import END, START, StateGraph
from aether_nb.runtime.interrupted import NOTE_PREFIX, tell_caller, told
from aether_nb.runtime.session import Session
from tests.conftest import arun


async def _cancel_when(started: asyncio.Event, awaited: Callable[[], Awaitable[Any]]) -> asyncio.CancelledError:
    """Await ``awaited()`` in a task, cancel the task once ``started`` is set; the CancelledError its code saw."""
    seen: list[asyncio.CancelledError] = []

    async def caller() -> None:
        try:
            await awaited()
        except asyncio.CancelledError as exc:
            seen.append(exc)
            raise

    task = asyncio.ensure_future(caller())
    await started.wait()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    else:  # pragma: no cover - the assertion below says it
        raise AssertionError("the caller was not cancelled")
    return seen[0]


def test_the_run_an_agent_call_started_is_stopped_with_it(session: Session) -> None:
    effects: list[str] = []

    async def main() -> tuple[asyncio.CancelledError, str]:
        started, forever = asyncio.Event(), asyncio.Event()

        @ag.tool(outputs=["ok"])
        async def pay(order: str) -> dict[str, bool]:
            effects.append(f"paid {order}")
            return {"ok": True}

        @ag.tool(outputs=["ok"])
        async def check(order: str) -> dict[str, bool]:
            started.set()
            await forever.wait()
            return {"ok": True}

        @ag.graph_fn(name="order", outputs=["ok"])
        async def order(order: str) -> dict[str, bool]:
            await pay(order)
            return await check(order)

        exc = await _cancel_when(started, lambda: order("A1"))
        return exc, ag.runs()[0].status

    exc, status = arun(main())
    (run,) = ag.runs()
    assert told(exc) == f"run {run.id} (order) was stopped with the code that awaited it"
    assert status == "cancelled"
    assert effects == ["paid A1"]
    assert {n.name: n.status for n in run.graph.nodes} == {"pay": "DONE", "check": "CANCELLED"}


def test_awaiting_a_run_does_not_own_it_and_says_so(session: Session) -> None:
    async def main() -> tuple[asyncio.CancelledError, str, dict[str, Any]]:
        @ag.graph_fn(name="ask", outputs=["answer"])
        async def ask(*, context: ag.NodeContext) -> dict[str, Any]:
            return {"answer": await context.channel().ask_text("name?")}

        run = ask.start(run_id="r1")
        waiting = asyncio.Event()
        run.subscribe(lambda e: waiting.set() if run.status == "waiting" else None)
        exc = await _cancel_when(waiting, lambda: run)
        status = run.status
        await run.answer("Ada")
        return exc, status, await run

    exc, status, out = arun(main())
    assert told(exc) == "stopped waiting for run r1 (ask), which goes on (`run.cancel()` stops it)"
    assert status == "waiting"
    assert out == {"answer": "Ada"}


def test_a_graphify_call_and_a_state_graph_turn_are_stopped_with_their_caller(session: Session) -> None:
    class S(TypedDict):
        n: int

    async def main() -> tuple[str | None, str | None, str]:
        started, forever = asyncio.Event(), asyncio.Event()

        @ag.tool(outputs=["n"])
        async def hang(n: int) -> dict[str, int]:
            started.set()
            await forever.wait()
            return {"n": n}

        @ag.graphify(name="flat", inputs=["n"], outputs=["n"])
        def flat(n: Any) -> dict[str, Any]:
            return {"n": hang(n=n).n}

        graphified = await _cancel_when(started, lambda: flat(n=1))

        started.clear()

        async def node(state: S) -> dict[str, int]:
            started.set()
            await forever.wait()
            return {"n": state["n"] + 1}

        g = StateGraph(S, name="sg")
        g.add_node("node", node)
        g.add_edge(START, "node")
        g.add_edge("node", END)
        app = g.compile()
        cfg = {"configurable": {"thread_id": "t1"}}
        turn = await _cancel_when(started, lambda: app.ainvoke({"n": 1}, cfg))
        pending = app.get_state(cfg).next[0]

        async def read_stream() -> None:  # a cell reading the turn's chunks as they come
            async for _ in app.astream({"n": 5}, {"configurable": {"thread_id": "t2"}}):
                pass

        started.clear()
        streamed = await _cancel_when(started, read_stream)
        assert told(streamed) == str(told(turn)).replace("'t1'", "'t2'")
        return told(graphified), told(turn), pending

    graphified, turn, pending = arun(main())
    (gy,) = [r for r in ag.runs() if r.graph_name == "flat"]
    assert graphified == f"run {gy.id} (flat) was stopped with the code that awaited it"
    assert gy.status == "cancelled"
    assert turn == (
        "the turn of thread 't1' (sg) was stopped with the code that awaited it; `ainvoke(None, config)` continues "
        "it from its last checkpoint"
    )
    assert pending == "node"  # as in LangGraph: the stopped node stays pending in the checkpoint


def test_one_note_the_outermost_callers() -> None:
    exc = asyncio.CancelledError()
    exc.add_note("a note of someone else")
    tell_caller(exc, "inner")
    tell_caller(exc, "outer")
    assert told(exc) == "outer"
    assert exc.__notes__ == ["a note of someone else", NOTE_PREFIX + "outer"]
    assert told(asyncio.CancelledError()) is None
