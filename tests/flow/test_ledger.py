"""The call ledger (aether_nb/flow/ledger.py): a task run again after its turn failed or was stopped replays the
calls it completed (Agentflow's idempotency ledger: "on a replay (crash, stop, interrupt() in a sibling tool)
completed calls are returned from the ledger"); a failed call, a call with other arguments and a fork run again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.flow import END, START, AgentState, StateGraph, ToolNode, interrupt, tools_condition

pytestmark = pytest.mark.anyio


def _call(name: str, i: int, args: str = "{}") -> dict[str, Any]:
    return {"id": f"c{i}", "type": "function", "function": {"name": name, "arguments": args}}


def _tool_graph(name: str, tools: list[Any], checkpointer: str) -> Any:
    """A scripted model asking for `charge` and `other` at once, then answering once the tools replied."""

    def llm(state: AgentState) -> Any:
        if state["messages"][-1]["role"] == "tool":
            return [{"role": "assistant", "content": "final"}]
        return [{"role": "assistant", "content": "", "tool_calls": [_call("charge", 1), _call("other", 2)]}]

    g = StateGraph(AgentState, name=name)
    g.add_node("llm", llm)
    g.add_node("tools", ToolNode(tools))
    g.add_edge(START, "llm")
    g.add_conditional_edges("llm", tools_condition)
    g.add_edge("tools", "llm")
    return g.compile(checkpointer=checkpointer)


async def test_a_stopped_tool_turn_replays_the_calls_it_completed(checkpointer: str) -> None:
    ran = {"charge": 0, "other": 0}
    entered = asyncio.Event()
    slow = {"on": True}

    async def charge() -> str:
        ran["charge"] += 1
        return "charged $5"

    async def other() -> str:
        ran["other"] += 1
        await asyncio.sleep(0.02)
        if slow["on"]:
            entered.set()
            await asyncio.sleep(5)
        return "ok"

    app = _tool_graph("ledger_stop", [charge, other], checkpointer)
    cfg = {"thread_id": "t"}
    call = asyncio.create_task(app.ainvoke({"messages": [("user", "go")]}, cfg))
    await asyncio.wait_for(entered.wait(), 5)
    await asyncio.sleep(0.05)
    assert (await app.astop(cfg))["running"] is True
    stopped = await call
    assert stopped.status == "stopped" and stopped.next == ("tools",) and ran["charge"] == 1
    slow["on"] = False
    res = await app.ainvoke(None, cfg)
    assert res.status == "completed"
    assert ran == {"charge": 1, "other": 2}  # the completed call replayed, the stopped one ran again
    tool_msgs = [m["content"] for m in res["messages"] if m["role"] == "tool"]
    assert tool_msgs == ["charged $5", "ok"]


async def test_a_failed_tool_turn_then_a_new_message_replays_the_completed_calls(checkpointer: str) -> None:
    ran = {"charge": 0, "other": 0}
    down = {"on": True}

    async def charge() -> str:
        ran["charge"] += 1
        return "charged $5"

    async def other() -> str:
        ran["other"] += 1
        await asyncio.sleep(0.02)
        if down["on"]:
            raise ConnectionError("service down")
        return "ok"

    app = _tool_graph("ledger_fail", [charge, other], checkpointer)
    cfg = {"thread_id": "t"}
    with pytest.raises(ConnectionError):
        await app.ainvoke({"messages": [("user", "go")]}, cfg)
    assert ran == {"charge": 1, "other": 1}
    down["on"] = False
    res = await app.ainvoke({"messages": [("user", "the service is back")]}, cfg)
    assert res.status == "completed"
    assert ran == {"charge": 1, "other": 2}  # the failed call is the retry asked for; the charge happened once
    assert [m["role"] for m in res["messages"]] == ["user", "assistant", "user", "tool", "tool", "assistant"]


async def test_a_plain_node_stopped_replays_its_completed_tool_calls(checkpointer: str) -> None:
    ran = {"charge": 0, "ship": 0}
    entered = asyncio.Event()

    @ag.tool(outputs=["ok"])
    async def charge(amount: int) -> dict[str, Any]:
        ran["charge"] += 1
        return {"ok": True}

    @ag.tool(outputs=["ok"])
    async def ship() -> dict[str, Any]:
        ran["ship"] += 1
        if ran["ship"] == 1:
            entered.set()
            await asyncio.sleep(5)
        return {"ok": True}

    async def order(state: AgentState) -> Any:
        await charge(amount=5)
        await ship()
        return {"messages": [("assistant", "done")]}

    g = StateGraph(AgentState, name="ledger_plain")
    g.add_node("order", order)
    g.add_edge(START, "order")
    g.add_edge("order", END)
    app = g.compile(checkpointer=checkpointer)
    cfg = {"thread_id": "t"}
    call = asyncio.create_task(app.ainvoke({"messages": [("user", "buy")]}, cfg))
    await asyncio.wait_for(entered.wait(), 5)
    await app.astop(cfg)
    assert (await call).status == "stopped"
    res = await asyncio.wait_for(app.ainvoke(None, cfg), 10)
    assert res.status == "completed" and ran == {"charge": 1, "ship": 2}


class Order(AgentState, total=False):
    fixed: bool


def _flaky_order(name: str, ran: dict[str, int], fails: int, checkpointer: str) -> Any:
    """A node that charges (its amount from the number of messages), then calls a tool failing `fails` times."""

    @ag.tool(outputs=["ok"])
    async def charge(amount: int) -> dict[str, Any]:
        ran["charge"] += 1
        return {"ok": True}

    @ag.tool(outputs=["ok"])
    async def flaky() -> dict[str, Any]:
        ran["flaky"] += 1
        if ran["flaky"] <= fails:
            raise ConnectionError(f"down {ran['flaky']}")
        return {"ok": True}

    async def order(state: Order) -> Any:
        await charge(amount=5 if state.get("fixed") else len(state["messages"]))
        await flaky()
        return {"messages": [("assistant", "done")]}

    g = StateGraph(Order, name=name)
    g.add_node("order", order)
    g.add_edge(START, "order")
    g.add_edge("order", END)
    return g.compile(checkpointer=checkpointer)


async def test_completed_calls_replay_across_several_failed_turns(checkpointer: str) -> None:
    ran = {"charge": 0, "flaky": 0}
    app = _flaky_order("ledger_chain", ran, 2, checkpointer)
    cfg = {"thread_id": "t"}
    for _ in range(2):
        with pytest.raises(ConnectionError):
            await app.ainvoke({"messages": [("user", "buy")], "fixed": True}, cfg)
    assert ran == {"charge": 1, "flaky": 2}
    res = await app.ainvoke(None, cfg)
    assert res.status == "completed" and ran == {"charge": 1, "flaky": 3}


async def test_a_call_with_other_arguments_runs_after_a_failure(checkpointer: str) -> None:
    ran = {"charge": 0, "flaky": 0}
    app = _flaky_order("ledger_args", ran, 1, checkpointer)
    cfg = {"thread_id": "t"}
    with pytest.raises(ConnectionError):
        await app.ainvoke({"messages": [("user", "buy")]}, cfg)  # charge(amount=1)
    res = await app.ainvoke({"messages": [("user", "again")]}, cfg)  # charge(amount=2): another call, no mismatch
    assert res.status == "completed" and ran == {"charge": 2, "flaky": 2}


async def test_a_fork_from_a_past_checkpoint_runs_the_calls_again(checkpointer: str) -> None:
    ran = {"charge": 0, "flaky": 0}
    app = _flaky_order("ledger_fork", ran, 1, checkpointer)
    cfg = {"thread_id": "t"}
    with pytest.raises(ConnectionError):
        await app.ainvoke({"messages": [("user", "buy")], "fixed": True}, cfg)
    failed_at = (await app.aget_state(cfg)).config  # the checkpoint the failed superstep started from
    assert (await app.ainvoke(None, cfg)).status == "completed"
    assert ran == {"charge": 1, "flaky": 2}
    res = await app.ainvoke(None, failed_at)  # a branch from there: its tasks run afresh
    assert res.status == "completed" and ran == {"charge": 2, "flaky": 3}


async def test_update_state_routing_again_runs_the_calls_again(checkpointer: str) -> None:
    ran = {"charge": 0, "flaky": 0}
    app = _flaky_order("ledger_update", ran, 1, checkpointer)
    cfg = {"thread_id": "t"}
    with pytest.raises(ConnectionError):
        await app.ainvoke({"messages": [("user", "buy")], "fixed": True}, cfg)
    await app.aupdate_state(cfg, {"fixed": True}, as_node=START)  # a new task of `order`, not the failed one
    res = await app.ainvoke(None, cfg)
    assert res.status == "completed" and ran == {"charge": 2, "flaky": 2}


async def test_none_at_an_interrupt_still_runs_the_calls_again(checkpointer: str) -> None:
    """As documented (and in LangGraph): ainvoke(None) at an interrupt() re-runs the paused node with its calls."""
    ran = {"charge": 0}

    @ag.tool(outputs=["ok"])
    async def charge() -> dict[str, Any]:
        ran["charge"] += 1
        return {"ok": True}

    async def ask(state: AgentState) -> Any:
        await charge()
        return {"messages": [("assistant", str(interrupt("go on?")))]}

    g = StateGraph(AgentState, name="ledger_none_at_ask")
    g.add_node("ask", ask)
    g.add_edge(START, "ask")
    g.add_edge("ask", END)
    app = g.compile(checkpointer=checkpointer)
    cfg = {"thread_id": "t"}
    assert (await app.ainvoke({"messages": [("user", "x")]}, cfg)).status == "interrupted"
    assert (await app.ainvoke(None, cfg)).status == "interrupted"
    assert ran["charge"] == 2
