"""Single-value states (``StateGraph(Annotated[list, operator.add])``, ``StateGraph(dict)``), as LangGraph runs
them: a pause at ``interrupt()`` shows in ``invoke``'s result, such a graph works as a subgraph node, and
``StateGraph(dict)`` is one last-value dict (no ``messages`` key)."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest

from aether_nb.flow import START, Command, Interrupt, StateGraph, interrupt
from tests.flow.conftest import AnyStr, both, thread

pytestmark = pytest.mark.anyio

R = Annotated[list, operator.add]


async def test_a_pause_shows_in_the_result_of_a_single_value_graph(checkpointer: str) -> None:
    def ask(state: list) -> list:
        return [interrupt("q?")]

    b = StateGraph(R)
    b.add_node("ask", ask)
    b.add_edge(START, "ask")
    g = b.compile(checkpointer=checkpointer)
    res = await g.ainvoke(["0"], thread())
    assert res == {"__interrupt__": [Interrupt("q?", AnyStr())]}  # (LangGraph's: the list value is left out)
    assert await g.ainvoke(Command(resume="a"), thread()) == ["0", "a"]


async def test_a_pause_of_a_dict_valued_graph_adds_the_interrupts(checkpointer: str) -> None:
    b = StateGraph(dict)
    b.add_node("ask", lambda s: {**s, "answer": interrupt("q?")})
    b.add_edge(START, "ask")
    g = b.compile(checkpointer=checkpointer)
    res = await g.ainvoke({"k": 1}, thread())
    assert res == {"k": 1, "__interrupt__": [Interrupt("q?", AnyStr())]}
    assert await g.ainvoke(Command(resume="a"), thread()) == {"k": 1, "answer": "a"}


async def test_a_single_value_subgraph_node(checkpointer: str) -> None:
    child = StateGraph(R)
    child.add_node("s", lambda s: ["s" + str(len(s))])
    child.add_edge(START, "s")
    parent = StateGraph(R)
    parent.add_node("sub", child.compile())
    parent.add_edge(START, "sub")
    g = parent.compile(checkpointer=checkpointer)
    assert await g.ainvoke(["x"], thread()) == ["x", "x", "s1"]  # (LangGraph 1.2.24's)


def test_state_graph_of_dict_is_one_last_value_dict_as_langgraphs() -> None:
    def build(lib: Any) -> Any:
        g = lib.StateGraph(dict)
        g.add_node("a", lambda s: {"x": s.get("x", 0) + 1, "y": "a"})
        g.add_node("b", lambda s: {"x": s["x"] + 10})
        g.add_edge(lib.START, "a")
        g.add_edge("a", "b")
        return g

    def run(lib: Any, app: Any) -> Any:
        out = [app.invoke({"x": 1, "z": 3}, thread("1")), app.get_state(thread("1")).values]
        out.append(list(app.stream({"x": 5}, thread("2"))))
        out.append(app.invoke({"x": 5, "messages": [1]}, thread("3")))
        return out

    theirs, ours = both(build, run)
    assert ours == theirs
    assert ours[0] == {"x": 12}  # no messages key, the whole dict replaced by each write


def test_a_node_may_return_a_tuple_of_commands() -> None:
    class T(TypedDict):
        log: Annotated[list, operator.add]

    def build(lib: Any) -> Any:
        g = lib.StateGraph(T)
        g.add_node("a", lambda s: (lib.Command(update={"log": ["a1"]}), lib.Command(update={"log": ["a2"]}, goto="b")))
        g.add_node("b", lambda s: {"log": ["b"]})
        g.add_edge(lib.START, "a")
        return g

    def run(lib: Any, app: Any) -> Any:
        return app.invoke({"log": []}, thread())

    theirs, ours = both(build, run)
    assert dict(ours) == theirs == {"log": ["a1", "a2", "b"]}
