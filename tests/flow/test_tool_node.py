"""ToolNode: concurrent tool calls as run steps; failures and unknown tools become tool messages."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.flow import END, START, AgentState, StateGraph, ToolNode, assistant_message, tool_call
from aether_nb.runtime.session import Session
from tests.conftest import arun


def test_tool_node_runs_all_calls_and_reports_errors_as_tool_messages(session: Session) -> None:
    running = 0
    peak = 0

    @ag.tool
    async def add(a: int, b: int) -> int:
        """Add two numbers."""
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        running -= 1
        return a + b

    @ag.tool
    async def slow_upper(text: str) -> str:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        running -= 1
        return text.upper()

    def explode(x: int) -> str:
        raise ValueError("kaboom")

    turns: list[int] = []

    def model(state: AgentState) -> Any:
        turns.append(1)
        if len(turns) > 1:
            return [assistant_message("done")]
        calls = [
            tool_call("add", {"a": 2, "b": 3}, id="c1"),
            tool_call("slow_upper", {"text": "hi"}, id="c2"),
            tool_call("explode", {"x": 1}, id="c3"),
            tool_call("nosuch", {}, id="c4"),
            tool_call("add", "{not json", id="c5"),
        ]
        return [assistant_message(None, tool_calls=calls)]

    g = StateGraph(AgentState, name="tools")
    g.add_node("model", model)
    g.add_node("tools", ToolNode([add, slow_upper, explode], handle_tool_errors=True))  # (the default raises)
    g.add_edge(START, "model")
    g.add_conditional_edges("model", lambda s: "tools" if s["messages"][-1].get("tool_calls") else END)
    g.add_edge("tools", "model")
    res = arun(g.compile().ainvoke({"messages": ["compute"]}, config={"thread_id": "t"}))
    assert res.status == "completed" and res.messages[-1]["content"] == "done"
    results = [m for m in res.messages if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in results] == ["c1", "c2", "c3", "c4", "c5"]
    assert [m["content"] for m in results[:2]] == ["5", "HI"]
    assert results[2]["is_error"] and "ValueError: kaboom" in results[2]["content"]
    assert results[3]["is_error"] and "Tool 'nosuch' not found" in results[3]["content"]
    assert results[4]["is_error"] and "Invalid arguments for add" in results[4]["content"]
    assert not results[0].get("is_error")
    assert peak == 2  # the tool calls ran concurrently
    run = session.get_run(res.run_id)
    steps = {n.id: n.status for n in run.graph.nodes if n.parent == "tools_1"}
    assert steps == {"tools_1/add_1": "DONE", "tools_1/slow_upper_1": "DONE", "tools_1/explode_1": "FAILED"}


def test_tool_node_schemas_describe_the_tools_for_the_model() -> None:
    @ag.tool
    def lookup(city: str) -> str:
        """Find a city."""
        return city

    (schema,) = ToolNode([lookup]).schemas()
    assert schema["function"]["name"] == "lookup"
    assert schema["function"]["parameters"]["required"] == ["city"]


def test_a_graph_fn_in_a_tool_node_runs_as_a_nested_agent(session: Session) -> None:
    """A ``@graph_fn`` given to ``ToolNode`` was wrapped as a sync tool: the model got
    '{"y": "<coroutine object ...>"}' and that was journaled. It runs as a nested agent now, a sub-graph of the
    tool node, its outputs the tool's result; its schema is offered to the model like a tool's."""

    @ag.tool(outputs=["y"])
    async def tn_double(x: int) -> dict[str, int]:
        return {"y": x * 2}

    @ag.graph_fn(name="tn_triple_agent", outputs=["y"])
    async def tn_triple(x: int) -> dict[str, int]:
        """Triple a number (by doubling it and adding it)."""
        return {"y": (await tn_double(x))["y"] + x}

    def ask(state: AgentState) -> dict[str, Any]:
        calls = [tool_call("tn_triple_agent", {"x": 2}), tool_call("tn_triple_agent", {"z": 1})]
        return {"messages": [assistant_message(None, tool_calls=calls)]}

    node = ToolNode([tn_triple])
    (schema,) = node.schemas()
    assert schema["function"]["name"] == "tn_triple_agent" and "x" in schema["function"]["parameters"]["properties"]
    g = StateGraph(AgentState, name="tn_agents")
    g.add_node("ask", ask).add_node("tools", node)
    g.add_edge(START, "ask").add_edge("ask", "tools").add_edge("tools", END)

    async def main() -> tuple[list[Any], list[str]]:
        result = await g.compile().ainvoke({"messages": [("user", "hi")]})
        (run,) = [r for r in ag.runs() if r.graph_name == "tn_agents"]
        return [m.get("content") for m in result["messages"][2:]], [n.id for n in run.graph.nodes]

    contents, nodes = arun(main())
    assert contents[0] == '{"y": 6}'
    assert (
        contents[1].startswith("Invalid arguments for tn_triple_agent") and "missing a required argument" in contents[1]
    )
    assert any(n.endswith("tn_triple_agent_1/tn_double_1") for n in nodes), nodes  # its own step, nested


def _lookup(query: str) -> str:
    """Look something up."""
    return query


def test_a_tool_node_given_one_function_instead_of_a_list_says_to_pass_a_list() -> None:
    # LangGraph's ToolNode takes a sequence of tools (an empty one too); a lone function, a dict or a string is
    # refused with what to write instead, not a bare "'function' object is not iterable"
    for tools in (_lookup, ag.tool(_lookup), {"lookup": _lookup}, "lookup", None, 5):
        with pytest.raises(ag.UsageError, match=r"a list of tools .*ToolNode\(\[search\]\)"):
            ToolNode(tools)
    for tools in ([_lookup], (_lookup,), [], iter([_lookup])):
        ToolNode(tools)


def test_a_tool_node_added_without_a_name_is_the_node_tools_as_in_langgraph() -> None:
    g = StateGraph(AgentState).add_node(ToolNode([_lookup])).add_node(ToolNode([_lookup], name="look"))
    assert sorted(g.nodes) == ["look", "tools"]
