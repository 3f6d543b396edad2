"""``config["max_concurrency"]`` while a task waits at an ``interrupt()``, side by side with LangGraph (skipped
without it): the waiting task holds no slot, so a sibling waiting for one runs before the call returns the pause
(LangGraph's task ends at its interrupt); the cap still holds while node code runs (a generated check)."""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated, Any, TypedDict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aether_nb.flow as ours
from aether_nb.flow import START, Command, StateGraph, interrupt
from tests.conftest import arun, make_session
from tests.flow.conftest import lg_names


class Log(TypedDict):
    log: Annotated[list[str], operator.add]


def _xyz(lib: Any, calls: list[str], *, sync: bool) -> Any:
    """``x``, ``y`` and ``z`` in one superstep from START; ``y`` asks."""

    def node(name: str) -> Any:
        def body() -> dict[str, Any]:
            calls.append(name)
            return {"log": [lib.interrupt("q") if name == "y" else name]}

        if sync:
            return lambda s: body()

        async def run(s: Log) -> dict[str, Any]:
            return body()

        return run

    b = lib.StateGraph(Log)
    for n in "xyz":
        b.add_node(n, node(n))
        b.add_edge(lib.START, n)
    return b


@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
def test_a_sibling_of_a_task_waiting_at_a_question_runs_before_the_pause_under_max_concurrency_1(sync: bool) -> None:
    """``max_concurrency=1``, ``y`` asks: LangGraph runs ``z`` before returning the pause (its result is in the
    state the pause shows). aether_nb kept y's slot while it waited: ``z`` ran only after the answer."""

    async def run(lib: Any, g: Any, calls: list[str]) -> Any:
        c = {"configurable": {"thread_id": "1"}, "max_concurrency": 1}
        first = dict(await g.ainvoke({"log": []}, c))
        first["__interrupt__"] = [i.value for i in first["__interrupt__"]]
        before = list(calls)
        s = await g.aget_state(c)
        return first, before, s.next, dict(await g.ainvoke(lib.Command(resume="Y!"), c)), calls

    lg = lg_names()
    lg_calls: list[str] = []
    our_calls: list[str] = []
    theirs = arun(run(lg, _xyz(lg, lg_calls, sync=sync).compile(checkpointer=lg.InMemorySaver()), lg_calls))
    mine = arun(run(ours, _xyz(ours, our_calls, sync=sync).compile(checkpointer="memory"), our_calls))
    assert mine == theirs
    assert mine[0] == {"log": ["x", "z"], "__interrupt__": ["q"]}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(min_value=2, max_value=6),
    cap=st.integers(min_value=1, max_value=3),
    askers=st.sets(st.integers(min_value=0, max_value=5), max_size=4),
    twice=st.booleans(),
)
def test_max_concurrency_is_never_exceeded_while_node_code_runs(
    n: int, cap: int, askers: set[int], twice: bool
) -> None:
    """However many tasks wait at questions (once or twice each), at most ``cap`` run node code at once, and every
    node finishes once its questions are answered."""
    session, _ = make_session()
    running = [0]
    peak = [0]

    def node(i: int) -> Any:
        async def run(s: Log) -> dict[str, Any]:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            try:
                for _ in range(3):
                    await asyncio.sleep(0)  # (other tasks get the loop: they would run now if they held a slot)
                got = [interrupt(f"q{i}-{k}") for k in range(2 if twice else 1)] if i in askers else []
                await asyncio.sleep(0)
                return {"log": [f"n{i}", *got]}
            finally:
                running[0] -= 1

        return run

    async def scenario() -> Any:
        g = StateGraph(Log, name="cap")
        for i in range(n):
            g.add_node(f"n{i}", node(i))
            g.add_edge(START, f"n{i}")
        app = g.compile(session=session, checkpointer="memory")
        c = {"configurable": {"thread_id": "t"}, "max_concurrency": cap}
        out = await asyncio.wait_for(app.ainvoke({"log": []}, c), 30)
        for _ in range(2 * n + 2):
            if "__interrupt__" not in out:
                break
            answers = {i.id: f"a:{i.value}" for i in out["__interrupt__"]}
            out = await asyncio.wait_for(app.ainvoke(Command(resume=answers), c), 30)
        return out

    out = arun(scenario())
    assert "__interrupt__" not in out
    assert {x for x in out["log"] if not x.startswith("a:")} == {f"n{i}" for i in range(n)}
    assert peak[0] <= cap
    assert running[0] == 0
