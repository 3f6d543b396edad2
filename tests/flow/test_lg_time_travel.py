"""Time travel (replay and fork), ported from LangGraph's ``test_time_travel_async.py`` to aether_nb's names.

* Replay: ``ainvoke(None, snapshot.config)`` with a past checkpoint re-runs the nodes after it (a ``fork``
  checkpoint starts a branch); interrupts fire again.
* Fork: ``aupdate_state(past_config, values)`` writes an ``update`` checkpoint branching from the past one, and
  ``ainvoke(None, returned_config)`` runs it. ``as_node="__copy__"`` copies the checkpoint unchanged.
* Old checkpoints stay (append-only); the thread's head is the newest.
"""

from __future__ import annotations

import itertools
import operator
from typing import Annotated, Any, TypedDict

import pytest

from aether_nb.flow import START, Command, StateGraph, interrupt
from aether_nb.flow.types import StateSnapshot

pytestmark = pytest.mark.anyio


class State(TypedDict):
    value: Annotated[list[str], operator.add]


def summary(history: list[StateSnapshot]) -> list[dict[str, Any]]:
    return [
        {
            "id": s.config["configurable"]["checkpoint_id"],
            "parent_id": s.parent_config["configurable"]["checkpoint_id"] if s.parent_config else None,
            "source": s.metadata.get("source"),
            "next": s.next,
            "values": s.values,
        }
        for s in history
    ]


def chain(called: list[str], *names: str, asks: tuple[str, ...] = (), **compile_kw: Any) -> Any:
    """START -> names[0] -> names[1] ...; a node named in ``asks`` calls interrupt() first."""

    def make(name: str) -> Any:
        def node(state: State) -> Any:
            called.append(name)
            if name in asks:
                return {"value": [f"{name}:{interrupt(f'{name}?')}"]}
            return {"value": [name]}

        return node

    b = StateGraph(State)
    for n in names:
        b.add_node(n, make(n))
    b.add_edge(START, names[0])
    for x, y in itertools.pairwise(names):
        b.add_edge(x, y)
    return b.compile(**compile_kw)


async def test_replay_reruns_nodes_after_checkpoint(checkpointer: str) -> None:
    """test_replay_reruns_nodes_after_checkpoint."""
    called: list[str] = []
    graph = chain(called, "node_a", "node_b", checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "1"}}
    assert await graph.ainvoke({"value": []}, config) == {"value": ["node_a", "node_b"]}
    history = [s async for s in graph.aget_state_history(config)]
    before_b = next(s for s in history if s.next == ("node_b",))
    called.clear()
    assert await graph.ainvoke(None, before_b.config) == {"value": ["node_a", "node_b"]}
    assert called == ["node_b"]


async def test_replay_from_final_checkpoint_is_noop(checkpointer: str) -> None:
    """test_replay_from_final_checkpoint_is_noop."""
    called: list[str] = []
    graph = chain(called, "node_a", checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "1"}}
    assert await graph.ainvoke({"value": []}, config) == {"value": ["node_a"]}
    state = await graph.aget_state(config)
    assert state.next == ()
    called.clear()
    assert await graph.ainvoke(None, state.config) == {"value": ["node_a"]}
    assert called == []


async def test_fork_reruns_with_modified_state(checkpointer: str) -> None:
    """test_fork_reruns_with_modified_state — update_state on a past checkpoint, as the node that wrote it."""
    called: list[str] = []
    graph = chain(called, "node_a", "node_b", checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "1"}}
    await graph.ainvoke({"value": []}, config)
    before_b = next(s for s in await graph.aget_state_history(config) if s.next == ("node_b",))
    called.clear()
    fork_config = await graph.aupdate_state(before_b.config, {"value": ["x"]})
    assert await graph.ainvoke(None, fork_config) == {"value": ["node_a", "x", "node_b"]}
    assert called == ["node_b"]


async def test_multiple_forks_from_same_checkpoint(checkpointer: str) -> None:
    """test_multiple_forks_from_same_checkpoint — independent branches."""
    graph = chain([], "node_a", "node_b", checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "1"}}
    await graph.ainvoke({"value": []}, config)
    before_b = next(s for s in await graph.aget_state_history(config) if s.next == ("node_b",))
    result1 = await graph.ainvoke(None, await graph.aupdate_state(before_b.config, {"value": ["fork1"]}))
    result2 = await graph.ainvoke(None, await graph.aupdate_state(before_b.config, {"value": ["fork2"]}))
    assert "fork1" in result1["value"] and "fork2" not in result1["value"]
    assert "fork2" in result2["value"] and "fork1" not in result2["value"]


