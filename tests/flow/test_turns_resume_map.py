"""``Command(resume={interrupt id: value})`` naming an interrupt that is not pending (answered already) is refused
with the pending ids, not handed whole to the question that is pending; a dict answer stays an answer."""

from __future__ import annotations

from typing import Any

import pytest

from aether_nb.errors import UsageError
from aether_nb.flow import END, START, AgentState, Command, StateGraph, interrupt

pytestmark = pytest.mark.anyio


class S(AgentState, total=False):
    a: Any
    b: Any


def _app(name: str, checkpointer: str) -> Any:
    def node(state: S) -> Any:
        return {"a": interrupt("first?"), "b": interrupt("second?")}

    g = StateGraph(S, name=name)
    g.add_node("n", node)
    g.add_edge(START, "n")
    g.add_edge("n", END)
    return g.compile(checkpointer=checkpointer)


async def test_a_resume_map_naming_an_answered_interrupt_is_refused(checkpointer: str) -> None:
    app = _app("resume_stale", checkpointer)
    cfg = {"thread_id": "t"}
    first = (await app.ainvoke({"messages": [("user", "go")]}, cfg))["__interrupt__"][0]
    second = (await app.ainvoke(Command(resume={first.id: "A"}), cfg))["__interrupt__"][0]
    with pytest.raises(UsageError, match=r"not pending.*waits on \['n_1/interrupt_2'\]") as info:
        await app.ainvoke(Command(resume={first.id: "WRONG"}), cfg)
    assert info.value.code == "resume_not_pending"
    snap = await app.aget_state(cfg)
    assert [i.id for i in snap.interrupts] == [second.id]  # still pending, nothing answered
    done = await app.ainvoke(Command(resume={second.id: "B"}), cfg)
    assert (done["a"], done["b"]) == ("A", "B")


async def test_a_stale_map_is_refused_before_its_update_is_merged(checkpointer: str) -> None:
    app = _app("resume_stale_update", checkpointer)
    cfg = {"thread_id": "t"}
    await app.ainvoke({"messages": [("user", "go")]}, cfg)
    with pytest.raises(UsageError, match="not pending"):
        await app.ainvoke(Command(resume={"x_1/interrupt_1": 1}, update={"b": "edited"}), cfg)
    assert "b" not in (await app.aget_state(cfg)).values


async def test_a_dict_answer_is_still_an_answer(checkpointer: str) -> None:
    app = _app("resume_dict", checkpointer)
    cfg = {"thread_id": "t"}
    await app.ainvoke({"messages": [("user", "go")]}, cfg)
    await app.ainvoke(Command(resume={"approved": True}), cfg)
    done = await app.ainvoke(Command(resume="B"), cfg)
    assert done["a"] == {"approved": True} and done["b"] == "B"
