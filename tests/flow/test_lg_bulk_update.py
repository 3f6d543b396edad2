"""``bulk_update_state``/``abulk_update_state``, ported from LangGraph's ``test_pregel.py::test_bulk_state_updates``
and compared with LangGraph on the same graph."""

from __future__ import annotations

from typing import Any, TypedDict

import pytest

from aether_nb.flow import START, EmptyUpdate, InvalidUpdateError, StateGraph, StateUpdate


class State(TypedDict):
    foo: str
    baz: str


def _build(graph_cls: Any) -> Any:
    def node_a(state: State) -> dict[str, Any]:
        return {"foo": "bar"}

    def node_b(state: State) -> dict[str, Any]:
        return {"baz": "qux"}

    return (
        graph_cls(State)
        .add_node("node_a", node_a)
        .add_node("node_b", node_b)
        .add_edge(START, "node_a")
        .add_edge("node_a", "node_b")
    )


def test_bulk_state_updates(checkpointer: str) -> None:
    """test_pregel.py::test_bulk_state_updates."""
    graph = _build(StateGraph).compile(checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "1"}}
    graph.bulk_update_state(config, [[StateUpdate(values={"foo": "bar"}, as_node="node_a")]])
    graph.bulk_update_state(
        config,
        [
            [
                StateUpdate(values={"foo": "updated"}, as_node="node_a"),
                StateUpdate(values={"baz": "new"}, as_node="node_b"),
            ]
        ],
    )
    state = graph.get_state(config)
    assert state.values == {"foo": "updated", "baz": "new"}
    assert len(list(graph.get_state_history(config))) == 2  # one checkpoint per superstep

    config = {"configurable": {"thread_id": "2"}}
    graph.bulk_update_state(
        config,
        [
            [StateUpdate(values={"foo": "bar"}, as_node="node_a")],
            [
                StateUpdate(values={"foo": "updated"}, as_node="node_a"),
                StateUpdate(values={"baz": "new"}, as_node="node_b"),
            ],
        ],
    )
    assert graph.get_state(config).values == {"foo": "updated", "baz": "new"}
    assert len(list(graph.get_state_history(config))) == 2

    with pytest.raises(InvalidUpdateError):
        graph.bulk_update_state(
            config,
            [[StateUpdate(values={"foo": "error"}, as_node=None), StateUpdate(values={"bar": "error"}, as_node=None)]],
        )
    with pytest.raises(ValueError, match="No supersteps provided"):
        graph.bulk_update_state(config, [])
    with pytest.raises(ValueError, match="No updates provided"):
        graph.bulk_update_state(config, [[], []])
    with pytest.raises(InvalidUpdateError):
        graph.bulk_update_state(
            config, [[StateUpdate(values=None, as_node="__end__"), StateUpdate(values=None, as_node="__copy__")]]
        )
    assert len(list(graph.get_state_history(config))) == 2  # the refused calls wrote nothing
    with pytest.raises(EmptyUpdate):
        graph.bulk_update_state(config, [[]])


@pytest.mark.anyio
async def test_bulk_update_matches_langgraph_and_routes_from_every_writer(checkpointer: str) -> None:
    lg = pytest.importorskip("langgraph.graph")
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.types import StateUpdate as LGStateUpdate

    steps = [
        [({"foo": "start"}, "node_a")],
        [({"foo": "f"}, "node_a"), ({"baz": "b"}, "node_b")],
        [({"baz": "c"}, "node_a")],
    ]
    theirs = _build(lg.StateGraph).compile(checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": "1"}}
    theirs.bulk_update_state(cfg, [[LGStateUpdate(v, n) for v, n in step] for step in steps])
    ours = _build(StateGraph).compile(checkpointer=checkpointer)
    returned = await ours.abulk_update_state(cfg, [[StateUpdate(v, n) for v, n in step] for step in steps])

    def view(app: Any) -> list[Any]:
        return [(s.values, s.next, s.metadata["source"], s.metadata["step"]) for s in app.get_state_history(cfg)]

    assert view(ours) == view(theirs)
    assert returned == (await ours.aget_state(cfg)).config
    assert (await ours.ainvoke(None, cfg)) == theirs.invoke(None, cfg)