async def test_replay_from_before_interrupt_refires(checkpointer: str) -> None:
    """test_replay_from_before_interrupt_refires."""
    called: list[str] = []
    graph = chain(called, "node_a", "ask_human", "node_b", asks=("ask_human",), checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "1"}}
    result = await graph.ainvoke({"value": []}, config)
    assert "__interrupt__" in result and called.count("ask_human") == 1
    result = await graph.ainvoke(Command(resume="hello"), config)
    assert result == {"value": ["node_a", "ask_human:hello", "node_b"]}
    assert called.count("ask_human") == 2  # re-executes on resume
    history = [s async for s in graph.aget_state_history(config)]
    before_ask = [s for s in history if s.next == ("ask_human",)][-1]
    replay = await graph.ainvoke(None, before_ask.config)
    assert replay["__interrupt__"][0].value == "ask_human?"
    assert replay["value"] == ["node_a"]
    assert called.count("ask_human") == 3
    assert called.count("node_a") == 1 and called.count("node_b") == 1


async def test_replay_interrupt_stable_across_replays(checkpointer: str) -> None:
    """test_replay_interrupt_stable_across_replays."""
    graph = chain([], "node_a", "ask_human", "node_b", asks=("ask_human",), checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "1"}}
    await graph.ainvoke({"value": []}, config)
    await graph.ainvoke(Command(resume="cached_answer"), config)
    before_ask = [s for s in await graph.aget_state_history(config) if s.next == ("ask_human",)][-1]
    results = [await graph.ainvoke(None, before_ask.config) for _ in range(3)]
    assert all(r["__interrupt__"][0].value == "ask_human?" for r in results)
    assert all(r["value"] == results[0]["value"] for r in results)


@pytest.mark.parametrize("from_interrupt_checkpoint", [False, True])
async def test_fork_from_before_interrupt_refires(checkpointer: str, from_interrupt_checkpoint: bool) -> None:
    """test_fork_from_before_interrupt_refires and test_fork_from_interrupt_checkpoint_refires."""
    graph = chain([], "node_a", "ask_human", "node_b", asks=("ask_human",), checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "1"}}
    await graph.ainvoke({"value": []}, config)
    await graph.ainvoke(Command(resume="hello"), config)
    history = [s async for s in graph.aget_state_history(config)]
    if from_interrupt_checkpoint:
        target = next(s for s in history if s.next == ("ask_human",) and any(t.interrupts for t in s.tasks))
    else:
        target = [s for s in history if s.next == ("ask_human",)][-1]
    fork_config = await graph.aupdate_state(target.config, {"value": ["forked"]})
    fork_result = await graph.ainvoke(None, fork_config)
    assert fork_result["__interrupt__"][0].value == "ask_human?"
    final = await graph.ainvoke(Command(resume="world"), fork_config)
    assert final == {"value": ["node_a", "forked", "ask_human:world", "node_b"]}


async def test_sequential_interrupts_fork_from_middle(checkpointer: str) -> None:
    """test_sequential_interrupts_fork_from_middle."""
    called: list[str] = []
    graph = chain(called, "node_a", "i1", "i2", "node_b", asks=("i1", "i2"), checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "1"}}
    assert (await graph.ainvoke({"value": []}, config))["__interrupt__"][0].value == "i1?"
    assert (await graph.ainvoke(Command(resume="ans1"), config))["__interrupt__"][0].value == "i2?"
    assert await graph.ainvoke(Command(resume="ans2"), config) == {"value": ["node_a", "i1:ans1", "i2:ans2", "node_b"]}
    history = [s async for s in graph.aget_state_history(config)]
    between = [s for s in history if s.next == ("i2",)][-1]
    fork_config = await graph.aupdate_state(between.config, {"value": ["mid_fork"]})
    assert (await graph.ainvoke(None, fork_config))["__interrupt__"][0].value == "i2?"
    final = await graph.ainvoke(Command(resume="new_b"), fork_config)
    assert "i2:new_b" in final["value"] and "i1:ans1" in final["value"]
    before_i1 = [s for s in history if s.next == ("i1",)][-1]
    called.clear()
    replay = await graph.ainvoke(None, before_i1.config)
    assert replay["__interrupt__"][0].value == "i1?"
    assert "i1" in called and "i2" not in called


