"""Editing a thread while a join (``add_edge(["x", "y2"], "join")``) waits, side by side with LangGraph (skipped
without it): the join stays next and runs, as LangGraph's barrier channel stays complete until the join's task
runs. aether_nb cleared the waiting edge when it scheduled the join, so an edit routed from the emptied edge and
the turn ended without the join."""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest

import aether_nb.flow as ours
from aether_nb.flow.checkpoint import thread_key
from aether_nb.runtime import session as session_mod
from aether_nb.store.duckdb import DuckDBStore
from tests.conftest import make_session
from tests.flow.conftest import lg_names, thread


class D(TypedDict):
    a: Annotated[list[str], operator.add]


def _join(lib: Any, calls: list[str], *, defer: bool = False) -> Any:
    """START -> x, START -> y -> y2, and ``join`` once both x and y2 finished."""

    def node(name: str) -> Any:
        def run(s: D) -> dict[str, Any]:
            calls.append(name)
            return {"a": [name]}

        return run

    g = lib.StateGraph(D)
    for n in ("x", "y", "y2"):
        g.add_node(n, node(n))
    if defer:
        g.add_node("join", node("join"), defer=True)
    else:
        g.add_node("join", node("join"))
    g.add_edge(lib.START, "x")
    g.add_edge(lib.START, "y")
    g.add_edge("y", "y2")
    g.add_edge(["x", "y2"], "join")
    return g


def _map_reduce(lib: Any, calls: list[str]) -> Any:
    """START -> plan (which Sends three ``work`` tasks) and START -> side; ``agg`` once work and side finished."""

    def node(name: str) -> Any:
        def run(s: Any) -> dict[str, Any]:
            calls.append(name)
            return {"a": [name if name != "work" else f"w{s}"]}

        return run

    g = lib.StateGraph(D)
    for n in ("plan", "side", "work", "agg"):
        g.add_node(n, node(n))
    g.add_edge(lib.START, "plan")
    g.add_edge(lib.START, "side")
    g.add_conditional_edges("plan", lambda s: [lib.Send("work", i) for i in range(3)])
    g.add_edge(["work", "side"], "agg")
    return g


def _edit_then_go_on(g: Any, calls: list[str], as_node: str | None) -> Any:
    c = thread()
    g.invoke({"a": []}, c)
    before = g.get_state(c).next
    g.update_state(c, {"a": ["edit"]}, as_node=as_node)
    after = g.get_state(c).next
    calls.clear()
    out = dict(g.invoke(None, c))
    return before, after, out, sorted(calls), g.get_state(c).next  # (a superstep's tasks run concurrently)


def _side_by_side(build: Any, run: Any, **compile_kw: Any) -> tuple[Any, Any]:
    lg = lg_names()
    lg_calls: list[str] = []
    our_calls: list[str] = []
    theirs = run(build(lg, lg_calls).compile(checkpointer=lg.InMemorySaver(), **compile_kw), lg_calls)
    mine = run(build(ours, our_calls).compile(checkpointer="memory", **compile_kw), our_calls)
    return theirs, mine


@pytest.mark.parametrize("as_node", ["x", "y2", None, "join", "y"])
def test_an_edit_at_a_breakpoint_before_a_join_keeps_the_join_next_as_langgraph(as_node: str | None) -> None:
    """``interrupt_before=["join"]``, then ``update_state`` as a source of the join, as none (the last writer),
    as the join itself, or as ``y`` (which routes ``y2`` again): the join is still next and runs, as LangGraph's.
    aether_nb had ``next == ()`` (``("y2",)`` as y) and the join never ran."""
    theirs, mine = _side_by_side(_join, lambda g, calls: _edit_then_go_on(g, calls, as_node), interrupt_before=["join"])
    assert mine == theirs
    assert "join" in theirs[1]


@pytest.mark.parametrize("as_node", ["y2", None])
def test_an_edit_at_a_breakpoint_after_the_last_source_keeps_the_join_next_as_langgraph(as_node: str | None) -> None:
    """``interrupt_after=["y2"]`` (the join's last source), then an edit as y2: the join runs, as LangGraph's."""
    theirs, mine = _side_by_side(_join, lambda g, calls: _edit_then_go_on(g, calls, as_node), interrupt_after=["y2"])
    assert mine == theirs
    assert theirs[3] == ["join"]


