"""An edit that routes the thread elsewhere while a superstep waits at an ``interrupt()``, side by side with
LangGraph (skipped without it): the paused superstep is dropped (its question is no longer shown, an answer does
not reach it, its finished siblings' writes are not applied) and the head's tasks run on the next call; the run
that waited ends (stopped, nothing left waiting)."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest

import aether_nb.flow as ours
from aether_nb.errors import UsageError
from tests.conftest import arun
from tests.flow.conftest import lg_names, thread


class Log(TypedDict):
    log: Annotated[list[str], operator.add]
    v: str


def _xyz(lib: Any, calls: list[str], *, x_to: str = "") -> Any:
    """``x``, ``y`` and ``z`` in one superstep from START, ``y`` asks; ``x`` routes to ``x_to`` (``w``: a node of
    its own; ``y``: the asking node again), else nowhere."""

    def node(name: str) -> Any:
        def run(s: Log) -> dict[str, Any]:
            calls.append(name)
            if name == "y":
                return {"log": [lib.interrupt("q")]}
            return {"log": [name]}

        return run

    b = lib.StateGraph(Log)
    for n in "xyz":
        b.add_node(n, node(n))
        b.add_edge(lib.START, n)
    if x_to == "w":
        b.add_node("w", node("w"))
    if x_to:
        b.add_edge("x", x_to)
    return b


def _edit_then_go_on(lib: Any, g: Any, calls: list[str]) -> Any:
    c = thread()
    g.invoke({"log": []}, c)
    g.update_state(c, {"v": "u"}, as_node="x")
    s = g.get_state(c)
    calls.clear()
    out = dict(g.invoke(None, c))
    out["__interrupt__"] = [i.value for i in out.get("__interrupt__", [])]
    return (
        s.next,
        [i.value for i in s.interrupts],
        [(t.name, [i.value for i in t.interrupts]) for t in s.tasks],
        out,
        calls,
    )


def _side_by_side(run: Any, **kw: Any) -> tuple[Any, Any]:
    lg = lg_names()
    lg_calls: list[str] = []
    our_calls: list[str] = []
    theirs = run(lg, _xyz(lg, lg_calls, **kw).compile(checkpointer=lg.InMemorySaver()), lg_calls)
    mine = run(ours, _xyz(ours, our_calls, **kw).compile(checkpointer="memory"), our_calls)
    return theirs, mine


@pytest.mark.parametrize("x_to", ["", "w", "y"], ids=["to-nothing", "to-w", "to-y"])
def test_an_edit_routing_elsewhere_while_a_sibling_asks_drops_the_paused_superstep_as_langgraph(x_to: str) -> None:
    """``update_state(c, v, as_node="x")`` while ``y`` of the superstep (x, y, z) waits: LangGraph's head has x's
    routes as its tasks (nothing, ``w``, or ``y`` anew), no question, and the next call runs only those (``y``
    asks again). aether_nb showed y's old question on the new ``y`` task."""
    theirs, mine = _side_by_side(_edit_then_go_on, x_to=x_to)
    assert mine == theirs
    assert mine[1] == []


def test_an_answer_after_an_edit_routing_to_nothing_ends_as_langgraph() -> None:
    """Then ``Command(resume=...)``: LangGraph runs nothing of the old superstep (``{'log': [], 'v': 'u'}``).
    aether_nb resumed it (y answered, x's and z's writes applied: ``['x', 'Y!', 'z']``); now the answer reaches
    nothing (aether_nb says so, with a ``UsageError``: nothing waits for an answer, see README "Differences")."""

    def run(lib: Any, g: Any, calls: list[str]) -> Any:
        c = thread()
        g.invoke({"log": []}, c)
        g.update_state(c, {"v": "u"}, as_node="x")
        calls.clear()
        try:
            g.invoke(lib.Command(resume="Y!"), c)
        except UsageError as e:  # (aether_nb's documented answer to a resume with nothing waiting)
            assert lib is ours and e.code == "no_interrupt"
        s = g.get_state(c)
        return s.values, s.next, list(s.interrupts), calls

    theirs, mine = _side_by_side(run)
    assert mine == theirs == ({"log": [], "v": "u"}, (), [], [])


def test_an_answer_after_such_an_edit_does_not_reach_the_dropped_question() -> None:
    """The old question is not answered by a ``Command(resume=...)`` (LangGraph ignores the answer; aether_nb
    says nothing waits for one, see README "Differences"), and the run that waited has ended: stopped, with no
    pause left open."""
    calls: list[str] = []
    g = _xyz(ours, calls).compile(checkpointer="memory")
    c = thread()
    g.invoke({"log": []}, c)
    run = g.current_run(g.session, "1")
    assert run is not None and [i.value for _, i in g.interrupts_of(run)] == ["q"]
    g.update_state(c, {"v": "u"}, as_node="x")
    calls.clear()
    with pytest.raises(UsageError) as e:
        g.invoke(ours.Command(resume="Y!"), c)
    assert e.value.code == "no_interrupt"
    assert calls == []
    assert run.done and run.status == "cancelled" and g.interrupts_of(run) == []
    assert g.get_state(c).values == {"log": [], "v": "u"} and g.get_state(c).interrupts == ()


def test_an_edit_keeping_the_paused_tasks_still_lets_the_answer_reach_the_question() -> None:
    """An edit as the asking node's predecessor that routes to the same tasks keeps the paused run (see README
    "Differences"): the answer reaches the question and the run goes on from the edited state."""
    calls: list[str] = []
    b = ours.StateGraph(Log)

    def a(s: Log) -> dict[str, Any]:
        return {"log": ["a"]}

    def ask(s: Log) -> dict[str, Any]:
        calls.append("ask")
        return {"v": ours.interrupt("q"), "log": ["ask"]}

    b.add_node("a", a)
    b.add_node("ask", ask)
    b.add_edge(ours.START, "a")
    b.add_edge("a", "ask")
    g = b.compile(checkpointer="memory")
    c = thread()
    g.invoke({"log": []}, c)
    g.update_state(c, {"log": ["edit"]}, as_node="a")
    assert dict(g.invoke(ours.Command(resume="z"), c)) == {"log": ["a", "edit", "ask"], "v": "z"}


def test_the_dropped_question_is_not_shown_while_the_waiting_run_ends() -> None:
    """Right after ``aupdate_state`` (the stopped run may not have unwound yet) the head shows no question, as
    LangGraph's; the next call runs the head's task, which asks again."""
    calls: list[str] = []
    g = _xyz(ours, calls, x_to="y").compile(checkpointer="memory")
    c = thread()

    async def scenario() -> Any:
        await g.ainvoke({"log": []}, c)
        await g.aupdate_state(c, {"v": "u"}, as_node="x")
        s = await g.aget_state(c)
        out = await g.ainvoke(None, c)
        return s.next, s.interrupts, [t.interrupts for t in s.tasks], [i.value for i in out["__interrupt__"]]

    assert arun(scenario()) == (("y",), (), [()], ["q"])
    run = g.current_run(g.session, "1")
    assert run is not None and run.status == "waiting"