async def test_multiple_interrupts_in_one_node(checkpointer: str) -> None:
    """test_multiple_interrupts_in_one_node — resuming with the snapshot's config."""

    def ask(state: State) -> Any:
        answer1 = interrupt("First question?")
        answer2 = interrupt("Second question?")
        return {"value": [f"a1:{answer1}", f"a2:{answer2}"]}

    graph = (
        StateGraph(State)
        .add_node("ask", ask)
        .add_node("after", lambda s: {"value": ["done"]})
        .add_edge(START, "ask")
        .add_edge("ask", "after")
        .compile(checkpointer=checkpointer)
    )
    config = {"configurable": {"thread_id": "1"}}
    assert (await graph.ainvoke({"value": []}, config))["__interrupt__"][0].value == "First question?"
    state = await graph.aget_state(config)
    assert (await graph.ainvoke(Command(resume="ans1"), state.config))["__interrupt__"][0].value == "Second question?"
    state = await graph.aget_state(config)
    assert await graph.ainvoke(Command(resume="ans2"), state.config) == {"value": ["a1:ans1", "a2:ans2", "done"]}
    before_ask = [s for s in await graph.aget_state_history(config) if s.next == ("ask",)][-1]
    assert (await graph.ainvoke(None, before_ask.config))["__interrupt__"][0].value == "First question?"


def _subgraph_parent(called: list[str], checkpointer: str, *, ask: bool) -> Any:
    def step(name: str) -> Any:
        def node(state: State) -> Any:
            called.append(name)
            if name == "ask_human":
                return {"value": [f"human:{interrupt('Provide input:')}"]}
            return {"value": [name]}

        return node

    sub = StateGraph(State).add_node("step_a", step("step_a")).add_node("step_b", step("step_b"))
    sub.add_edge(START, "step_a")
    if ask:
        sub.add_node("ask_human", step("ask_human")).add_edge("step_a", "ask_human").add_edge("ask_human", "step_b")
    else:
        sub.add_edge("step_a", "step_b")
    return (
        StateGraph(State)
        .add_node("parent_node", step("parent_node"))
        .add_node("subgraph", sub.compile(checkpointer=True) if ask else sub.compile())
        .add_node("post_process", step("post_process"))
        .add_edge(START, "parent_node")
        .add_edge("parent_node", "subgraph")
        .add_edge("subgraph", "post_process")
        .compile(checkpointer=checkpointer)
    )


@pytest.mark.parametrize("fork", [False, True])
async def test_subgraph_replay_and_fork_from_before(checkpointer: str, fork: bool) -> None:
    """test_subgraph_replay_from_before and test_subgraph_fork_from_before."""
    called: list[str] = []
    graph = _subgraph_parent(called, checkpointer, ask=False)
    config = {"configurable": {"thread_id": "1"}}
    result = await graph.ainvoke({"value": []}, config)
    assert {"step_a", "step_b", "post_process"} <= set(result["value"])
    before_sub = next(s for s in await graph.aget_state_history(config) if s.next == ("subgraph",))
    called.clear()
    target = await graph.aupdate_state(before_sub.config, {"value": ["forked"]}) if fork else before_sub.config
    replay = await graph.ainvoke(None, target)
    assert {"step_a", "step_b", "post_process"} <= set(replay["value"])
    assert "parent_node" not in called and "step_a" in called
    assert ("forked" in replay["value"]) is fork


@pytest.mark.parametrize("from_interrupt_checkpoint", [False, True])
async def test_subgraph_interrupt_replay(checkpointer: str, from_interrupt_checkpoint: bool) -> None:
    """test_subgraph_interrupt_replay_from_parent and test_subgraph_interrupt_replay_from_interrupt_checkpoint."""
    called: list[str] = []
    graph = _subgraph_parent(called, checkpointer, ask=True)
    config = {"configurable": {"thread_id": "1"}}
    assert "__interrupt__" in await graph.ainvoke({"value": []}, config)
    parent_state = await graph.aget_state(config, subgraphs=True)
    assert parent_state.tasks[0].state is not None
    done = await graph.ainvoke(Command(resume="answer"), config)
    assert {"human:answer", "step_b", "post_process"} <= set(done["value"])
    history = [s async for s in graph.aget_state_history(config)]
    if from_interrupt_checkpoint:
        target = next(s for s in history if s.next == ("subgraph",) and any(t.interrupts for t in s.tasks))
    else:
        target = [s for s in history if s.next == ("subgraph",)][-1]
    called.clear()
    assert "__interrupt__" in await graph.ainvoke(None, target.config)
    assert "parent_node" not in called


