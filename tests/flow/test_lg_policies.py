"""Per-node policies, ported from LangGraph's ``test_retry.py`` (and Agentflow's node timeouts) to aether_nb's names:
``retry_policy=ag.RetryPolicy(...)`` (LangGraph's ``initial_interval``/``backoff_factor`` are aether_nb's
``backoff_s``, doubling), ``timeout=`` seconds (``StepTimeout``), ``error_handler=``, ``set_node_defaults``.
"""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated, Any, TypedDict

import pytest

import aether_nb as ag
from aether_nb.errors import StepTimeout
from aether_nb.flow import END, START, Command, NodeError, StateGraph, interrupt
from aether_nb.runtime.scheduler import RetryPolicy
from aether_nb.runtime.session import Session

pytestmark = pytest.mark.anyio

FAST = {"backoff_s": 0.0, "jitter": 0.0}


class State(TypedDict):
    foo: str


def test_graph_with_single_retry_policy(session: Session) -> None:
    """test_retry.py::test_graph_with_single_retry_policy."""
    attempts = 0

    def failing_node(state: State) -> Any:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise ValueError("Intentional failure")
        return {"foo": "success"}

    graph = (
        StateGraph(State)
        .add_node(
            "failing_node", failing_node, retry_policy=RetryPolicy(max_attempts=3, retry_on=(ValueError,), **FAST)
        )
        .add_node("other_node", lambda s: {"foo": "other_node"})
        .add_edge(START, "failing_node")
        .add_edge("failing_node", "other_node")
        .compile()
    )
    assert graph.invoke({"foo": ""})["foo"] == "other_node"
    assert attempts == 3


def test_graph_with_multiple_retry_policies(session: Session) -> None:
    """test_retry.py::test_graph_with_multiple_retry_policies — the first policy matching the error applies."""

    class S(TypedDict):
        foo: str
        error_type: str

    counts = {"value_error": 0, "key_error": 0}

    def failing_node(state: S) -> Any:
        kind = state["error_type"]
        counts[kind] += 1
        if kind == "value_error" and counts[kind] < 2:
            raise ValueError("Value error")
        if kind == "key_error" and counts[kind] < 3:
            raise KeyError("Key error")
        return {"foo": f"recovered_from_{kind}"}

    policies = (
        RetryPolicy(max_attempts=2, retry_on=(ValueError,), **FAST),
        RetryPolicy(max_attempts=3, retry_on=(KeyError,), **FAST),
    )
    graph = StateGraph(S).add_node("failing_node", failing_node, retry_policy=policies).add_edge(START, "failing_node")
    app = graph.compile()
    assert app.invoke({"foo": "", "error_type": "value_error"})["foo"] == "recovered_from_value_error"
    assert counts["value_error"] == 2
    assert app.invoke({"foo": "", "error_type": "key_error"})["foo"] == "recovered_from_key_error"
    assert counts["key_error"] == 3


def test_graph_with_max_attempts_exceeded(session: Session) -> None:
    """test_retry.py::test_graph_with_max_attempts_exceeded — the node's own error surfaces."""
    calls = 0

    def always_failing(state: State) -> Any:
        nonlocal calls
        calls += 1
        raise ValueError("Always fails")

    graph = (
        StateGraph(State)
        .add_node(
            "always_failing", always_failing, retry_policy=RetryPolicy(max_attempts=2, retry_on=(ValueError,), **FAST)
        )
        .add_edge(START, "always_failing")
        .compile()
    )
    with pytest.raises(ValueError, match="Always fails"):
        graph.invoke({"foo": ""})
    assert calls == 2


def test_retry_keeps_steps_done_before_the_failure(session: Session) -> None:
    """aether_nb: a retried node replays the tool calls its failed attempt completed (each effect once)."""
    import aether_nb as ag

    effects: list[int] = []
    attempts = 0

    @ag.tool
    async def charge(amount: int) -> int:
        effects.append(amount)
        return amount

    async def pay(state: State) -> Any:
        nonlocal attempts
        attempts += 1
        await charge(5)
        if attempts == 1:
            raise ConnectionError("network blip after the charge")
        return {"foo": "paid"}

    graph = StateGraph(State).add_node("pay", pay, retry_policy=RetryPolicy(retry_on=(ConnectionError,), **FAST))
    assert graph.add_edge(START, "pay").compile().invoke({"foo": ""}) == {"foo": "paid"}
    assert attempts == 2 and effects == [5]


