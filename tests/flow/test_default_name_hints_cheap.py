"""A default-named graph's hint about its earlier name: given at a breakpoint pause too, and cheap to look for.

Found in the thirty-second session: ``app.invoke(None, config)`` (LangGraph's way on from a breakpoint) on a thread
paused under the graph's earlier default name said only "thread 't1' is new", with no hint where it was, while
``Command(resume=)`` and ``get_state`` gave one (which said "waits at interrupt()" for a breakpoint pause); and
each ``get_state`` of a thread the graph does not hold read every run in the store (100 ms at 1600 runs).
"""

from __future__ import annotations

import operator
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest

import aether_nb as ag
from aether_nb.flow import START, StateGraph
from aether_nb.runtime import session as session_mod
from tests.conftest import make_session


class S(TypedDict):
    a: Annotated[list[str], operator.add]


@pytest.fixture
def store_session(tmp_path: Path) -> Iterator[Any]:
    from aether_nb.store.duckdb import DuckDBStore

    s, _ = make_session(DuckDBStore(str(tmp_path / "flow.duckdb")))
    previous = session_mod.set_default_session(s)
    try:
        yield s
    finally:
        session_mod.set_default_session(previous)
        s.store.close()


def build(*, extra: bool = False) -> StateGraph:
    g = StateGraph(S)
    g.add_node("a", lambda s: {"a": ["a"]})
    g.add_node("b", lambda s: {"a": ["b"]})
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    if extra:
        g.add_node("c", lambda s: {"a": ["c"]})
        g.add_edge("b", "c")
    return g


CFG = {"configurable": {"thread_id": "t1"}}


def test_going_on_from_a_breakpoint_under_the_earlier_name_says_where_the_thread_waits(store_session: Any) -> None:
    first = build().compile(interrupt_before=["b"])
    assert first.invoke({"a": []}, CFG).status == "interrupted"
    grown = build(extra=True).compile(interrupt_before=["b"])
    with pytest.raises(ag.UsageError, match=f"is new.*waits at a breakpoint under '{first.name}'.*compile\\(name="):
        grown.invoke(None, CFG)
    with pytest.warns(UserWarning, match=f"waits at a breakpoint under '{first.name}'"):
        assert grown.get_state(CFG).values == {}


def test_get_state_of_threads_the_graph_does_not_hold_reads_the_runs_once(
    store_session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = build().compile()
    for i in range(5):
        first.invoke({"a": []}, {"configurable": {"thread_id": f"done-{i}"}})
    grown = build(extra=True).compile()
    store = store_session.store
    listed: list[int] = []
    real = store.list_runs

    def counted(*args: Any, **kwargs: Any) -> Any:
        listed.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "list_runs", counted)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for i in range(50):
            assert grown.get_state({"configurable": {"thread_id": f"new-{i}"}}).values == {}
    assert len(listed) <= 1, f"{len(listed)} reads of every run for 50 get_state calls"
    # a thread the earlier graph starts afterwards (in this process) is still found
    paused = build().compile(interrupt_before=["b"])
    assert paused.name == first.name
    paused.invoke({"a": []}, {"configurable": {"thread_id": "later"}})
    with pytest.warns(UserWarning, match=f"under '{first.name}'"):
        grown.get_state({"configurable": {"thread_id": "later"}})
