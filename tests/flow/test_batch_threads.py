"""``batch``/``abatch``/``batch_as_completed`` with inputs that share a thread: they run one after the other, in input
order, each on the state the one before left. Before, they ran at once: the second found the thread running and
failed (``UsageError``) or ran after the first, as timing fell. LangGraph runs them at once, each from the state
before the call, and keeps whichever finished last (README, the StateGraph differences table); inputs on threads of
their own behave alike in both.
"""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated, Any, TypedDict

import aether_nb.flow as ours
from tests.conftest import arun
from tests.flow.conftest import both
from tests.flow.conftest import thread as _thread


class S(TypedDict):
    log: Annotated[list[str], operator.add]


def _build(lib: Any) -> Any:
    b = lib.StateGraph(S)
    b.add_node("a", lambda s: {"log": ["a"]})
    b.add_edge(lib.START, "a")
    return b


def _app() -> Any:
    return _build(ours).compile(checkpointer="memory")


def test_inputs_on_one_thread_run_in_order() -> None:
    app = _app()
    out = app.batch([{"log": ["x"]}, {"log": ["y"]}, {"log": ["z"]}], _thread("t"))
    assert [dict(o) for o in out] == [
        {"log": ["x", "a"]},
        {"log": ["x", "a", "y", "a"]},
        {"log": ["x", "a", "y", "a", "z", "a"]},
    ]
    assert app.get_state(_thread("t")).values == {"log": ["x", "a", "y", "a", "z", "a"]}


def test_a_flat_thread_id_is_the_same_thread() -> None:
    """Agentflow's flat config (``{"thread_id": ...}``) names the thread as ``configurable`` does."""
    app = _app()
    out = app.batch([{"log": ["x"]}, {"log": ["y"]}], [{"thread_id": "f"}, _thread("f")])
    assert [dict(o) for o in out] == [{"log": ["x", "a"]}, {"log": ["x", "a", "y", "a"]}]


def test_threads_of_their_own_match_langgraph() -> None:
    def run(lib: Any, app: Any) -> tuple[Any, ...]:
        out = app.batch([{"log": ["x"]}, {"log": ["y"]}], [_thread("1"), _thread("2")])
        return [dict(o) for o in out], app.get_state(_thread("2")).values

    theirs, mine = both(_build, run)
    assert mine == theirs == ([{"log": ["x", "a"]}, {"log": ["y", "a"]}], {"log": ["y", "a"]})


def test_as_completed_shares_a_thread_and_runs_others_beside() -> None:
    app = _app()
    inputs = [{"log": ["x"]}, {"log": ["solo"]}, {"log": ["y"]}]
    got = dict(app.batch_as_completed(inputs, [_thread("t"), _thread("other"), _thread("t")]))
    assert {i: dict(r) for i, r in got.items()} == {
        0: {"log": ["x", "a"]},
        1: {"log": ["solo", "a"]},
        2: {"log": ["x", "a", "y", "a"]},
    }


def test_return_exceptions_puts_a_failure_in_its_place() -> None:
    calls: list[str] = []

    def node(s: S) -> dict[str, Any]:
        calls.append(s["log"][-1])
        if s["log"][-1] == "bad":
            raise ValueError("bad input")
        return {"log": ["a"]}

    b = ours.StateGraph(S)
    b.add_node("a", node)
    b.add_edge(ours.START, "a")
    app = b.compile(checkpointer="memory")

    async def go() -> list[Any]:
        return await app.abatch(
            [{"log": ["bad"]}, {"log": ["ok"]}], [_thread("f1"), _thread("f2")], return_exceptions=True
        )

    out = arun(asyncio.wait_for(go(), 30))
    assert isinstance(out[0], ValueError) and dict(out[1]) == {"log": ["ok", "a"]}
    assert sorted(calls) == ["bad", "ok"]