async def test_node_timeout_fails_the_node(session: Session) -> None:
    """test_retry.py::test_state_graph_add_node_timeout_e2e (StepTimeout for NodeTimeoutError)."""

    class S(TypedDict):
        x: int

    async def slow(state: S) -> Any:
        await asyncio.sleep(30)
        return {"x": state["x"] + 1}

    graph = StateGraph(S).add_node("slow", slow, timeout=0.05).add_edge(START, "slow").add_edge("slow", END).compile()
    with pytest.raises(StepTimeout, match="timeout"):
        await graph.ainvoke({"x": 1})


async def test_node_timeout_composes_with_retry(session: Session) -> None:
    """test_retry.py::test_state_graph_add_node_timeout_composes_with_retry."""

    class S(TypedDict):
        x: int

    attempts: list[int] = []

    async def flaky(state: S) -> Any:
        attempts.append(len(attempts))
        if len(attempts) < 2:
            await asyncio.sleep(30)
        return {"x": state["x"] + 1}

    graph = StateGraph(S).add_node(
        "flaky", flaky, timeout=0.1, retry_policy=RetryPolicy(max_attempts=3, retry_on=(StepTimeout,), **FAST)
    )
    assert await graph.add_edge(START, "flaky").compile().ainvoke({"x": 0}) == {"x": 1}
    assert len(attempts) == 2


async def test_graph_default_node_timeout_from_config(session: Session) -> None:
    """Agentflow's ``config["node_timeout"]`` applies to nodes without their own timeout."""

    async def slow(state: State) -> Any:
        await asyncio.sleep(30)

    graph = StateGraph(State).add_node("slow", slow).add_edge(START, "slow").compile()
    with pytest.raises(StepTimeout):
        await graph.ainvoke({"foo": ""}, {"node_timeout": 0.05})


def test_graph_error_handler_runs_after_retry_exhaustion(session: Session) -> None:
    """test_retry.py::test_graph_error_handler_runs_after_retry_exhaustion."""
    attempts = 0
    captured: dict[str, Any] = {}

    def always_failing(state: State) -> Any:
        nonlocal attempts
        attempts += 1
        raise ValueError("Always fails")

    def handler(state: State, error: NodeError) -> Command[Any]:
        captured["node"], captured["error"] = error.node, error.error
        return Command(update={"foo": "handled"}, goto="after_handler")

    graph = (
        StateGraph(State)
        .add_node(
            "always_failing",
            always_failing,
            retry_policy=RetryPolicy(max_attempts=2, retry_on=(ValueError,), **FAST),
            error_handler=handler,
        )
        .add_node("after_handler", lambda s: {"foo": f"{s['foo']}_after"})
        .add_edge(START, "always_failing")
        .compile()
    )
    assert graph.invoke({"foo": ""})["foo"] == "handled_after"
    assert attempts == 2
    assert captured["node"] == "always_failing" and isinstance(captured["error"], ValueError)


def test_graph_error_handler_can_route_with_command(session: Session) -> None:
    """test_retry.py::test_graph_error_handler_can_route_with_command."""

    def boom(state: State) -> Any:
        raise ValueError("Always fails")

    graph = (
        StateGraph(State)
        .add_node("always_failing", boom, error_handler=lambda s: Command(update={"foo": "handled"}, goto="next_node"))
        .add_node("next_node", lambda s: {"foo": f"{s['foo']}_next"})
        .add_edge(START, "always_failing")
        .compile()
    )
    assert graph.invoke({"foo": ""})["foo"] == "handled_next"


def test_graph_error_handler_failure_fails_run(session: Session) -> None:
    """test_retry.py::test_graph_error_handler_failure_fails_run."""

    def boom(state: State) -> Any:
        raise ValueError("Always fails")

    def handler(state: State) -> Any:
        raise RuntimeError("handler failed")

    graph = StateGraph(State).add_node("always_failing", boom, error_handler=handler).add_edge(START, "always_failing")
    with pytest.raises(RuntimeError, match="handler failed"):
        graph.compile().invoke({"foo": ""})


