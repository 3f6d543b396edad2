"""A subgraph's ``interrupt()`` pauses the turn only once its sibling subgraphs ran to their end or asked too, as
LangGraph returns from a superstep once each of its tasks finished or paused (aether_nb/flow/at_rest.py).

Before, a call reported the pause once no task ran node code, which also held while a sibling subgraph was between
two of its supersteps (a ``stream(..., subgraphs=True)`` reader being asked for the next one, several tasks' ends
being gathered): the sibling ``x1 -> x2 -> x3`` was cut off after ``x1`` (``get_state`` showed nothing of it, ``x2``
next), ran ``x2`` again on the resume (an effect twice), and a sibling that asked too lost its question (one
interrupt in the pause instead of two). Each scenario runs on both libraries; aether_nb's runs many times, since
what went wrong depended on the order the loop ran things in.
"""

from __future__ import annotations

import asyncio
import itertools
import operator
from collections import Counter
from typing import Annotated, Any, TypedDict

import pytest

import aether_nb.flow as ours
from tests.flow.conftest import lg_names, thread

RUNS = 30


class C(TypedDict):
    foo: str
    inner: Annotated[list[str], operator.add]


class CO(TypedDict):
    inner: Annotated[list[str], operator.add]


def _saver(lib: Any) -> Any:
    return "memory" if lib is ours else lib.InMemorySaver()


def _parent(lib: Any, first: Any, second: Any, saver: Any = None) -> Any:
    pb = lib.StateGraph(C)
    pb.add_node("s1", first.compile())
    pb.add_node("s2", second.compile())
    pb.add_edge(lib.START, "s1")
    pb.add_edge(lib.START, "s2")
    return pb.compile(checkpointer=saver or _saver(lib))


def _asker(lib: Any, question: str = "q1") -> Any:
    b = lib.StateGraph(C, output_schema=CO)
    b.add_node("ask", lambda s: {"inner": [lib.interrupt(question)]})
    b.add_edge(lib.START, "ask")
    return b


def _chain(lib: Any, calls: list[str], names: tuple[str, ...], then_ask: str | None = None) -> Any:
    """A subgraph running ``names`` one after the other (each notes its call), then a node asking ``then_ask``."""
    b = lib.StateGraph(C, output_schema=CO)
    for n in names:
        b.add_node(n, lambda s, n=n: calls.append(n) or {"inner": [n]})
    steps = list(names)
    if then_ask is not None:
        b.add_node("ask2", lambda s: {"inner": [lib.interrupt(then_ask)]})
        steps.append("ask2")
    b.add_edge(lib.START, steps[0])
    for a, z in itertools.pairwise(steps):
        b.add_edge(a, z)
    return b


def _wide(lib: Any, calls: list[str]) -> Any:
    """A subgraph whose first superstep runs two tasks (their ends are gathered), then one more."""
    b = lib.StateGraph(C, output_schema=CO)
    for n in ("w1", "w2", "w3"):
        b.add_node(n, lambda s, n=n: calls.append(n) or {"inner": [n]})
    b.add_edge(lib.START, "w1")
    b.add_edge(lib.START, "w2")
    b.add_edge(["w1", "w2"], "w3")
    return b


def _first_call(lib: Any, g: Any, how: str, config: dict[str, Any]) -> None:
    inp = {"foo": "f"}
    if how == "invoke":
        g.invoke(inp, config)
    elif how == "stream":
        list(g.stream(inp, config, stream_mode="updates"))
    elif how == "stream_subgraphs":
        list(g.stream(inp, config, stream_mode="updates", subgraphs=True))
    elif how == "stream_values_subgraphs":
        list(g.stream(inp, config, stream_mode="values", subgraphs=True))
    elif how == "astream_subgraphs":

        async def drain() -> None:
            async for _ in g.astream(inp, config, stream_mode="updates", subgraphs=True):
                pass

        asyncio.run(drain())
    else:
        raise AssertionError(how)


def _sibling_runs_to_its_end(lib: Any, how: str, sibling: str, saver: Any = None, thread_id: str = "1") -> Any:
    calls: list[str] = []
    second = _chain(lib, calls, ("x1", "x2", "x3")) if sibling == "chain" else _wide(lib, calls)
    g = _parent(lib, _asker(lib), second, saver)
    config = thread(thread_id)
    _first_call(lib, g, how, config)
    st = g.get_state(config, subgraphs=True)
    before = sorted(calls)
    tasks = [(t.name, t.state.next if t.state else None) for t in st.tasks]
    res = g.invoke(lib.Command(resume="A"), config)
    return before, st.values, st.next, tasks, dict(res), sorted(calls)


HOWS = ["invoke", "stream", "stream_subgraphs", "stream_values_subgraphs", "astream_subgraphs"]


