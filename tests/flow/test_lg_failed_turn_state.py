"""``get_state`` of a thread whose turn failed, was stopped or still runs, compared with LangGraph's on the same graph:
the siblings a failure cancelled show the cancel as their error (they showed none: aether_nb/flow/ledger.py), a
task that answered its question and finished before the turn failed or was stopped lists no open question (it
listed its answered one: aether_nb/flow/threads.py), and a running subgraph's finished nodes show their results
(a subgraph's showed none until the turn paused or ended)."""

from __future__ import annotations

import asyncio
import contextlib
import operator
import time
from typing import Annotated, Any, TypedDict

import pytest

import aether_nb.flow as ours
from tests.flow.conftest import lg_names, thread

pytestmark = pytest.mark.anyio


class S(TypedDict):
    a: Annotated[list[str], operator.add]


def _memory(lib: Any) -> Any:
    return "memory" if lib is ours else lib.InMemorySaver()


async def _until(check: Any) -> None:
    """Wait (at most 10 s) until ``check()`` holds (a poll: ``asyncio.wait_for`` can swallow a cancel on 3.11)."""
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


def _seen(st: Any) -> Any:
    return (
        st.values,
        st.next,
        [i.value for i in st.interrupts],
        [(t.name, [i.value for i in t.interrupts], t.error, t.result) for t in st.tasks],
    )


def _result_of(app: Any, node: str) -> Any:
    return lambda: any(t.name == node and t.result is not None for t in app.get_state(thread("t")).tasks)


async def _cancelled_by_a_failure(lib: Any) -> Any:
    never = asyncio.Event()
    started: list[str] = []

    async def slow(s: S) -> dict[str, Any]:
        started.append("slow")
        await never.wait()
        return {"a": ["slow"]}

    async def bad(s: S) -> dict[str, Any]:
        await _until(lambda: started and _result_of(app, "fast")())
        raise ValueError("boom")

    async def fast(s: S) -> dict[str, Any]:
        return {"a": ["fast"]}

    g = lib.StateGraph(S)
    for name, fn in (("slow", slow), ("bad", bad), ("fast", fast)):
        g.add_node(name, fn)
        g.add_edge(lib.START, name)
    app = g.compile(checkpointer=_memory(lib))
    with pytest.raises(ValueError, match="boom"):
        await app.ainvoke({"a": []}, thread("t"))
    return _seen(app.get_state(thread("t")))


async def test_the_siblings_a_failure_cancelled_show_the_cancel_as_their_error() -> None:
    mine = await _cancelled_by_a_failure(ours)
    assert mine == await _cancelled_by_a_failure(lg_names())
    assert [(name, error) for name, _, error, _ in mine[3]] == [
        ("slow", "CancelledError()"),
        ("bad", "ValueError('boom')"),
        ("fast", None),
    ]


async def _answered_then_finished(lib: Any, how: str) -> Any:
    """Both ask; both are answered; ``ask`` finishes while ``second`` fails (or the turn is stopped)."""
    never = asyncio.Event()

    async def ask(s: S) -> dict[str, Any]:
        return {"a": [f"ask {lib.interrupt('q?')}"]}

    async def second(s: S) -> dict[str, Any]:
        lib.interrupt("s?")
        if how == "stopped":
            await never.wait()
        await _until(_result_of(app, "ask"))
        raise ValueError("boom")

    g = lib.StateGraph(S)
    g.add_node("ask", ask)
    g.add_node("second", second)
    g.add_edge(lib.START, "ask")
    g.add_edge(lib.START, "second")
    app = g.compile(checkpointer=_memory(lib))
    cfg = thread("t")
    await app.ainvoke({"a": []}, cfg)
    ids = {i.value: i.id for i in app.get_state(cfg).interrupts}
    call = asyncio.ensure_future(app.ainvoke(lib.Command(resume={ids["q?"]: "A", ids["s?"]: "S"}), cfg))
    if how == "failed":
        with pytest.raises(ValueError, match="boom"):
            await call
    else:
        await _until(_result_of(app, "ask"))
        call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await call
    return _seen(app.get_state(cfg)), _seen(next(iter(app.get_state_history(cfg))))


@pytest.mark.parametrize("how", ["failed", "stopped"])
async def test_a_task_that_answered_and_finished_lists_no_open_question(how: str) -> None:
    mine = await _answered_then_finished(ours, how)
    assert mine == await _answered_then_finished(lg_names(), how)
    state, newest = mine
    assert state[2] == ["s?"] and newest[2] == ["q?", "s?"]  # (the history keeps what each task asked)


async def _running_subgraph(lib: Any) -> Any:
    release = asyncio.Event()

    async def a(s: S) -> dict[str, Any]:
        return {"a": ["a"]}

    async def b(s: S) -> dict[str, Any]:
        await release.wait()
        return {"a": ["b"]}

    sg = lib.StateGraph(S)
    sg.add_node("a", a)
    sg.add_node("b", b)
    sg.add_edge(lib.START, "a")
    sg.add_edge(lib.START, "b")
    g = lib.StateGraph(S)
    g.add_node("sub", sg.compile())
    g.add_edge(lib.START, "sub")
    app = g.compile(checkpointer=_memory(lib))
    cfg = thread("t")

    def sub_tasks() -> list[Any]:
        st = app.get_state(cfg, subgraphs=True)
        return [(x.name, x.result) for t in st.tasks for x in getattr(t.state, "tasks", ())]

    call = asyncio.ensure_future(app.ainvoke({"a": []}, cfg))
    try:
        await _until(lambda: ("a", {"a": ["a"]}) in sub_tasks())
        seen = sub_tasks()
    finally:
        release.set()
    return seen, dict(await call)


async def test_a_running_subgraph_s_finished_nodes_show_their_results() -> None:
    mine = await _running_subgraph(ours)
    assert mine == await _running_subgraph(lg_names())
    assert mine[0] == [("a", {"a": ["a"]}), ("b", None)]
