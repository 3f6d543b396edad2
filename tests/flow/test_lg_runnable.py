"""The Runnable conveniences of LangGraph's compiled graphs: ``with_config``, ``batch``/``abatch``,
``get_subgraphs``, ``get_name``, ``aget_graph`` (as LangGraph's tests and examples use them)."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest

from aether_nb.errors import UsageError
from aether_nb.flow import START, GraphRecursionError, StateGraph


class S(TypedDict, total=False):
    n: int
    log: Annotated[list, operator.add]


def _loop() -> StateGraph:
    g = StateGraph(S)
    g.add_node("inc", lambda s: {"n": s["n"] + 1, "log": [s["n"]]})
    g.add_edge(START, "inc")
    g.add_conditional_edges("inc", lambda s: "inc" if s["n"] < 10 else "__end__")
    return g


def test_with_config_merges_a_default_config_under_each_call(checkpointer: str) -> None:
    app = _loop().compile(checkpointer=checkpointer)
    limited = app.with_config(recursion_limit=3)
    with pytest.raises(GraphRecursionError):
        limited.invoke({"n": 0}, {"configurable": {"thread_id": "a"}})
    assert app.invoke({"n": 0}, {"configurable": {"thread_id": "b"}})["n"] == 10  # the graph itself is unchanged
    on_thread = app.with_config({"configurable": {"thread_id": "c"}}, recursion_limit=50)
    assert on_thread.invoke({"n": 5})["log"] == [5, 6, 7, 8, 9]
    assert on_thread.get_state().values["n"] == 10  # the view's thread
    assert app.get_state({"configurable": {"thread_id": "c"}}).values["n"] == 10  # same checkpoints
    assert on_thread.with_config(recursion_limit=2).config == {
        "configurable": {"thread_id": "c"},
        "recursion_limit": 2,
    }
    assert on_thread.name == app.name  # anything else is the graph's
    with pytest.raises(UsageError, match="config dict"):
        app.with_config("c")  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_abatch_runs_each_input_on_its_config(checkpointer: str) -> None:
    app = _loop().compile(checkpointer=checkpointer)
    configs = [{"configurable": {"thread_id": f"t{i}"}} for i in range(3)]
    results = await app.abatch([{"n": 7}, {"n": 8}, {"n": 9}], configs)
    assert [r["log"] for r in results] == [[7, 8, 9], [8, 9], [9]]
    assert [(await app.aget_state(c)).values["n"] for c in configs] == [10, 10, 10]
    bad = await app.abatch([{"n": 0}, {"n": 9}], {"recursion_limit": 2}, return_exceptions=True)
    assert isinstance(bad[0], GraphRecursionError) and bad[1]["n"] == 10
    with pytest.raises(UsageError, match="2 inputs but 1 configs"):
        await app.abatch([{"n": 0}, {"n": 1}], [configs[0]])


def test_batch_in_a_script(checkpointer: str) -> None:
    app = _loop().compile(checkpointer=checkpointer)
    assert [r["n"] for r in app.batch([{"n": 1}, {"n": 2}])] == [10, 10]


@pytest.mark.anyio
async def test_get_subgraphs_get_name_and_aget_graph(checkpointer: str) -> None:
    leaf = StateGraph(S).add_node("x", lambda s: {"log": ["x"]}).add_edge(START, "x").compile(name="leaf")
    mid = StateGraph(S).add_node("leaf", leaf).add_edge(START, "leaf").compile(name="mid")
    top = StateGraph(S)
    top.add_node("mid", mid)
    top.add_node("plain", lambda s: None)
    top.add_edge(START, "mid")
    top.add_edge("mid", "plain")
    app = top.compile(checkpointer=checkpointer, name="top")
    assert [(n, g.name) for n, g in app.get_subgraphs()] == [("mid", "mid")]
    assert [(n, g.name) for n, g in app.get_subgraphs(recurse=True)] == [("mid", "mid"), ("mid|leaf", "leaf")]
    assert [(n, g.name) for n, g in app.get_subgraphs(namespace="mid|leaf")] == [("mid|leaf", "leaf")]
    assert [n async for n, _ in app.aget_subgraphs(namespace="plain")] == []
    assert app.get_name() == "top" and app.get_name("-v2") == "top-v2"
    drawn: Any = await app.aget_graph()
    assert "mid" in drawn.draw_mermaid()
