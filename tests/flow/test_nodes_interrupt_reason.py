"""Agentflow's ``interrupt(value, *, message, reason, response_schema)``: ``reason=`` is kept with the question."""

from __future__ import annotations

from typing import Any

import pytest

from aether_nb.errors import UsageError
from aether_nb.flow import END, START, AgentState, Command, StateGraph, interrupt

pytestmark = pytest.mark.anyio


class S(AgentState, total=False):
    d: Any


def _app(name: str, reason: Any, checkpointer: str) -> Any:
    def review(state: S) -> Any:
        return {"d": interrupt({"amount": 900}, message="Approve 900?", reason=reason)}

    g = StateGraph(S, name=name)
    g.add_node("review", review)
    g.add_edge(START, "review")
    g.add_edge("review", END)
    return g.compile(checkpointer=checkpointer)


async def test_interrupt_takes_a_reason(checkpointer: str) -> None:
    app = _app("reason", "approval", checkpointer)
    cfg = {"thread_id": "t"}
    res = await app.ainvoke({"messages": [("user", "x")]}, cfg)
    asked = res["__interrupt__"][0]
    assert asked.value == {"amount": 900} and asked.message == "Approve 900?" and asked.reason == "approval"
    snap = await app.aget_state(cfg)
    assert snap.interrupts[0].reason == "approval"  # (read back from the stored wait)
    assert (await app.ainvoke(Command(resume="yes"), cfg))["d"] == "yes"


async def test_a_reason_that_is_not_text_is_refused(checkpointer: str) -> None:
    app = _app("reason_bad", 3, checkpointer)
    with pytest.raises(UsageError, match="reason"):
        await app.ainvoke({"messages": [("user", "x")]}, {"thread_id": "t"})