async def test_copy_fork_retriggers_interrupt(checkpointer: str) -> None:
    """test_copy_fork_retriggers_interrupt and test_copy_fork_creates_sibling_checkpoint."""
    graph = chain([], "node_a", "ask_human", "node_b", asks=("ask_human",), checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "1"}}
    await graph.ainvoke({"value": []}, config)
    await graph.ainvoke(Command(resume="hello"), config)
    before_ask = [s for s in await graph.aget_state_history(config) if s.next == ("ask_human",)][-1]
    fork_config = await graph.aupdate_state(before_ask.config, None, as_node="__copy__")
    assert (await graph.aget_state(fork_config)).metadata["source"] == "fork"
    assert (await graph.ainvoke(None, fork_config))["__interrupt__"][0].value == "ask_human?"
    assert await graph.ainvoke(Command(resume="new_answer"), fork_config) == {
        "value": ["node_a", "ask_human:new_answer", "node_b"]
    }
    regular = await graph.aupdate_state(before_ask.config, {"value": ["x"]})
    assert (await graph.aget_state(regular)).metadata["source"] == "update"


async def test_update_state_with_none_values(checkpointer: str) -> None:
    """test_update_state_with_none_values."""
    graph = chain([], "node_a", "ask_human", "node_b", asks=("ask_human",), checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "1"}}
    await graph.ainvoke({"value": []}, config)
    await graph.ainvoke(Command(resume="hello"), config)
    before_ask = [s for s in await graph.aget_state_history(config) if s.next == ("ask_human",)][-1]
    fork_config = await graph.aupdate_state(before_ask.config, None)
    assert (await graph.ainvoke(None, fork_config))["__interrupt__"][0].value == "ask_human?"
    assert (await graph.aget_state(fork_config)).metadata["source"] == "update"


async def test_replay_creates_branch_preserving_old_checkpoints(checkpointer: str) -> None:
    """test_replay_creates_branch_preserving_old_checkpoints — the history as a tree, exactly."""
    calls = 0

    def node_b(state: State) -> Any:
        nonlocal calls
        calls += 1
        return {"value": [f"b{calls}"]}

    graph = (
        StateGraph(State)
        .add_node("node_a", lambda s: {"value": ["a"]})
        .add_node("node_b", node_b)
        .add_node("node_c", lambda s: {"value": ["c"]})
        .add_edge(START, "node_a")
        .add_edge("node_a", "node_b")
        .add_edge("node_b", "node_c")
        .compile(checkpointer=checkpointer)
    )
    config = {"configurable": {"thread_id": "1"}}
    assert await graph.ainvoke({"value": []}, config) == {"value": ["a", "b1", "c"]}
    original = [s async for s in graph.aget_state_history(config)]
    assert [s["next"] for s in summary(original)] == [(), ("node_c",), ("node_b",), ("node_a",), ("__start__",)]
    assert [s["values"] for s in summary(original)] == [
        {"value": ["a", "b1", "c"]},
        {"value": ["a", "b1"]},
        {"value": ["a"]},
        {"value": []},
        {"value": []},
    ]
    assert [s["source"] for s in summary(original)] == ["loop", "loop", "loop", "loop", "input"]
    original_ids = {s.config["configurable"]["checkpoint_id"] for s in original}
    before_b = next(s for s in original if s.next == ("node_b",))
    assert await graph.ainvoke(None, before_b.config) == {"value": ["a", "b2", "c"]}
    post = summary([s async for s in graph.aget_state_history(config)])
    assert len(post) == 8
    assert [s["next"] for s in post] == [
        (),
        ("node_c",),
        ("node_b",),
        (),
        ("node_c",),
        ("node_b",),
        ("node_a",),
        ("__start__",),
    ]
    assert [s["source"] for s in post[:3]] == ["loop", "loop", "fork"]
    assert post[2]["parent_id"] == before_b.config["configurable"]["checkpoint_id"]
    assert original_ids <= {s["id"] for s in post}
    latest = await graph.aget_state(config)
    assert latest.values == {"value": ["a", "b2", "c"]}
    assert latest.config["configurable"]["checkpoint_id"] not in original_ids


async def test_checkpoint_history_has_input_and_loop_checkpoints_as_langgraph(checkpointer: str) -> None:
    """The shape LangGraph tests count on: step -1 input (before the input), then one per superstep."""
    graph = chain([], "node_a", "node_b", checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "1"}}
    await graph.ainvoke({"value": ["x"]}, config)
    history = [s async for s in graph.aget_state_history(config)]
    assert [(s.metadata["source"], s.metadata["step"], s.next) for s in history] == [
        ("loop", 2, ()),
        ("loop", 1, ("node_b",)),
        ("loop", 0, ("node_a",)),
        ("input", -1, ("__start__",)),
    ]
    assert history[-1].values == {"value": []} and history[-2].values == {"value": ["x"]}
    assert [s.parent_config for s in history][-1] is None
    # replaying from the input checkpoint applies the same input again
    again = await graph.ainvoke(None, history[-1].config)
    assert again == {"value": ["x", "node_a", "node_b"]}
