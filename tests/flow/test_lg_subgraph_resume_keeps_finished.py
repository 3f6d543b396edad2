"""A subgraph whose parent's turn failed or was stopped goes on, when the thread is resumed, from its own checkpoint
of that turn, as LangGraph's does: the results of its nodes that had finished are kept and those nodes do not run
again (aether_nb/flow/turn_start.py, ``left_unfinished``). Before, a subgraph compiled without a checkpointer of
its own started again from its input: a finished node's tool calls replayed, but its plain code ran a second
time. Each scenario runs on both libraries and compares which nodes ran, the result and ``get_state``."""

from __future__ import annotations

import asyncio
import contextlib
import operator
import time
from collections import Counter
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
    """Wait (at most 10 s) until ``check()`` holds (a poll, not ``asyncio.wait_for``, which on Python 3.11 can
    swallow a cancel arriving as it finishes)."""
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


def _sub_done(app: Any, node: str) -> Any:
    """Whether ``get_state(config, subgraphs=True)`` shows ``node``'s result in the subgraph's pending tasks."""

    def check() -> bool:
        for t in app.get_state(thread("t"), subgraphs=True).tasks:
            tasks = getattr(t.state, "tasks", ())
            if any(x.name == node and x.result is not None for x in tasks):
                return True
        return False

    return check


def _summary(st: Any) -> Any:
    """A snapshot with its subgraphs' (``get_state(config, subgraphs=True)``), as far as both libraries agree."""
    return (
        st.values,
        st.next,
        [
            (
                t.name,
                t.error,
                t.result,
                [(x.name, x.error, x.result) for x in getattr(t.state, "tasks", ())],
                getattr(t.state, "values", None),
            )
            for t in st.tasks
        ],
    )


def _subgraph(lib: Any, log: list[str], b: Any) -> Any:
    """``a`` and ``b`` run in parallel; ``a`` finishes at once."""

    async def a(s: S) -> dict[str, Any]:
        log.append("a")
        return {"a": ["a"]}

    sg = lib.StateGraph(S)
    sg.add_node("a", a)
    sg.add_node("b", b)
    sg.add_edge(lib.START, "a")
    sg.add_edge(lib.START, "b")
    return sg.compile()


async def _inside(lib: Any, how: str) -> Any:
    """``b`` fails, or the turn is stopped while ``b`` runs, once ``a`` finished; then ``ainvoke(None, config)``."""
    log: list[str] = []
    never = asyncio.Event()

    async def b(s: S) -> dict[str, Any]:
        log.append("b")
        if log.count("b") == 1:
            if how == "stopped":
                await never.wait()
            await _until(_sub_done(app, "a"))
            raise ValueError("boom")
        return {"a": ["b"]}

    g = lib.StateGraph(S)
    g.add_node("sub", _subgraph(lib, log, b))
    g.add_node("after", lambda s: {"a": ["after"]})
    g.add_edge(lib.START, "sub")
    g.add_edge("sub", "after")
    app = g.compile(checkpointer=_memory(lib))
    cfg = thread("t")
    first = asyncio.ensure_future(app.ainvoke({"a": []}, cfg))
    if how == "failed":
        with pytest.raises(ValueError, match="boom"):
            await first
    else:
        await _until(lambda: "b" in log and _sub_done(app, "a")())
        first.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await first
    before = _summary(app.get_state(cfg, subgraphs=True))
    out = dict(await app.ainvoke(None, cfg))
    return before, out, Counter(log), _summary(app.get_state(cfg))


@pytest.mark.parametrize("how", ["failed", "stopped"])
async def test_a_subgraph_s_finished_node_does_not_run_again_when_its_failed_or_stopped_turn_goes_on(how: str) -> None:
    mine = await _inside(ours, how)
    assert mine == await _inside(lg_names(), how)
    assert mine[2] == Counter({"a": 1, "b": 2})
    assert mine[1] == {"a": ["a", "b", "after"]}


