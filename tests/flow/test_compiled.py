"""A compiled graph's call arguments: LangGraph's ``None`` defaults are read as LangGraph reads them
(``stream_mode=None``, ``config["recursion_limit"] = None``), and a value that is no option is a UsageError
(never a bare TypeError from inside)."""

from __future__ import annotations

from typing import Any, TypedDict

import pytest

import aether_nb as ag
from aether_nb.flow import END, START, StateGraph

pytestmark = pytest.mark.anyio


class S(TypedDict):
    n: int


def inc(s: S) -> dict[str, Any]:
    return {"n": s["n"] + 1}


def build(graph_cls: Any) -> Any:
    g = graph_cls(S)
    g.add_node("inc", inc)
    g.add_edge(START, "inc")
    g.add_edge("inc", END)
    return g


async def test_stream_mode_none_is_langgraphs_default(checkpointer: str) -> None:
    app = build(StateGraph).compile(checkpointer=checkpointer)
    cfg = {"configurable": {"thread_id": "t"}}
    streamed = [c async for c in app.astream({"n": 1}, cfg, stream_mode=None)]
    invoked = await app.ainvoke({"n": 1}, {"configurable": {"thread_id": "u"}}, stream_mode=None)
    assert streamed == invoked == [{"inc": {"n": 2}}]
    lg = pytest.importorskip("langgraph.graph")
    theirs = build(lg.StateGraph).compile()
    assert [c async for c in theirs.astream({"n": 1}, stream_mode=None)] == streamed
    assert await theirs.ainvoke({"n": 1}, stream_mode=None) == invoked


async def test_stream_mode_none_inside_a_node_is_values(checkpointer: str) -> None:
    inner = build(StateGraph).compile()

    async def call_inner(s: S) -> dict[str, Any]:
        out = await inner.ainvoke({"n": s["n"]}, stream_mode=None)
        return {"n": out["n"] * 10}

    outer = StateGraph(S).add_node("call", call_inner).add_edge(START, "call").compile(checkpointer=checkpointer)
    assert (await outer.ainvoke({"n": 1}, {"configurable": {"thread_id": "t"}}))["n"] == 20


@pytest.mark.parametrize("mode", [5, object(), [5], []])
async def test_a_stream_mode_that_is_no_mode_is_a_usage_error(checkpointer: str, mode: Any) -> None:
    app = build(StateGraph).compile(checkpointer=checkpointer)
    with pytest.raises(ag.UsageError, match="stream_mode must be among"):
        await app.ainvoke({"n": 1}, stream_mode=mode)
    with pytest.raises(ag.UsageError, match="stream_mode must be among"):
        [c async for c in app.astream({"n": 1}, stream_mode=mode)]


async def test_recursion_limit_none_is_the_default(checkpointer: str) -> None:
    app = build(StateGraph).compile(checkpointer=checkpointer)
    out = await app.ainvoke({"n": 1}, {"configurable": {"thread_id": "t"}, "recursion_limit": None})
    assert out["n"] == 2


@pytest.mark.parametrize("as_node", [["inc"], {"inc": 1}, 5])
async def test_update_state_as_a_node_that_is_no_name_is_a_usage_error(checkpointer: str, as_node: Any) -> None:
    app = build(StateGraph).compile(checkpointer=checkpointer)
    cfg = {"configurable": {"thread_id": "t"}}
    await app.ainvoke({"n": 1}, cfg)
    with pytest.raises(ag.UsageError, match="as_node="):
        await app.aupdate_state(cfg, {"n": 3}, as_node=as_node)
