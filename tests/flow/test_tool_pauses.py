"""A tool a ToolNode runs that calls ``interrupt()``: while the thread waits for the answer, the tool's step is
paused, not failed (README, "What the widget says": "failed" never stands beside a run that waits).

Found by a tester in real JupyterLab: the widget said "waiting for you · 1 failed · 1 waiting", the ToolNode's box
"1 failed · 1 waiting", and the step's inspector showed the interrupt as an internal exception. The step stayed
FAILED until the answer made it DONE. Now it stays as its task does (running, its question waiting under it).
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

import aether_nb as ag
from aether_nb.flow import END, START, Command, StateGraph, ToolNode, add_messages, interrupt
from aether_nb.runtime.session import Session
from tests.conftest import arun

REFUNDS: list[float] = []


@ag.tool(outputs=["result"])
def issue_refund(order: str, amount: float) -> dict[str, Any]:
    """Issue a refund, once a person agreed."""
    ok = interrupt({"question": f"Refund {amount} on order {order}?"})
    if ok == "yes":
        REFUNDS.append(amount)
    return {"result": f"refunded {amount}" if ok == "yes" else "refused"}


class Desk(TypedDict):
    messages: Annotated[list[Any], add_messages]


def agent(state: Desk) -> dict[str, Any]:
    if state["messages"][-1]["role"] == "user":
        call = {"id": "c1", "name": "issue_refund", "args": {"order": "A-17", "amount": 40.0}}
        return {"messages": [{"role": "assistant", "content": "", "tool_calls": [call]}]}
    return {"messages": [{"role": "assistant", "content": "done"}]}


def test_a_tool_that_asks_is_paused_not_failed_while_its_question_waits(session: Session) -> None:
    REFUNDS.clear()
    g = StateGraph(Desk)
    g.add_node("agent", agent)
    g.add_node("tools", ToolNode([issue_refund]))
    g.add_edge(START, "agent")
    g.add_conditional_edges("agent", lambda s: "tools" if s["messages"][-1].get("tool_calls") else END, ["tools", END])
    g.add_edge("tools", "agent")
    app = g.compile(checkpointer="memory")
    cfg = {"configurable": {"thread_id": "t1"}}

    async def main() -> tuple[dict[str, str], Any, dict[str, str], Any]:
        res = await app.ainvoke({"messages": [("user", "refund A-17")]}, cfg)
        run = ag.get_run(res.run_id)
        paused = {n.id: n.status for n in run.graph.nodes}
        errors = [n.error for n in run.graph.nodes if n.error]
        res2 = await app.ainvoke(Command(resume="yes"), cfg)
        done = {n.id: n.status for n in ag.get_run(res2.run_id).graph.nodes}
        return paused, errors, done, res2

    paused, errors, done, res2 = arun(main(), timeout=60)
    assert paused["tools_1/issue_refund_1"] == "RUNNING" and paused["tools_1"] == "RUNNING"
    assert paused["tools_1/issue_refund_1/interrupt_1"] == "WAITING_HUMAN"
    assert "FAILED" not in paused.values() and errors == []
    assert done["tools_1/issue_refund_1"] == "DONE" and "FAILED" not in done.values()
    assert res2["messages"][-1]["content"] == "done" and REFUNDS == [40.0]
