"""LangGraph's call options on ``invoke``/``ainvoke``/``astream`` (``stream_mode=`` on invoke, ``output_keys``,
per-call ``interrupt_before``/``interrupt_after``, UUID thread ids) and ``Command(resume={id: value})`` mapping
forms, ported from ``test_pregel.py``/``test_pregel_async.py`` to aether_nb's names.
"""

from __future__ import annotations

import operator
import uuid
import warnings
from typing import Annotated, Any, TypedDict

import pytest

from aether_nb.errors import UsageError
from aether_nb.flow import END, START, Command, Send, StateGraph, interrupt


def test_resume_map_for_interrupts_in_sends_to_a_subgraph(checkpointer: str) -> None:
    """test_pregel.py: Send to a checkpointed subgraph per prompt, every one interrupts; one
    ``Command(resume={id: value, ...})`` answers them all (thread id a UUID, ``invoke(stream_mode="values")``)."""

    class ChildState(TypedDict):
        prompt: str
        human_input: str
        human_inputs: Annotated[list[str], operator.add]

    def get_human_input(state: ChildState) -> dict[str, Any]:
        human_input = interrupt(state["prompt"])
        return {"human_input": human_input, "human_inputs": [human_input]}

    child_graph = (
        StateGraph(ChildState)
        .add_node("get_human_input", get_human_input)
        .add_edge(START, "get_human_input")
        .add_edge("get_human_input", END)
        .compile(checkpointer=True)
    )

    class ParentState(TypedDict):
        prompts: list[str]
        human_inputs: Annotated[list[str], operator.add]

    def assign_workers(state: ParentState) -> list[Send]:
        return [Send("child_graph", {"prompt": prompt}) for prompt in state["prompts"]]

    def cleanup(state: ParentState) -> None:
        assert len(state["human_inputs"]) == len(state["prompts"])

    parent_graph = (
        StateGraph(ParentState)
        .add_node("child_graph", child_graph)
        .add_node("cleanup", cleanup)
        .add_conditional_edges(START, assign_workers, ["child_graph"])
        .add_edge("child_graph", "cleanup")
        .add_edge("cleanup", END)
        .compile(checkpointer=checkpointer)
    )
    thread_config = {"configurable": {"thread_id": uuid.uuid4()}}
    prompts = ["a", "b", "c", "d", "e"]
    events = parent_graph.invoke({"prompts": prompts}, thread_config, stream_mode="values")
    assert len(events["__interrupt__"]) == len(prompts)
    assert {i.value for i in events["__interrupt__"]} == set(prompts)
    resume_map = {i.id: f"human input for prompt {i.value}" for i in parent_graph.get_state(thread_config).interrupts}
    result = parent_graph.invoke(Command(resume=resume_map), thread_config)
    assert result == {
        "prompts": prompts,
        "human_inputs": [f"human input for prompt {prompt}" for prompt in prompts],
    }


class S(TypedDict, total=False):
    a: str
    b: str
    log: Annotated[list, operator.add]


def _chain() -> StateGraph:
    g = StateGraph(S)
    g.add_node("one", lambda s: {"a": "1", "log": ["one"]})
    g.add_node("two", lambda s: {"b": "2", "log": ["two"]})
    g.add_edge(START, "one")
    g.add_edge("one", "two")
    return g


@pytest.mark.anyio
async def test_output_keys_pick_what_is_returned(checkpointer: str) -> None:
    app = _chain().compile(checkpointer=checkpointer)
    assert await app.ainvoke({"log": []}, output_keys="a") == "1"
    assert await app.ainvoke({"log": []}, output_keys=["a", "log"]) == {"a": "1", "log": ["one", "two"]}
    chunks = [c async for c in app.astream({"log": []}, stream_mode="values", output_keys=["b"])]
    assert chunks == [{"b": "2"}]  # (as LangGraph's: only a superstep that wrote "b" streams its values)


@pytest.mark.anyio
async def test_ainvoke_with_another_stream_mode_returns_the_chunks(checkpointer: str) -> None:
    app = _chain().compile(checkpointer=checkpointer)
    assert await app.ainvoke({"log": []}, stream_mode="updates") == [
        {"one": {"a": "1", "log": ["one"]}},
        {"two": {"b": "2", "log": ["two"]}},
    ]


def test_invoke_with_a_list_of_modes_returns_mode_chunk_pairs(checkpointer: str) -> None:
    assert _chain().compile(checkpointer=checkpointer).invoke({"log": []}, stream_mode=["updates"]) == [
        ("updates", {"one": {"a": "1", "log": ["one"]}}),
        ("updates", {"two": {"b": "2", "log": ["two"]}}),
    ]


def test_per_call_interrupt_before_and_after(checkpointer: str) -> None:
    """test_pregel.py: ``invoke(..., interrupt_before=[...])`` pauses that turn only; the compiled graph has none."""
    app = _chain().compile(checkpointer=checkpointer)
    cfg = {"configurable": {"thread_id": "1"}}
    assert app.invoke({"log": []}, cfg, interrupt_before=["two"]) == {"a": "1", "log": ["one"]}
    assert app.get_state(cfg).next == ("two",)
    assert app.invoke(None, cfg) == {"a": "1", "b": "2", "log": ["one", "two"]}
    cfg2 = {"configurable": {"thread_id": "2"}}
    assert app.invoke({"log": []}, cfg2, interrupt_after="*") == {"a": "1", "log": ["one"]}
    assert app.invoke(None, cfg2)["b"] == "2"
    assert app.invoke({"log": []}, {"configurable": {"thread_id": "3"}}) == {
        "a": "1",
        "b": "2",
        "log": ["one", "two"],
    }  # without the option, no pause
    with pytest.raises(UsageError, match="not nodes of the graph"):
        app.invoke({"log": []}, cfg, interrupt_before=["three"])


def test_a_uuid_thread_id_is_the_same_thread_as_its_string(checkpointer: str) -> None:
    app = _chain().compile(checkpointer=checkpointer)
    tid = uuid.uuid4()
    app.invoke({"log": []}, {"configurable": {"thread_id": tid}})
    assert app.get_state({"configurable": {"thread_id": str(tid)}}).values["log"] == ["one", "two"]


@pytest.mark.anyio
async def test_durability_exit_and_checkpoint_during_are_accepted_and_say_what_they_do(checkpointer: str) -> None:
    """LangGraph's ``durability="exit"`` and its deprecated ``checkpoint_during=False`` run the turn, with a
    warning that every superstep is checkpointed still (never silently ignored); ``checkpoint_during=True`` and
    the other durabilities run without one."""
    app = _chain().compile(checkpointer=checkpointer)
    for option in ({"durability": "exit"}, {"checkpoint_during": False}):
        with pytest.warns(UserWarning, match="not honored"):
            assert (await app.ainvoke({"log": []}, **option))["b"] == "2"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for option in ({"checkpoint_during": True}, {"durability": "sync"}, {"durability": "async"}):
            assert (await app.ainvoke({"log": []}, **option))["b"] == "2"
    with pytest.raises(UsageError, match="durability"):
        await app.ainvoke({"log": []}, durability="never")