def _sync_inside(lib: Any) -> Any:
    """The same with sync nodes and ``invoke``: ``b`` fails once ``a`` finished."""
    log: list[str] = []

    def a(s: S) -> dict[str, Any]:
        log.append("a")
        return {"a": ["a"]}

    def b(s: S) -> dict[str, Any]:
        log.append("b")
        if log.count("b") == 1:
            deadline = time.monotonic() + 10
            while not _sub_done(app, "a")():  # (a's result is kept: get_state shows it)
                assert time.monotonic() < deadline, "timed out"
                time.sleep(0.005)
            raise ValueError("boom")
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
    with pytest.raises(ValueError, match="boom"):
        app.invoke({"a": []}, cfg)
    out = dict(app.invoke(None, cfg))
    return out, Counter(log)


async def test_a_sync_subgraph_s_finished_node_does_not_run_again_on_invoke_none() -> None:
    mine = await asyncio.to_thread(_sync_inside, ours)
    assert mine == await asyncio.to_thread(_sync_inside, lg_names())
    assert mine == ({"a": ["a", "b"]}, Counter({"a": 1, "b": 2}))


async def _beside(lib: Any) -> Any:
    """A node beside the subgraph fails while the subgraph's ``b`` runs and its ``a`` finished: the subgraph keeps
    ``a``'s result (the task running it gets the cancel as its error, as LangGraph shows it)."""
    log: list[str] = []
    never = asyncio.Event()

    async def b(s: S) -> dict[str, Any]:
        log.append("b")
        if log.count("b") == 1:
            await never.wait()
        return {"a": ["b"]}

    async def second(s: S) -> dict[str, Any]:
        log.append("second")
        if log.count("second") == 1:
            await _until(lambda: "b" in log and _sub_done(app, "a")())
            raise ValueError("boom")
        return {"a": ["second"]}

    g = lib.StateGraph(S)
    g.add_node("sub", _subgraph(lib, log, b))
    g.add_node("second", second)
    g.add_edge(lib.START, "sub")
    g.add_edge(lib.START, "second")
    app = g.compile(checkpointer=_memory(lib))
    cfg = thread("t")
    with pytest.raises(ValueError, match="boom"):
        await app.ainvoke({"a": []}, cfg)
    before = _summary(app.get_state(cfg, subgraphs=True))
    out = dict(await app.ainvoke(None, cfg))
    return before, out, Counter(log)


async def test_a_subgraph_cancelled_by_a_failing_sibling_keeps_its_finished_nodes() -> None:
    mine = await _beside(ours)
    assert mine == await _beside(lg_names())
    assert mine[2] == Counter({"a": 1, "b": 2, "second": 2})


async def _sent_in_a_loop(lib: Any) -> Any:
    """A subgraph started by ``Send``, twice in a row; the second run fails in ``b`` after ``a`` finished. The
    re-run ``Send`` task goes on from that run's checkpoints (not the first run's, though its step is numbered
    like the first one's in the new turn)."""
    log: list[str] = []

    async def b(s: S) -> dict[str, Any]:
        log.append("b")
        if log.count("b") == 2:
            await _until(lambda: log.count("a") == 2)
            raise ValueError("boom")
        return {"a": ["b"]}

    g = lib.StateGraph(S)
    g.add_node("sub", _subgraph(lib, log, b))
    g.add_node("x", lambda s: {"a": ["x"]})
    g.add_conditional_edges(lib.START, lambda s: [lib.Send("sub", {"a": []})])
    g.add_conditional_edges("sub", lambda s: [lib.Send("sub", {"a": []})] if s["a"].count("a") < 2 else "x")
    app = g.compile(checkpointer=_memory(lib))
    cfg = thread("t")
    with pytest.raises(ValueError, match="boom"):
        await app.ainvoke({"a": []}, cfg)
    out = dict(await app.ainvoke(None, cfg))
    return out, Counter(log)


async def test_a_sent_subgraph_s_finished_node_does_not_run_again() -> None:
    mine = await _sent_in_a_loop(ours)
    assert mine == await _sent_in_a_loop(lg_names())
    assert mine[1] == Counter({"a": 2, "b": 3})