@pytest.mark.parametrize("as_node", ["x", "y"])
def test_an_edit_before_a_deferred_join_keeps_it_next_as_langgraph(as_node: str) -> None:
    """A ``defer=True`` join released (nothing else was left) then edited around: it stays next beside what the
    edit routes to, as LangGraph's."""

    def build(lib: Any, calls: list[str]) -> Any:
        return _join(lib, calls, defer=True)

    theirs, mine = _side_by_side(build, lambda g, calls: _edit_then_go_on(g, calls, as_node), interrupt_before=["join"])
    assert mine == theirs
    assert "join" in theirs[1]


@pytest.mark.parametrize("as_node", ["work", "side"])
def test_an_edit_before_a_map_reduce_aggregator_behind_a_join_keeps_it_next_as_langgraph(as_node: str) -> None:
    """Three Sent ``work`` tasks and ``side`` joined into ``agg``, paused before it: an edit as either source
    keeps ``agg`` next, and it runs once, as LangGraph's."""
    theirs, mine = _side_by_side(
        _map_reduce, lambda g, calls: _edit_then_go_on(g, calls, as_node), interrupt_before=["agg"]
    )
    assert mine == theirs
    assert theirs[3] == ["agg"]


def test_an_edit_of_a_past_checkpoint_whose_next_task_is_the_join_runs_it_as_langgraph() -> None:
    """A finished thread, then ``update_state`` on its checkpoint before the join (a branch): the join is next and
    runs on the branch, as LangGraph's."""

    def run(g: Any, calls: list[str]) -> Any:
        c = thread()
        g.invoke({"a": []}, c)
        past = next(s for s in g.get_state_history(c) if s.next == ("join",))
        branch = g.update_state(past.config, {"a": ["edit"]})
        calls.clear()
        return g.get_state(branch).next, dict(g.invoke(None, branch)), calls

    theirs, mine = _side_by_side(_join, run)
    assert mine == theirs
    assert theirs[2] == ["join"]


def test_clearing_the_tasks_before_a_join_drops_it_as_langgraph() -> None:
    """``update_state(c, None, as_node=END)`` before the join, then an edit as its source: the join was dropped
    with the tasks (LangGraph consumes its barrier with them), so nothing is next."""

    def run(g: Any, calls: list[str]) -> Any:
        c = thread()
        g.invoke({"a": []}, c)
        g.update_state(c, None, as_node="__end__")
        g.update_state(c, {"a": ["edit"]}, as_node="x")
        calls.clear()
        return g.get_state(c).next, dict(g.invoke(None, c)), calls

    theirs, mine = _side_by_side(_join, run, interrupt_before=["join"])
    assert mine == theirs


def test_a_join_paused_before_by_older_aether_nb_still_runs_once_in_a_new_session(tmp_path: Path) -> None:
    """A checkpoint written before this fix held the waiting edge cleared as soon as the join was scheduled: the
    thread, paused before the join, goes on in a new session (a new process's) from the DuckDB store and runs the
    join once; one paused by this version (its edge kept complete) runs it once too, after an edit as well."""
    db = str(tmp_path / "f.duckdb")
    for old_style in (True, False):
        s, _ = make_session(DuckDBStore(db))
        previous = session_mod.set_default_session(s)
        calls: list[str] = []
        name = f"join_{old_style}"
        try:
            g = _join(ours, calls).compile(name=name, interrupt_before=["join"])
            c = thread()
            g.invoke({"a": []}, c)
            cker = g.checkpointer_for(s)
            head = cker.latest(thread_key(c["configurable"]["thread_id"], ""))
            assert head is not None and [t["node"] for t in head.tasks] == ["join"]
            assert head.barriers == {"x+y2>join": ["x", "y2"]}  # kept complete while the join waits
            if old_style:
                cker.replace(thread_key(c["configurable"]["thread_id"], ""), _cleared(head))
        finally:
            session_mod.set_default_session(previous)
            s.store.close()
        s, _ = make_session(DuckDBStore(db))
        previous = session_mod.set_default_session(s)
        try:
            calls.clear()
            g = _join(ours, calls).compile(name=name, interrupt_before=["join"])
            assert g.get_state(c).next == ("join",)
            if not old_style:
                g.update_state(c, {"a": ["edit"]}, as_node="x")
            out = dict(g.invoke(None, c))
            assert calls == ["join"]
            assert out["a"] == ["x", "y", "y2", *([] if old_style else ["edit"]), "join"]
            assert g.get_state(c).next == ()
        finally:
            session_mod.set_default_session(previous)
            s.store.close()


def _cleared(cp: Any) -> Any:
    """``cp`` with its waiting edges as aether_nb stored them before this fix (emptied once the join was next)."""
    import dataclasses

    return dataclasses.replace(cp, barriers={})