@pytest.mark.parametrize("sibling", ["chain", "wide"])
@pytest.mark.parametrize("how", HOWS)
def test_a_sibling_subgraph_runs_to_its_end_before_the_pause(how: str, sibling: str) -> None:
    """``s1`` asks while ``s2`` runs ``x1 -> x2 -> x3`` (or ``w1, w2 -> w3``): the pause comes with all of ``s2``
    written, ``s2`` done, and the resume runs none of its nodes again."""
    theirs = _sibling_runs_to_its_end(lg_names(), how, sibling)
    names = ["x1", "x2", "x3"] if sibling == "chain" else ["w1", "w2", "w3"]
    assert theirs[0] == names and theirs[2] == ("s1",) and theirs[-1] == names
    for _ in range(RUNS):
        assert _sibling_runs_to_its_end(ours, how, sibling) == theirs


@pytest.mark.parametrize("sibling", ["chain", "wide"])
def test_a_sibling_subgraph_runs_to_its_end_on_the_stores_checkpointer(checkpointer: str, sibling: str) -> None:
    """The same with the notebook's store, whose writes the engine awaits between a task's end and the next."""
    theirs = _sibling_runs_to_its_end(lg_names(), "stream_subgraphs", sibling)
    for i in range(RUNS // 3):  # (one thread each: the store keeps them all)
        assert _sibling_runs_to_its_end(ours, "stream_subgraphs", sibling, checkpointer, f"t{i}") == theirs


def _both_ask(lib: Any, how: str, sibling: str) -> tuple[str, ...]:
    calls: list[str] = []
    if sibling == "multi-step":
        second = _chain(lib, calls, ("x1", "x2"), then_ask="q2")
    else:
        second = _chain(lib, calls, (), then_ask="q2")
    g = _parent(lib, _asker(lib), second)
    _first_call(lib, g, how, thread())
    return tuple(sorted(i.value for i in g.get_state(thread()).interrupts))


@pytest.mark.parametrize("sibling", ["multi-step", "one-step"])
@pytest.mark.parametrize("how", HOWS)
def test_a_sibling_subgraph_s_question_joins_the_pause(how: str, sibling: str) -> None:
    """Both subgraphs ask (the second after one or two nodes): the pause carries both questions."""
    theirs = _both_ask(lg_names(), how, sibling)
    assert theirs == ("q1", "q2")
    seen = Counter(_both_ask(ours, how, sibling) for _ in range(RUNS))
    assert seen == Counter({theirs: RUNS})


def _shared_subgraph_flow(lib: Any) -> Any:
    """One subgraph ``c0 -> c1`` (c1 asks) used as two nodes joined by ``join``, answered round by round."""
    calls: list[str] = []

    def c1(s: Any) -> Any:
        calls.append("c1")
        return {"inner": [lib.interrupt("q-" + s["foo"])]}

    cb = lib.StateGraph(C, output_schema=CO)
    cb.add_node("c0", lambda s: {"inner": ["c0-" + s["foo"]]})
    cb.add_node("c1", c1)
    cb.add_edge(lib.START, "c0")
    cb.add_edge("c0", "c1")
    sub = cb.compile()
    pb = lib.StateGraph(C)
    pb.add_node("s1", sub)
    pb.add_node("s2", sub)
    pb.add_node("join", lambda s: {"inner": ["join:" + ",".join(s["inner"])]})
    pb.add_edge(lib.START, "s1")
    pb.add_edge(lib.START, "s2")
    pb.add_edge(["s1", "s2"], "join")
    g = pb.compile(checkpointer=_saver(lib))
    out: list[Any] = []
    inp: Any = {"foo": "f"}
    for rnd in range(4):
        list(g.stream(inp, thread(), stream_mode="updates", subgraphs=True))
        st = g.get_state(thread())
        out.append((len(calls), sorted(i.value for i in st.interrupts), st.next))
        if not st.interrupts:
            break
        inp = lib.Command(resume={i.id: f"A{rnd}" for i in st.interrupts})
    out.append(g.get_state(thread()).values)
    return out


def test_two_subgraphs_asking_are_answered_together_in_a_subgraphs_stream() -> None:
    theirs = _shared_subgraph_flow(lg_names())
    assert theirs[0] == (2, ["q-f", "q-f"], ("s1", "s2"))
    for _ in range(RUNS // 3):
        assert _shared_subgraph_flow(ours) == theirs


def test_a_task_waiting_for_a_max_concurrency_slot_does_not_hold_the_pause() -> None:
    """``max_concurrency=1``: the asking node holds the only slot while it waits, so its sibling waits for the
    answer; the pause is still reported (the turn does not hang on that sibling)."""
    calls: list[str] = []
    g = ours.StateGraph(C)
    g.add_node("a", lambda s: {"inner": ["a:" + ours.interrupt("qa")]})
    g.add_node("b", lambda s: calls.append("b") or {"inner": ["b"]})
    g.add_edge(ours.START, "a")
    g.add_edge(ours.START, "b")
    app = g.compile(checkpointer="memory")
    config = {**thread(), "max_concurrency": 1}
    res = app.invoke({"foo": "f"}, config)
    assert [i.value for i in res["__interrupt__"]] == ["qa"]
    assert sorted(app.invoke(ours.Command(resume="A"), config)["inner"]) == ["a:A", "b"]
    assert calls == ["b"]
