"""New input with a past checkpoint's config writes no ``fork`` checkpoint: as in LangGraph, the new ``input``
checkpoint's parent is the past checkpoint itself, and the history holds no branch that never ran. Run on LangGraph
and on aether_nb and compared. (``ainvoke(None, <past config>)`` still starts its branch with a ``fork``
checkpoint, as LangGraph's replay does: tests/flow/test_lg_time_travel.py.)"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest

import aether_nb.flow as ours
from tests.flow.conftest import lg_names, thread

pytestmark = pytest.mark.anyio


class S(TypedDict):
    a: Annotated[list[str], operator.add]


async def _history(lib: Any, saver: Any) -> tuple[list[tuple[Any, ...]], bool, int]:
    """The newest five checkpoints (source, step, next) after new input at the checkpoint before ``two``, whether
    the input checkpoint's parent is that checkpoint, and how many checkpoints the thread has."""
    g = lib.StateGraph(S)
    g.add_node("one", lambda s: {"a": ["one"]})
    g.add_node("two", lambda s: {"a": ["two"]})
    g.add_edge(lib.START, "one")
    g.add_edge("one", "two")
    app = g.compile(checkpointer=saver)
    await app.ainvoke({"a": []}, thread())
    first = [h async for h in app.aget_state_history(thread())]
    past = next(h for h in first if h.next == ("two",))
    res = await app.ainvoke({"a": ["new"]}, past.config)
    assert res["a"] == ["one", "new", "one", "two"]
    history = [h async for h in app.aget_state_history(thread())]
    (new_input,) = [h for h in history if h.metadata["source"] == "input" and h.metadata["step"] > -1]
    parent = new_input.parent_config["configurable"]["checkpoint_id"]
    shape = [(h.metadata["source"], h.metadata["step"], h.next) for h in history[:5]]
    return shape, parent == past.config["configurable"]["checkpoint_id"], len(history)


async def test_new_input_at_a_past_checkpoint_branches_from_it_without_a_fork(checkpointer: str) -> None:
    lg = lg_names()
    expected = await _history(lg, lg.InMemorySaver())
    assert await _history(ours, checkpointer) == expected
    assert expected[1]  # (the input checkpoint's parent is the past checkpoint)
