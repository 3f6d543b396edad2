"""``update_state(..., as_node="__input__")`` writes an ``input`` checkpoint as LangGraph's (values as they were,
START next with the input pending), so ``bulk_update_state`` copies a thread's history (LangGraph's
test_update_as_input)."""

from __future__ import annotations

from typing import Any, TypedDict

import pytest

from aether_nb.flow import START, InvalidUpdate, StateGraph, StateUpdate
from tests.flow.conftest import thread

pytestmark = pytest.mark.anyio


class State(TypedDict):
    foo: str


def _graph(checkpointer: str) -> Any:
    return (
        StateGraph(State)
        .add_node("agent", lambda s: {"foo": "agent"})
        .add_node("tool", lambda s: {"foo": "tool"})
        .add_edge(START, "agent")
        .add_edge("agent", "tool")
        .compile(checkpointer=checkpointer)
    )


def _rows(g: Any, t: str) -> list[tuple[Any, ...]]:
    return [(s.values, s.next, s.metadata["step"], s.metadata["source"]) for s in g.get_state_history(thread(t))]


async def test_update_as_input_writes_an_input_checkpoint(checkpointer: str) -> None:
    g = _graph(checkpointer)
    await g.aupdate_state(thread("new"), {"foo": "input"}, as_node="__input__")
    st = await g.aget_state(thread("new"))
    assert (st.values, st.next, st.metadata["source"], st.metadata["step"]) == ({}, ("__start__",), "input", -1)
    assert dict(await g.ainvoke(None, thread("new"))) == {"foo": "tool"}  # START merges the input, then routes
    # on a thread with a history: the next step, the values as they were (LangGraph 1.2.24's)
    await g.aupdate_state(thread("new"), {"foo": "x2"}, as_node="__input__")
    st = await g.aget_state(thread("new"))
    assert (st.values, st.next, st.metadata["source"], st.metadata["step"]) == (
        {"foo": "tool"},
        ("__start__",),
        "input",
        3,
    )


async def test_bulk_update_copies_a_history(checkpointer: str) -> None:
    g = _graph(checkpointer)
    await g.ainvoke({"foo": "input"}, thread("1"))
    await g.abulk_update_state(
        thread("2"),
        [
            [StateUpdate({"foo": "input"}, "__input__")],
            [StateUpdate({"foo": "input"}, "__start__")],
            [StateUpdate({"foo": "agent"}, "agent")],
            [StateUpdate({"foo": "tool"}, "tool")],
        ],
    )
    assert [r[:3] for r in _rows(g, "2")] == [r[:3] for r in _rows(g, "1")]
    assert [r[3] for r in _rows(g, "2")] == ["update", "update", "update", "input"]


async def test_several_updates_as_input_in_one_superstep_are_refused(checkpointer: str) -> None:
    g = _graph(checkpointer)
    with pytest.raises(InvalidUpdate, match="updating as input"):
        await g.abulk_update_state(
            thread(), [[StateUpdate({"foo": "a"}, "__input__"), StateUpdate({"foo": "b"}, "agent")]]
        )
