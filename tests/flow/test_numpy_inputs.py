"""NumPy values given to the state-graph API (found by an API fuzzer): an array where a name or a flag belongs is a
UsageError saying what to pass, not the bare ValueError of its truth value (``The truth value of an array ... is
ambiguous``); an array of node functions is a sequence like any other."""

from __future__ import annotations

from typing import Any, TypedDict

import numpy as np
import pytest

from aether_nb.errors import UsageError
from aether_nb.flow import END, START, Command, StateGraph, StateUpdate
from aether_nb.runtime.session import Session
from tests.conftest import arun


class State(TypedDict):
    x: int


def plus_one(s: State) -> dict[str, Any]:
    return {"x": s["x"] + 1}


def double(s: State) -> dict[str, Any]:
    return {"x": s["x"] * 2}


def app() -> Any:
    g = StateGraph(State).add_node("a", plus_one).add_node("b", double)
    return g.add_edge(START, "a").add_edge("a", "b").add_edge("b", END).compile(checkpointer="memory")


def thread(t: str, **more: Any) -> dict[str, Any]:
    return {"configurable": {"thread_id": t, **more}}


@pytest.mark.parametrize("as_node", [np.array(["a", "b"]), np.array(["a"])])
def test_an_array_as_node_is_a_usage_error_naming_the_nodes(session: Session, as_node: Any) -> None:
    graph = app()

    async def main() -> None:
        await graph.ainvoke({"x": 1}, thread("t"))
        with pytest.raises(UsageError, match=r"as_node= takes one node's name \(a string\) or None.*\['a', 'b'\]"):
            await graph.aupdate_state(thread("t"), {"x": 5}, as_node=as_node)
        with pytest.raises(UsageError, match="as_node= takes one node's name"):
            await graph.abulk_update_state(thread("t"), [[StateUpdate({"x": 1}, as_node), StateUpdate({"x": 2}, "a")]])
        assert (await graph.aget_state(thread("t"))).values == {"x": 4}  # nothing was written

    arun(main())


def test_an_array_goto_in_update_state_is_a_usage_error_and_its_command_prints(session: Session) -> None:
    graph = app()
    command = Command(goto=np.array(["a", "b"]))
    assert repr(command) == "Command(goto=array(['a', 'b'], dtype='<U1'))"

    async def main() -> None:
        await graph.ainvoke({"x": 1}, thread("t"))
        with pytest.raises(UsageError, match=r"Command\(goto=...\) takes a node name, a Send or a list of them"):
            await graph.aupdate_state(thread("t"), command, as_node="a")

    arun(main())


@pytest.mark.parametrize(
    ("option", "match"),
    [
        ({"durability": np.array(["sync", "exit"])}, "durability must be one of"),
        ({"version": np.array(["v1", "v2"])}, "version must be one of"),
    ],
)
def test_array_call_options_are_usage_errors(session: Session, option: dict[str, Any], match: str) -> None:
    with pytest.raises(UsageError, match=match):
        arun(app().ainvoke({"x": 1}, thread("t"), **option))


def test_an_array_checkpoint_ns_is_a_usage_error(session: Session) -> None:
    with pytest.raises(UsageError, match=r"config\['checkpoint_ns'\] must be a string"):
        arun(app().aget_state(thread("t", checkpoint_ns=np.array(["x", "y"]))))


def test_an_array_defer_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"defer=...\) takes True or False"):
        StateGraph(State).add_node("a", plus_one, defer=np.array([True, False]))


def test_add_sequence_takes_an_array_of_node_functions(session: Session) -> None:
    graph = StateGraph(State).add_sequence(np.array([plus_one, double])).add_edge(START, "plus_one").compile()
    assert arun(graph.ainvoke({"x": 1})) == {"x": 4}
    with pytest.raises(UsageError, match="needs at least one node"):
        StateGraph(State).add_sequence(np.array([]))
