"""Calls that go on with a thread's pending tasks, as LangGraph's "resuming" calls (``ainvoke(None)``, a
``Command``): they pass an ``interrupt_before`` breakpoint before those tasks, and ``ainvoke(None)`` at an
``interrupt()`` pause runs the paused node again without an answer."""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, TypedDict

import pytest

from aether_nb.flow import START, Command, Interrupt, Send, StateGraph, interrupt
from tests.flow.conftest import AnyStr, thread

pytestmark = pytest.mark.anyio


class S(TypedDict):
    log: Annotated[list, operator.add]
    x: str


async def test_update_state_then_none_runs_the_breakpoint_node(checkpointer: str) -> None:
    b = StateGraph(S)
    b.add_node("a", lambda s: {"x": "a", "log": ["a"]})
    b.add_node("b", lambda s: {"log": ["b:" + s["x"]]})
    b.add_edge(START, "a")
    b.add_edge("a", "b")
    g = b.compile(checkpointer=checkpointer, interrupt_before=["b"])
    await g.ainvoke({"log": []}, thread())
    await g.ainvoke(None, thread())  # paused before b, then b ran: the turn ended
    await g.aupdate_state(thread(), {"x": "after"}, as_node="a")  # b is next again
    res = await g.ainvoke(None, thread())
    assert dict(res) == {"log": ["a", "b:a", "b:after"], "x": "after"}  # (LangGraph 1.2.24's)
    assert (await g.aget_state(thread())).next == ()


async def test_retry_after_a_failure_past_the_breakpoint_runs_the_node(checkpointer: str) -> None:
    calls = {"b": 0}

    def flaky(s: S) -> dict[str, Any]:
        calls["b"] += 1
        if calls["b"] == 1:
            raise ConnectionError("fail once")
        return {"log": ["b"]}

    b = StateGraph(S)
    b.add_node("a", lambda s: {"log": ["a"]})
    b.add_node("b", flaky)
    b.add_edge(START, "a")
    b.add_edge("a", "b")
    g = b.compile(checkpointer=checkpointer, interrupt_before=["b"])
    await g.ainvoke({"log": []}, thread())
    with pytest.raises(ConnectionError):
        await g.ainvoke(None, thread())  # past the breakpoint, b fails
    res = await g.ainvoke(None, thread())
    assert dict(res) == {"log": ["a", "b"]} and calls["b"] == 2
    assert (await g.aget_state(thread())).next == ()


async def test_goto_on_a_finished_thread_passes_the_breakpoint(checkpointer: str) -> None:
    b = StateGraph(S)
    b.add_node("a", lambda s: {"log": ["a"]})
    b.add_node("b", lambda s: {"log": ["b"]})
    b.add_edge(START, "a")
    g = b.compile(checkpointer=checkpointer, interrupt_before=["b"])
    await g.ainvoke({"log": []}, thread())
    res = await g.ainvoke(Command(goto="b"), thread())
    assert dict(res) == {"log": ["a", "b"]}


async def test_a_breakpoint_after_the_first_superstep_still_pauses(checkpointer: str) -> None:
    b = StateGraph(S)
    b.add_node("a", lambda s: {"log": ["a"]})
    b.add_node("b", lambda s: {"log": ["b"]})
    b.add_edge(START, "a")
    b.add_edge("a", "b")
    g = b.compile(checkpointer=checkpointer, interrupt_before=["b"])
    await g.ainvoke({"log": []}, thread())
    await g.aupdate_state(thread(), {"log": ["edit"]}, as_node=START)  # a is next: b's breakpoint is ahead
    res = await g.ainvoke(None, thread())
    assert dict(res) == {"log": ["a", "edit", "a"]} and res.next == ("b",)


async def test_none_at_an_interrupt_runs_the_paused_node_again(checkpointer: str) -> None:
    calls = {"n": 0}

    def n(s: S) -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] == 1:
            interrupt("q")
        return {"log": ["done"]}

    b = StateGraph(S)
    b.add_node("n", n)
    b.add_edge(START, "n")
    g = b.compile(checkpointer=checkpointer)
    first = await g.ainvoke({"log": []}, thread())
    assert first["__interrupt__"] == [Interrupt("q", AnyStr())]
    res = await g.ainvoke(None, thread())
    assert dict(res) == {"log": ["done"]} and calls["n"] == 2  # (LangGraph's)
    assert res.status == "completed"


async def test_none_at_an_interrupt_that_asks_again_pauses_again(checkpointer: str) -> None:
    def n(s: S) -> dict[str, Any]:
        return {"log": [interrupt("q")]}

    b = StateGraph(S)
    b.add_node("n", n)
    b.add_edge(START, "n")
    g = b.compile(checkpointer=checkpointer)
    await g.ainvoke({"log": []}, thread())
    res = await g.ainvoke(None, thread())
    assert res["__interrupt__"] == [Interrupt("q", AnyStr())] and res.status == "interrupted"
    done = await g.ainvoke(Command(resume="yes"), thread())
    assert dict(done) == {"log": ["yes"]}


async def test_send_dedupe_on_resume(checkpointer: str) -> None:
    """LangGraph's test_send_dedupe_on_resume (test_pregel_async.py): ``ainvoke(None)`` at the interrupt runs the
    node that asked again, not its finished siblings."""

    class InterruptOnce:
        ticks = 0

        def __call__(self, state: Any) -> Any:
            self.ticks += 1
            if self.ticks == 1:
                interrupt("Bahh")
            return ["|".join(("flaky", str(state)))]

    class Node:
        def __init__(self, name: str) -> None:
            self.name = name
            self.ticks = 0
            self.__name__ = name

        def __call__(self, state: Any) -> Any:
            self.ticks += 1
            update = [self.name] if isinstance(state, list) else ["|".join((self.name, str(state)))]
            if isinstance(state, Command):
                return Command(update=update, goto=state.goto)
            return update

    def send_for_fun(state: Any) -> Any:
        return [Send("2", Command(goto=Send("2", 3))), Send("2", Command(goto=Send("flaky", 4))), "3.1"]

    def route_to_three(state: Any) -> Literal["3"]:
        return "3"

    nodes = {n: Node(n) for n in ("1", "2", "3", "3.1")}
    flaky = InterruptOnce()
    builder = StateGraph(Annotated[list, operator.add])
    for name, node in nodes.items():
        builder.add_node(name, node)
    builder.add_node("flaky", flaky)
    builder.add_edge(START, "1")
    builder.add_conditional_edges("1", send_for_fun)
    builder.add_conditional_edges("2", route_to_three)
    graph = builder.compile(checkpointer=checkpointer)
    assert await graph.ainvoke(["0"], thread()) == {"__interrupt__": [Interrupt(value="Bahh", id=AnyStr())]}
    assert nodes["2"].ticks == 3 and flaky.ticks == 1
    assert await graph.ainvoke(None, thread()) == [
        "0",
        "1",
        "3.1",
        "2|Command(goto=Send(node='2', arg=3))",
        "2|Command(goto=Send(node='flaky', arg=4))",
        "3",
        "2|3",
        "flaky|4",
        "3",
    ]
    assert nodes["2"].ticks == 3  # the finished tasks' writes are kept, not run again
    assert flaky.ticks == 2  # the node that asked runs again
