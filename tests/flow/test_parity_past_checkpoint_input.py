"""New input given at a past checkpoint (a snapshot's config from ``get_state_history``), run on LangGraph and on
aether_nb and compared: as LangGraph, input that is neither None nor a ``Command`` starts again from START on top of
that checkpoint's values, its pending tasks dropped — whether the thread finished, or paused at a breakpoint after
it. (At the thread's own head, a paused or failed turn goes on with its pending tasks: the README's table.)
Skipped without LangGraph.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest

import aether_nb.flow as ours
from tests.flow.conftest import lg_names, thread


class S(TypedDict):
    log: Annotated[list[str], operator.add]


def _graph(lib: Any, saver: Any, **compile_kw: Any) -> Any:
    g = lib.StateGraph(S)
    g.add_node("a", lambda s: {"log": ["a"]})
    g.add_node("b", lambda s: {"log": ["b"]})
    g.add_node("c", lambda s: {"log": ["c"]})
    g.add_edge(lib.START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", "c")
    return g.compile(checkpointer=saver, **compile_kw)


def _at(app: Any, nxt: tuple[str, ...]) -> Any:
    return next(h for h in app.get_state_history(thread()) if h.next == nxt)


def _libs() -> list[tuple[Any, Any]]:
    lg = lg_names()
    return [(lg, lg.InMemorySaver()), (ours, "memory")]


@pytest.mark.parametrize("nxt", [("b",), ("c",)])
def test_input_at_a_past_checkpoint_of_a_finished_thread_starts_from_start(nxt: tuple[str, ...]) -> None:
    results = []
    for lib, saver in _libs():
        app = _graph(lib, saver)
        app.invoke({"log": ["first"]}, thread())
        res = app.invoke({"log": ["new"]}, _at(app, nxt).config)
        st = app.get_state(thread())
        results.append((dict(res), st.values, st.next))
    assert results[1] == results[0]
    assert results[0][0]["log"][-3:] == ["a", "b", "c"]  # (START ran again: a, b and c after the new input)


def test_input_at_a_past_checkpoint_of_a_thread_paused_at_a_breakpoint_starts_from_start() -> None:
    results = []
    for lib, saver in _libs():
        app = _graph(lib, saver, interrupt_before=["c"])
        app.invoke({"log": ["first"]}, thread())  # paused before c
        res = app.invoke({"log": ["new"]}, _at(app, ("b",)).config)  # pauses before c again, on the branch
        st = app.get_state(thread())
        results.append((dict(res), st.values, st.next))
    assert results[1] == results[0]
    assert results[0][2] == ("c",)
