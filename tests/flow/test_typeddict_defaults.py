"""A TypedDict state's class-level defaults (``class MyState(AgentState): count: int = 0``) are its keys' initial
values, in the state, input, output and node schemas alike (Agentflow's ``AgentState`` is a pydantic model whose
users write them; LangGraph ignores them and a node reading the key gets a ``KeyError``)."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest

from aether_nb.flow import END, START, AgentState, StateGraph


class Counted(AgentState):
    count: int = 0
    label: str = "none"


def test_an_agent_state_default_is_what_a_node_reads(checkpointer: str) -> None:
    seen: list[Any] = []

    def plan(state: Counted) -> dict[str, Any]:
        seen.append((state["count"], state["label"]))
        return {"count": state["count"] + 1}

    g = StateGraph(Counted)
    g.add_node("plan", plan)
    g.add_edge(START, "plan")
    g.add_edge("plan", END)
    app = g.compile(checkpointer=checkpointer)
    cfg = {"configurable": {"thread_id": "t"}}
    res = app.invoke({"messages": [("user", "hi")]}, cfg)
    assert seen == [(0, "none")]
    assert res["count"] == 1 and res["label"] == "none"
    assert app.get_state(cfg).values["count"] == 1
    app.invoke({"messages": [("user", "again")]}, cfg)  # (a default is the initial value, not a reset)
    assert seen[-1] == (1, "none")


def test_a_given_input_wins_over_the_default_and_a_reducer_key_starts_at_it(checkpointer: str) -> None:
    class S(TypedDict):
        total: Annotated[int, operator.add] = 10  # type: ignore[misc]
        items: list[str] = []  # type: ignore[misc]  # noqa: RUF012
        name: str = "anon"  # type: ignore[misc]

    def step(s: S) -> dict[str, Any]:
        return {"total": 1, "items": [*s["items"], s["name"]]}

    g = StateGraph(S)
    g.add_node("step", step)
    g.add_edge(START, "step")
    app = g.compile(checkpointer=checkpointer)
    assert app.invoke({"name": "ada"}, {"configurable": {"thread_id": "a"}}) == {
        "total": 11,
        "items": ["ada"],
        "name": "ada",
    }
    assert app.invoke({}, {"configurable": {"thread_id": "b"}})["items"] == ["anon"]
    assert S.__dict__["items"] == []  # (each thread has its own copy of a mutable default)


def test_defaults_of_input_output_and_node_schemas(checkpointer: str) -> None:
    class State(TypedDict):
        question: str
        answer: str

    class In(TypedDict):
        question: str
        lang: str = "en"  # type: ignore[misc]

    class Out(TypedDict):
        answer: str
        lang: str
        confidence: float = 0.5  # type: ignore[misc]

    class Private(TypedDict):
        question: str
        attempts: int = 3  # type: ignore[misc]

    def think(s: Private) -> dict[str, Any]:
        return {"answer": f"{s['question']}x{s['attempts']}"}

    def speak(s: State) -> dict[str, Any]:
        return {}

    g = StateGraph(State, input_schema=In, output_schema=Out)
    g.add_node("think", think, input_schema=Private)
    g.add_node("speak", speak)
    g.add_edge(START, "think")
    g.add_edge("think", "speak")
    app = g.compile(checkpointer=checkpointer)
    res = app.invoke({"question": "q"}, {"configurable": {"thread_id": "t"}})
    assert res == {"answer": "qx3", "lang": "en", "confidence": 0.5}


def test_a_default_that_cannot_be_copied_is_refused_when_the_graph_is_built() -> None:
    import threading

    import aether_nb as ag

    class S(TypedDict):
        lock: Any = threading.Lock()  # type: ignore[misc]

    with pytest.raises(ag.UsageError, match="default of state key 'lock'"):
        StateGraph(S)


def test_a_parent_typeddicts_defaults_are_inherited_where_python_keeps_the_parents(checkpointer: str) -> None:
    import typing_extensions

    class Base(typing_extensions.TypedDict):
        tries: int = 2  # type: ignore[misc]

    class Child(Base):
        name: str

    g = StateGraph(Child)
    g.add_node("n", lambda s: {"name": f"{s['name']}{s['tries']}"})
    g.add_edge(START, "n")
    assert g.compile(checkpointer=checkpointer).invoke({"name": "x"}, {"configurable": {"thread_id": "t"}}) == {
        "tries": 2,
        "name": "x2",
    }