def test_node_error_handlers_route_to_matching_handler(session: Session) -> None:
    """test_retry.py::test_node_error_handlers_route_to_matching_handler — a handler's plain update ends there."""

    class S(TypedDict):
        route: str
        foo: Annotated[list[str], operator.add]

    def fail_a(state: S) -> Any:
        raise ValueError("a failed")

    def fail_b(state: S) -> Any:
        raise RuntimeError("b failed")

    def handler_a(state: S, error: NodeError) -> Any:
        assert error.node == "fail_a"
        return {"foo": ["handled_a"]}

    def handler_b(state: S, error: NodeError) -> Any:
        assert error.node == "fail_b"
        return {"foo": ["handled_b"]}

    graph = (
        StateGraph(S)
        .add_node("route_node", lambda s: {"foo": []})
        .add_node("fail_a", fail_a, error_handler=handler_a)
        .add_node("fail_b", fail_b, error_handler=handler_b)
        .add_node("never", lambda s: {"foo": ["never"]})
        .add_edge(START, "route_node")
        .add_conditional_edges("route_node", lambda s: s["route"], path_map=["fail_a", "fail_b"])
        .add_edge("fail_a", "never")
        .compile()
    )
    assert graph.invoke({"route": "fail_a", "foo": []})["foo"] == ["handled_a"]
    assert graph.invoke({"route": "fail_b", "foo": []})["foo"] == ["handled_b"]


def test_node_without_error_handler_still_fails_run(session: Session) -> None:
    """test_retry.py::test_node_without_error_handler_still_fails_run."""

    def boom(state: State) -> Any:
        raise ValueError("no handler")

    with pytest.raises(ValueError, match="no handler"):
        StateGraph(State).add_node("f", boom).add_edge(START, "f").compile().invoke({"foo": ""})


def test_set_node_defaults(session: Session) -> None:
    """test_retry.py::test_set_node_defaults_error_handler_catches_all_nodes, ``_overridden_by_node_handler`` and
    ``test_set_node_defaults_retry_policy``."""

    class S(TypedDict):
        route: str
        foo: Annotated[list[str], operator.add]

    def fail(name: str) -> Any:
        def node(state: S) -> Any:
            raise RuntimeError(f"{name} failed")

        return node

    captured: list[str] = []

    def default_handler(state: S, error: NodeError) -> Any:
        captured.append(f"default:{error.node}")
        return {"foo": [f"default_handled_{error.node}"]}

    def node_handler(state: S, error: NodeError) -> Any:
        captured.append(f"node:{error.node}")
        return {"foo": [f"node_handled_{error.node}"]}

    graph = (
        StateGraph(S)
        .set_node_defaults(error_handler=default_handler)
        .add_node("route_node", lambda s: Command(goto=s["route"]))
        .add_node("fail_a", fail("a"), error_handler=node_handler)
        .add_node("fail_b", fail("b"))
        .add_edge(START, "route_node")
        .compile()
    )
    assert graph.invoke({"route": "fail_a", "foo": []})["foo"] == ["node_handled_fail_a"]
    assert graph.invoke({"route": "fail_b", "foo": []})["foo"] == ["default_handled_fail_b"]
    assert captured == ["node:fail_a", "default:fail_b"]

    attempts = 0

    def flaky(state: State) -> Any:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise ValueError("not yet")
        return {"foo": "ok"}

    app = (
        StateGraph(State)
        .set_node_defaults(retry_policy=RetryPolicy(max_attempts=3, retry_on=(ValueError,), **FAST))
        .add_node("flaky", flaky)
        .add_edge(START, "flaky")
        .compile()
    )
    assert app.invoke({"foo": ""}) == {"foo": "ok"} and attempts == 3


async def test_set_node_defaults_timeout(session: Session) -> None:
    """test_retry.py::test_set_node_defaults_timeout."""

    async def slow(state: State) -> Any:
        await asyncio.sleep(30)

    graph = StateGraph(State).set_node_defaults(timeout=0.05).add_node("slow", slow).add_edge(START, "slow").compile()
    with pytest.raises(StepTimeout):
        await graph.ainvoke({"foo": ""})


def test_graph_error_handler_does_not_swallow_interrupt_concurrent(checkpointer: str) -> None:
    """test_retry.py::test_graph_error_handler_does_not_swallow_interrupt_concurrent."""

    def node_a(state: State) -> Any:
        return {"foo": f"a_{interrupt('need human input')}"}

    graph = (
        StateGraph(State)
        .add_node("node_a", node_a, error_handler=lambda s: {"foo": "handled"})
        .add_node("node_b", lambda s: {})
        .add_edge(START, "node_a")
        .add_edge(START, "node_b")
        .compile(checkpointer=checkpointer)
    )
    config = {"configurable": {"thread_id": "t"}}
    graph.invoke({"foo": ""}, config)
    state = graph.get_state(config)
    assert [t.name for t in state.tasks if t.interrupts] == ["node_a"]


