"""A graph compiled without ``name=`` is ``<State>_<hash of its node names>``, so a node added gives it a new name
and the threads of the graph it was are not its own: a call that finds such a thread missing says where it is (its
earlier default name) and that ``compile(name=...)`` goes on with it, which then resumes it as LangGraph would."""

from __future__ import annotations

import operator
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest

import aether_nb as ag
from aether_nb.flow import START, Command, StateGraph, interrupt
from aether_nb.runtime import session as session_mod
from tests.conftest import make_session


class S(TypedDict):
    a: Annotated[list[str], operator.add]


@pytest.fixture
def store_session(tmp_path: Path) -> Iterator[None]:
    from aether_nb.store.duckdb import DuckDBStore

    s, _ = make_session(DuckDBStore(str(tmp_path / "flow.duckdb")))
    previous = session_mod.set_default_session(s)
    try:
        yield
    finally:
        session_mod.set_default_session(previous)
        s.store.close()


def build(*, extra: bool = False) -> StateGraph:
    def ask(s: S) -> dict[str, Any]:
        return {"a": ["ask:" + interrupt("approve?")]}

    g = StateGraph(S)
    g.add_node("p", lambda s: {"a": ["p"]})
    g.add_node("ask", ask)
    g.add_edge(START, "p")
    g.add_edge("p", "ask")
    if extra:
        g.add_node("log", lambda s: {"a": ["log"]})
        g.add_edge("ask", "log")
    return g


CFG = {"configurable": {"thread_id": "ticket-42"}}


def test_the_default_name_is_unchanged() -> None:
    # (threads already stored under a default name must keep being found by the same graph)
    assert build().compile(checkpointer="memory").name == "S_5f3d97"


def test_a_thread_paused_before_a_node_was_added_is_found_and_resumed_with_name(store_session: None) -> None:
    first = build().compile()
    assert "__interrupt__" in first.invoke({"a": []}, CFG)
    grown = build(extra=True).compile()
    assert grown.name != first.name
    with pytest.warns(UserWarning, match=f"waits at interrupt\\(\\) under '{first.name}'.*compile\\(name="):
        assert grown.get_state(CFG).values == {}
    with pytest.raises(ag.UsageError, match=f"Nothing to resume.*under '{first.name}'.*compile\\(name='{first.name}'"):
        grown.invoke(Command(resume="yes"), CFG)
    with pytest.raises(ag.UsageError, match=f"is new.*under '{first.name}'"):
        grown.invoke(Command(update={"a": ["x"]}), CFG)
    renamed = build(extra=True).compile(name=first.name)  # (what the message says to do)
    assert renamed.get_state(CFG).values == {"a": ["p"]}
    assert renamed.invoke(Command(resume="yes"), CFG) == {"a": ["p", "ask:yes", "log"]}


def test_a_finished_thread_of_another_graph_of_the_schema_gives_no_warning(store_session: None) -> None:
    first = build().compile()
    first.invoke({"a": []}, CFG)
    first.invoke(Command(resume="yes"), CFG)
    other = build(extra=True).compile()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert other.get_state(CFG).values == {}  # (two graphs of one schema may share thread ids)
    with pytest.raises(ag.UsageError, match=f"Nothing to resume.*is kept under '{first.name}'"):
        other.invoke(Command(resume="yes"), CFG)


def test_a_named_graph_gets_no_hint(store_session: None) -> None:
    build().compile().invoke({"a": []}, CFG)
    named = build(extra=True).compile(name="mine")
    with pytest.raises(ag.UsageError, match="Nothing to resume") as caught:
        named.invoke(Command(resume="yes"), CFG)
    assert "under" not in str(caught.value)
