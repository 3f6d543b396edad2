"""A node's own errors as a LangGraph caller meets them, side by side with LangGraph (skipped without it): a
``TimeoutError`` the node raised, an error beside a sibling's ``interrupt()``, two writes to a key without a
reducer. Each case runs the same code on both libraries (only the import differs) and compares what the caller
sees and how often each node ran."""

from __future__ import annotations

import asyncio
import operator
import threading
from typing import Annotated, Any, TypedDict

import pytest

import aether_nb.flow as ours
from aether_nb.errors import StepTimeout
from aether_nb.runtime.session import Session
from tests.flow.conftest import lg_names, thread


def _libs() -> list[tuple[Any, Any]]:
    """``(names, checkpointer)`` for LangGraph, then for aether_nb."""
    lg = lg_names()
    return [(lg, lg.InMemorySaver()), (ours, "memory")]


class X(TypedDict):
    x: int


def _raising(error: Exception, calls: list[int]) -> Any:
    def node(s: X) -> dict[str, Any]:
        calls.append(1)
        raise error

    return node


@pytest.mark.parametrize("retry", [False, True], ids=["no-policy", "default-retry-policy"])
def test_a_timeout_error_the_node_raises_itself_reaches_the_caller_unretried(session: Session, retry: bool) -> None:
    """A node whose own call timed out (a socket, its own ``wait_for``) raises ``TimeoutError``; with no timeout
    configured that is the caller's ``TimeoutError``, not a ``StepTimeout``, and the default ``retry_on`` (an
    ``OSError``) does not run the node again."""
    seen = []
    for lib, saver in _libs():
        calls: list[int] = []
        node = _raising(TimeoutError("upstream API timed out"), calls)
        policy = {"retry_policy": lib.RetryPolicy(max_attempts=3, initial_interval=0.01, jitter=False)} if retry else {}
        app = lib.StateGraph(X).add_node("f", node, **policy).add_edge(lib.START, "f").compile(checkpointer=saver)
        with pytest.raises(TimeoutError) as info:
            app.invoke({"x": 0}, thread())
        seen.append((type(info.value).__name__, str(info.value), len(calls)))
    assert seen[1] == seen[0] == ("TimeoutError", "upstream API timed out", 1)


@pytest.mark.anyio
async def test_with_a_timeout_only_the_engines_deadline_is_a_step_timeout(session: Session) -> None:
    """With ``timeout=`` set, a ``TimeoutError`` the node raised before its deadline stays itself; running past the
    deadline is the engine's ``StepTimeout``."""

    async def own(s: X) -> dict[str, Any]:
        await asyncio.wait_for(asyncio.sleep(30), 0.01)  # the node's own deadline
        return {"x": 1}

    async def slow(s: X) -> dict[str, Any]:
        await asyncio.sleep(30)
        return {"x": 1}

    for node, expected in ((own, TimeoutError), (slow, StepTimeout)):
        app = ours.StateGraph(X).add_node("f", node, timeout=5 if node is own else 0.05)
        app = app.add_edge(ours.START, "f").compile(checkpointer="memory")
        with pytest.raises(expected) as info:
            await app.ainvoke({"x": 0}, thread())
        assert type(info.value) is expected


class Log(TypedDict):
    log: Annotated[list[str], operator.add]


def _ask_beside_boom(lib: Any, asked: threading.Event | None = None) -> Any:
    """``ask`` calls ``interrupt()`` while its sibling ``boom``, in the same superstep, raises (once ``asked`` is
    set, when given: see :func:`_interrupt_saver`)."""

    def boom(s: Log) -> dict[str, Any]:
        if asked is not None:
            asked.wait(30)
        raise ValueError("boom")

    g = lib.StateGraph(Log)
    g.add_node("ask", lambda s: {"log": ["ask=" + lib.interrupt("approve?")]})
    g.add_node("boom", boom)
    g.add_edge(lib.START, "ask")
    g.add_edge(lib.START, "boom")
    return g


def _interrupt_saver(lg: Any, asked: threading.Event) -> Any:
    """LangGraph's ``InMemorySaver`` that sets ``asked`` once a task's ``interrupt()`` is saved.

    LangGraph keeps a task's question only then: its future's done callback saves it, and when a sibling failed
    meanwhile, that callback can run after the superstep's executor shut down ("cannot schedule new futures after
    shutdown"): the question is lost and its ``get_state`` shows no interrupt on ``ask`` (seen once under CPU load
    in a full run). The reference run's ``boom`` raises only after the question is saved, the order this test
    is about."""

    class Saver(lg.InMemorySaver):
        def put_writes(self, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
            super().put_writes(config, writes, task_id, task_path)
            if any(w[0] == "__interrupt__" for w in writes):
                asked.set()

    return Saver()


def test_an_error_beside_an_interrupt_reaches_the_caller(session: Session) -> None:
    """A sibling's error wins over an ``interrupt()`` of the same superstep: ``invoke`` raises it (not a pause
    reported as ``interrupted``), ``stream`` yields the question and then raises it, and ``get_state`` shows both
    tasks next, the question on ``ask`` and the error on ``boom``."""
    seen = []
    for lib, saver in _libs():
        asked = threading.Event() if lib is not ours else None
        if asked is not None:  # (LangGraph's reference run: see _interrupt_saver)
            saver = _interrupt_saver(lib, asked)
        app = _ask_beside_boom(lib, asked).compile(checkpointer=saver)
        with pytest.raises(ValueError, match="boom"):
            app.invoke({"log": []}, thread("invoke"))
        if asked is not None:
            asked.clear()  # (the stream's turn below waits for its own question)
        snap = app.get_state(thread("invoke"))
        tasks = [(t.name, t.error is not None, [i.value for i in t.interrupts]) for t in snap.tasks]
        chunks: list[Any] = []
        with pytest.raises(ValueError, match="boom"):
            for chunk in app.stream({"log": []}, thread("stream")):
                chunks.append({k: [i.value for i in v] if k == "__interrupt__" else v for k, v in chunk.items()})
        seen.append((dict(snap.values), snap.next, tasks, chunks))
    assert seen[1] == seen[0]
    assert seen[0][3] == [{"__interrupt__": ["approve?"]}]


class XY(TypedDict):
    x: int
    y: int


def _two_writers(lib: Any, calls: list[str]) -> Any:
    """``a`` and ``b`` run in one superstep and both write ``x``, a key without a reducer."""

    def a(s: XY) -> dict[str, Any]:
        calls.append("a")
        return {"x": 1}

    def b(s: XY) -> dict[str, Any]:
        calls.append("b")
        return {"x": 2, "y": 5}

    g = lib.StateGraph(XY).add_node("a", a).add_node("b", b)
    return g.add_edge(lib.START, "a").add_edge(lib.START, "b")


def test_two_writes_to_one_key_fail_again_without_running_the_nodes_again(session: Session) -> None:
    """Two writes to a key without a reducer are an error once both nodes returned; the next call merges the same
    results again and fails the same way, as LangGraph's: the nodes (and their effects) ran once. ``get_state``
    raises the same error."""
    seen = []
    for lib, saver in _libs():
        calls: list[str] = []
        app = _two_writers(lib, calls).compile(checkpointer=saver)
        raised = []
        for method, arg in (("invoke", {"x": 0}), ("get_state", None), ("invoke", None)):
            with pytest.raises(lib.InvalidUpdateError) as info:
                getattr(app, method)(*([arg] if method == "invoke" else []), thread())
            raised.append("can receive only one value per" in str(info.value).lower())
        seen.append((raised, sorted(calls)))
    assert seen[1] == seen[0] == ([True, True, True], ["a", "b"])