async def test_checkpoint_recovery(checkpointer: str) -> None:
    """test_pregel_async.py::test_checkpoint_recovery_async — a failed node is retried by the next call; the
    error is recorded on the checkpoint's task."""

    class S(TypedDict):
        steps: Annotated[list[str], operator.add]
        attempt: int

    async def failing_node(state: S) -> Any:
        if state["attempt"] == 1:
            raise RuntimeError("Simulated failure")
        return {"steps": ["node1"]}

    b = StateGraph(S)
    b.add_node("node1", failing_node)
    b.add_node("node2", lambda s: {"steps": ["node2"]})
    b.add_edge(START, "node1")
    b.add_edge("node1", "node2")
    graph = b.compile(checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "1"}}
    with pytest.raises(RuntimeError):
        await graph.ainvoke({"steps": ["start"], "attempt": 1}, config)
    state = await graph.aget_state(config)
    assert state.values == {"steps": ["start"], "attempt": 1}
    assert state.next == ("node1",)
    assert await graph.ainvoke({"steps": [], "attempt": 2}, config) == {
        "steps": ["start", "node1", "node2"],
        "attempt": 2,
    }
    history = [c async for c in graph.aget_state_history(config)]
    assert len(history) == 6
    failed = next(c for c in history if c.tasks and c.tasks[0].error)
    assert "RuntimeError('Simulated failure')" in failed.tasks[0].error


async def test_cancel_ainvoke_with_async_node(checkpointer: str) -> None:
    """test_runtime.py::test_cancel_ainvoke_with_async_node — cancelling the call stops the running node and the
    turn; aether_nb keeps the pending node, so the thread can go on."""

    class S(TypedDict, total=False):
        first: str
        second: str

    timeline: list[str] = []
    started = asyncio.Event()
    runs = 0

    async def slow(state: S) -> Any:
        nonlocal runs
        runs += 1
        timeline.append("async_node:start")
        started.set()
        if runs == 1:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                timeline.append("async_node:cancelled")
                raise
        return {"first": "done"}

    async def second(state: S) -> Any:
        timeline.append("second_node:run")
        return {"second": "ran"}

    graph = (
        StateGraph(S)
        .add_node("first", slow)
        .add_node("second", second)
        .add_edge(START, "first")
        .add_edge("first", "second")
        .add_edge("second", END)
        .compile(checkpointer=checkpointer)
    )
    config = {"configurable": {"thread_id": "t"}}
    call = asyncio.ensure_future(graph.ainvoke({}, config))
    await asyncio.wait_for(started.wait(), 10)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    state = await graph.aget_state(config)
    assert "async_node:cancelled" in timeline and "second_node:run" not in timeline
    assert state.next == ("first",) and state.status == "stopped"
    assert await graph.ainvoke(None, config) == {"first": "done", "second": "ran"}


async def test_leaving_astream_early_stops_the_turn(checkpointer: str) -> None:
    """LangGraph: breaking out of ``astream`` stops the run; the thread keeps its pending nodes."""

    class S(TypedDict, total=False):
        steps: Annotated[list[str], operator.add]

    release = asyncio.Event()

    async def blocked(state: S) -> Any:
        await release.wait()
        return {"steps": ["b"]}

    graph = (
        StateGraph(S)
        .add_node("a", lambda s: {"steps": ["a"]})
        .add_node("b", blocked)
        .add_edge(START, "a")
        .add_edge("a", "b")
        .compile(checkpointer=checkpointer)
    )
    config = {"configurable": {"thread_id": "t"}}
    async for chunk in graph.astream({"steps": []}, config):
        assert chunk == {"a": {"steps": ["a"]}}
        break
    run_id = (graph.checkpointer.get_thread("t") or {})["run_id"]
    await ag.get_run(run_id).wait_for("cancelled", timeout=10)  # the cancelled turn has unwound
    state = await graph.aget_state(config)
    assert state.status == "stopped" and state.next == ("b",)
    release.set()
    assert await graph.ainvoke(None, config) == {"steps": ["a", "b"]}
