"""A LangGraph user's code, run on LangGraph and on aether_nb.flow side by side (only the import differs).

Each test builds the same graph with both libraries' names (``_lg()`` gives LangGraph's, skipped when it is not
installed: ``pip install -e ".[bench]"``) and compares what a user sees: results, ``get_state``, stream chunks,
interrupts and errors. Written from LangGraph's how-to guides and its own tests; where aether_nb differs by design
the README's "Differences from LangGraph" table says so and the test asserts aether_nb's documented behaviour.
"""

from __future__ import annotations

import asyncio
import operator
import threading
import types
from typing import Annotated, Any, TypedDict

import pytest

import aether_nb.flow as ours

pytestmark = pytest.mark.anyio


def _lg() -> Any:
    """LangGraph's names, as a user imports them (skips the test without LangGraph)."""
    pytest.importorskip("langgraph.graph")
    import langgraph.checkpoint.memory as memory
    import langgraph.config as config
    import langgraph.errors as errors
    import langgraph.graph as graph
    import langgraph.types as lgtypes

    ns = types.SimpleNamespace()
    for mod in (graph, lgtypes, memory, errors, config):
        for k in dir(mod):
            if not k.startswith("_"):
                setattr(ns, k, getattr(mod, k))
    return ns


def _thread(t: str = "1") -> dict[str, Any]:
    return {"configurable": {"thread_id": t}}


class Total(TypedDict):
    value: Annotated[int, operator.add]


async def test_a_sync_node_still_running_when_a_sibling_fails_keeps_its_result(checkpointer: str) -> None:
    """test_pregel.py::test_pending_writes_resume: a sync node's thread cannot be stopped, so when a sibling fails
    LangGraph's ``invoke`` waits for it and keeps its write; the next call runs only the failed node. (LangGraph's
    ``ainvoke`` loses that write and runs the node again; aether_nb keeps it in both, so its effect happens once.)
    ``three`` is cancelled by the failure and lets ``one`` finish only then: ``one`` is surely still running."""
    started, release = threading.Event(), threading.Event()
    calls = {"one": 0, "two": 0, "three": 0}

    def one(s: Total) -> dict[str, Any]:
        calls["one"] += 1
        started.set()
        release.wait(30)
        return {"value": 2}

    def two(s: Total) -> dict[str, Any]:
        calls["two"] += 1
        started.wait(30)
        if calls["two"] == 1:
            raise ConnectionError("I'm not good")
        return {"value": 3}

    async def three(s: Total) -> dict[str, Any]:
        calls["three"] += 1
        if calls["three"] == 1:
            try:
                await asyncio.Event().wait()
            finally:
                release.set()
        return {"value": 10}

    b = ours.StateGraph(Total)
    for name, fn in (("one", one), ("two", two), ("three", three)):
        b.add_node(name, fn)
        b.add_edge(ours.START, name)
    g = b.compile(checkpointer=checkpointer)
    with pytest.raises(ConnectionError, match="I'm not good"):
        await asyncio.wait_for(g.ainvoke({"value": 1}, _thread()), 60)
    state = await g.aget_state(_thread())
    assert state.values == {"value": 3}  # one's write is kept, as LangGraph's get_state shows pending writes
    assert sorted(state.next) == ["three", "two"]
    assert {t.name: t.result for t in state.tasks}["one"] == {"value": 2}
    assert await asyncio.wait_for(g.ainvoke(None, _thread()), 60) == {"value": 16}
    assert calls == {"one": 1, "two": 2, "three": 2}


def test_pending_writes_resume_matches_langgraph_invoke() -> None:
    """The same rule through the sync ``invoke``, against LangGraph's own (its test, with its waits)."""
    lg = _lg()
    results = []
    for lib, saver in ((lg, lg.InMemorySaver()), (ours, "memory")):
        calls = {"one": 0, "two": 0}
        started = threading.Event()

        def one(s: Total, calls: dict[str, int] = calls, started: threading.Event = started) -> dict[str, Any]:
            calls["one"] += 1
            started.set()
            threading.Event().wait(0.3)  # (LangGraph's test sleeps: its node is still running when two fails)
            return {"value": 2}

        def two(s: Total, calls: dict[str, int] = calls, started: threading.Event = started) -> dict[str, Any]:
            calls["two"] += 1
            started.wait(30)
            raise ConnectionError("I'm not good")

        b = lib.StateGraph(Total)
        b.add_node("one", one)
        b.add_node("two", two)
        b.add_edge(lib.START, "one")
        b.add_edge(lib.START, "two")
        g = b.compile(checkpointer=saver)
        with pytest.raises(ConnectionError):
            g.invoke({"value": 1}, _thread())
        state = g.get_state(_thread())
        with pytest.raises(ConnectionError):
            g.invoke(None, _thread())
        results.append((state.values, state.next, dict(calls)))
    assert results[1] == results[0] == ({"value": 3}, ("two",), {"one": 1, "two": 2})
