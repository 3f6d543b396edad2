"""ToolNode takes the latest assistant message's tool calls even when a user message follows it (LangGraph's
ToolNode does): the user's next message after a failed or stopped tool turn does not wedge the thread."""

from __future__ import annotations

from typing import Any

import pytest

from aether_nb.errors import UsageError
from aether_nb.flow import START, AgentState, Command, StateGraph, ToolNode, tools_condition

pytestmark = pytest.mark.anyio


def echo() -> str:
    return "x"


def _graph(name: str, broken: dict[str, bool], checkpointer: str) -> Any:
    def lookup(q: str) -> str:
        if broken["on"]:
            raise ConnectionError("service down")
        return f"result for {q}"

    def llm(state: AgentState) -> Any:
        last = state["messages"][-1]
        if last["role"] == "tool":
            return [{"role": "assistant", "content": "final: " + last["content"]}]
        call = {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}
        return [{"role": "assistant", "content": "", "tool_calls": [call]}]

    g = StateGraph(AgentState, name=name)
    g.add_node("llm", llm)
    g.add_node("tools", ToolNode([lookup]))
    g.add_edge(START, "llm")
    g.add_conditional_edges("llm", tools_condition)
    g.add_edge("tools", "llm")
    return g.compile(checkpointer=checkpointer)


async def test_a_new_message_after_a_failed_tool_turn_answers_the_pending_calls(checkpointer: str) -> None:
    broken = {"on": True}
    app = _graph("tn_after_fail", broken, checkpointer)
    cfg = {"thread_id": "t"}
    with pytest.raises(ConnectionError):
        await app.ainvoke({"messages": [("user", "go")]}, cfg)
    broken["on"] = False
    res = await app.ainvoke({"messages": [("user", "the service is back")]}, cfg)
    assert res.status == "completed"
    assert [(m["role"], m["content"]) for m in res["messages"]] == [
        ("user", "go"),
        ("assistant", ""),
        ("user", "the service is back"),
        ("tool", "result for x"),
        ("assistant", "final: result for x"),
    ]
    tool = res["messages"][3]
    assert tool["tool_call_id"] == "c1"  # the call of the assistant message before the user's


async def test_a_command_update_after_a_failed_tool_turn_goes_on(checkpointer: str) -> None:
    broken = {"on": True}
    app = _graph("tn_update_after_fail", broken, checkpointer)
    cfg = {"thread_id": "t"}
    with pytest.raises(ConnectionError):
        await app.ainvoke({"messages": [("user", "go")]}, cfg)
    broken["on"] = False
    res = await app.ainvoke(Command(update={"messages": [("user", "retry please")]}), cfg)  # tools still next
    assert res.status == "completed" and res["messages"][-1]["content"] == "final: result for x"
    res = await app.ainvoke(None, cfg)  # nothing pending: the state as it is
    assert res["messages"][-1]["content"] == "final: result for x"


async def test_a_tool_node_without_any_assistant_message_says_so(checkpointer: str) -> None:
    g = StateGraph(AgentState, name="tn_no_ai")
    g.add_node("tools", ToolNode([echo]))
    g.add_edge(START, "tools")
    app = g.compile(checkpointer=checkpointer)
    with pytest.raises(UsageError, match="holds no assistant message"):
        await app.ainvoke({"messages": [("user", "hi")]}, {"thread_id": "t"})


async def test_a_latest_assistant_message_without_tool_calls_is_refused(checkpointer: str) -> None:
    g = StateGraph(AgentState, name="tn_no_calls")
    g.add_node("tools", ToolNode([echo]))
    g.add_edge(START, "tools")
    app = g.compile(checkpointer=checkpointer)
    msgs = [("user", "hi"), ("assistant", "hello"), ("user", "and?")]
    with pytest.raises(UsageError, match=r"latest assistant message .* has no tool_calls"):
        await app.ainvoke({"messages": msgs}, {"thread_id": "t"})
