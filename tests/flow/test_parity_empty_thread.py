"""Two small points run on LangGraph and on aether_nb: ``get_state`` of a thread with no checkpoint yet (no
``created_at``, no metadata, as LangGraph's), and a builtin reducer without a signature (``max``), which LangGraph
refuses when the graph is built and aether_nb calls as ``max(current, update)`` (the README's table says so).
Skipped without LangGraph.
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

import pytest

import aether_nb.flow as ours
from tests.flow.conftest import lg_names, thread


class S(TypedDict):
    x: int


def _app(lib: Any, saver: Any) -> Any:
    g = lib.StateGraph(S)
    g.add_node("n", lambda s: {"x": 1})
    g.add_edge(lib.START, "n")
    return g.compile(checkpointer=saver)


def _empty_snapshot(lib: Any, saver: Any) -> Any:
    st = _app(lib, saver).get_state(thread("never-run"))
    return st.values, st.next, st.config, st.metadata, st.created_at, st.parent_config, st.tasks, st.interrupts


def test_get_state_of_a_thread_without_checkpoints_is_langgraphs() -> None:
    lg = lg_names()
    theirs = _empty_snapshot(lg, lg.InMemorySaver())
    assert theirs[3] is None and theirs[4] is None
    assert _empty_snapshot(ours, "memory") == theirs
    st = _app(ours, "memory").get_state(thread("new"))
    assert (st.step, st.source, st.status) == (-1, "", "new")


class Best(TypedDict):
    best: Annotated[float, max]


def test_a_builtin_reducer_without_a_signature_is_accepted_here_and_refused_by_langgraph() -> None:
    lg = lg_names()
    with pytest.raises(ValueError):
        lg.StateGraph(Best)
    g = ours.StateGraph(Best)
    g.add_node("n", lambda s: {"best": 2.0})
    g.add_edge(ours.START, "n")
    assert g.compile(checkpointer="memory").invoke({"best": 5.0}, thread()) == {"best": 5.0}
