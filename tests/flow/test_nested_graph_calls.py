"""Graphs invoked inside a node (aether_nb.flow.nested_calls), as LangGraph's ``test_subgraph_persistence.py``:
each call of a task gets its own namespace, a call naming its own thread is a turn of its own, and a top-level
call with a subgraph's config is refused rather than run from an unrelated checkpoint."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest

from aether_nb.errors import UsageError
from aether_nb.flow import START, StateGraph, interrupt

pytestmark = pytest.mark.anyio


class Msgs(TypedDict):
    msgs: Annotated[list[str], operator.add]


class Parent(TypedDict):
    result: str


def _agent(prefix: str, wrapper: str) -> Any:
    inner = StateGraph(Msgs).add_node("echo", lambda s: {"msgs": [f"{prefix}: {s['msgs'][-1]}"]})
    inner = inner.add_edge(START, "echo").compile()
    return StateGraph(Msgs).add_node(wrapper, inner).add_edge(START, wrapper).compile(checkpointer=True)


async def test_two_stateful_graphs_in_one_node_keep_separate_histories(checkpointer: str) -> None:
    """test_stateful_namespace_isolation: the veggie agent never sees the fruit agent's messages."""
    fruit, veggie = _agent("Fruit", "fruit_agent"), _agent("Veggie", "veggie_agent")
    seen: list[tuple[list[str], list[str]]] = []

    def call_both(state: Parent) -> dict[str, Any]:
        n = len(seen) + 1
        f = fruit.invoke({"msgs": [f"cherries {n}"]})
        v = veggie.invoke({"msgs": [f"broccoli {n}"]})
        seen.append((list(f["msgs"]), list(v["msgs"])))
        return {"result": f["msgs"][-1]}

    app = StateGraph(Parent).add_node("call_both", call_both).add_edge(START, "call_both")
    app = app.compile(checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "t"}}
    assert (await app.ainvoke({"result": ""}, config))["result"] == "Fruit: cherries 1"
    await app.ainvoke({"result": ""}, config)
    (fruit1, veggie1), (fruit2, veggie2) = seen
    assert not any("cherries" in m or "Fruit" in m for m in veggie1 + veggie2)
    assert not any("broccoli" in m or "Veggie" in m for m in fruit1 + fruit2)
    assert veggie1[-1] == "Veggie: broccoli 1"
    # each keeps its own history across the parent's turns
    assert veggie2[: len(veggie1)] == veggie1 and veggie2[-1] == "Veggie: broccoli 2"
    assert fruit2[: len(fruit1)] == fruit1 and fruit2[-1] == "Fruit: cherries 2"


async def test_graph_invoked_with_its_own_thread_keeps_its_state(checkpointer: str) -> None:
    """test_child_with_own_thread_id_keeps_namespace: the child's turns are saved on its own thread."""

    class Count(TypedDict):
        count: int

    child = StateGraph(Count).add_node("n", lambda s: {"count": (s.get("count") or 0) + 1})
    child = child.add_edge(START, "n").compile(checkpointer=checkpointer)
    child_config = {"configurable": {"thread_id": "child-thread"}}

    def parent_node(state: Parent) -> dict[str, Any]:
        return {"result": f"child count {child.invoke({}, config=child_config)['count']}"}

    async def async_parent_node(state: Parent) -> dict[str, Any]:
        return {"result": f"child count {(await child.ainvoke({}, child_config))['count']}"}

    sync_app = StateGraph(Parent).add_node("p", parent_node).add_edge(START, "p").compile(checkpointer=checkpointer)
    async_app = StateGraph(Parent).add_node("p", async_parent_node).add_edge(START, "p")
    async_app = async_app.compile(checkpointer=checkpointer)
    parent_config = {"configurable": {"thread_id": "parent-thread"}}
    assert await sync_app.ainvoke({"result": ""}, parent_config) == {"result": "child count 1"}
    state = child.get_state(child_config)
    assert state.values == {"count": 1}
    assert state.config["configurable"]["thread_id"] == "child-thread"
    assert state.config["configurable"]["checkpoint_ns"] == ""
    assert await sync_app.ainvoke({"result": ""}, parent_config) == {"result": "child count 2"}
    assert await async_app.ainvoke({"result": ""}, {"configurable": {"thread_id": "p2"}}) == {"result": "child count 3"}
    assert child.get_state(child_config).values == {"count": 3}


async def test_call_with_a_subgraph_config_is_refused(checkpointer: str) -> None:
    """A subgraph snapshot's config (its checkpoint_ns and checkpoint id) never runs the root graph from the
    root's checkpoint of the same id: the call is refused and nothing runs."""
    called: list[str] = []

    def step(name: str) -> Any:
        def f(state: Msgs) -> dict[str, Any]:
            called.append(name)
            return {"msgs": [name]}

        return f

    def ask(state: Msgs) -> dict[str, Any]:
        called.append("ask")
        return {"msgs": [interrupt("input?")]}

    sub = StateGraph(Msgs).add_node("a", step("a")).add_node("ask", ask).add_edge(START, "a").add_edge("a", "ask")
    app = StateGraph(Msgs).add_node("router", step("router")).add_node("sub", sub.compile(checkpointer=True))
    app = app.add_edge(START, "router").add_edge("router", "sub").compile(checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "1"}}
    await app.ainvoke({"msgs": []}, config)
    sub_config = app.get_state(config, subgraphs=True).tasks[0].state.config
    assert sub_config["configurable"]["checkpoint_ns"] == "sub"
    before = len(app.get_state_history(config))
    called.clear()
    with pytest.raises(UsageError, match="checkpoint_ns 'sub'") as err:
        await app.ainvoke(None, sub_config)
    assert err.value.code == "subgraph_config"
    with pytest.raises(UsageError, match="checkpoint_ns 'sub'"):
        [c async for c in app.astream(None, sub_config)]
    assert called == []
    assert len(app.get_state_history(config)) == before
