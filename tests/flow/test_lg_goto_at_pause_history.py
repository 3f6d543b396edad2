"""A ``Command(goto=...)`` given at a pause, side by side with LangGraph (skipped without it): the goto's tasks run
in the superstep the pause goes on with, but the paused checkpoint keeps its own tasks (LangGraph's goto is a
pending write): ``get_state`` of it, then or once the thread moved past it, lists what it had. aether_nb rewrote the
paused checkpoint's tasks in place (``next == ("b", "d")`` ever after)."""

from __future__ import annotations

import operator
import threading
from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypedDict

import pytest

import aether_nb.flow as ours
from tests.flow.conftest import lg_names, thread


class S(TypedDict):
    a: Annotated[list[str], operator.add]


def _abcd(
    lib: Any,
    calls: list[str],
    fails: list[str],
    *,
    asks: bool = False,
    first: Mapping[str, Callable[[], None]] | None = None,
) -> Any:
    """START -> a -> b -> c; ``d`` reached only by a goto. ``asks``: b asks with ``interrupt()``; a node in
    ``fails`` raises; a node in ``first`` calls its function first."""

    def node(name: str) -> Any:
        def run(s: S) -> dict[str, Any]:
            calls.append(name)
            if first and name in first:
                first[name]()
            if name in fails:
                raise ValueError(f"{name} failed")
            if asks and name == "b":
                return {"a": [f"b{lib.interrupt('q')}"]}
            return {"a": [name]}

        return run

    g = lib.StateGraph(S)
    for n in "abcd":
        g.add_node(n, node(n))
    g.add_edge(lib.START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", "c")
    return g


def _history(g: Any, c: Any) -> list[Any]:
    return [(s.metadata["step"], s.next, s.values) for s in g.get_state_history(c)]


@pytest.mark.parametrize("update", [None, {"a": ["U"]}], ids=["goto", "goto-and-update"])
@pytest.mark.parametrize("where", ["breakpoint", "interrupt"])
def test_a_goto_at_a_pause_leaves_the_paused_checkpoint_as_it_was_as_langgraph(where: str, update: Any) -> None:
    def run(lib: Any, calls: list[str]) -> Any:
        asks = where == "interrupt"
        kw: dict[str, Any] = {} if asks else {"interrupt_before": ["b"]}
        checkpointer = lib.InMemorySaver() if lib is not ours else "memory"
        g = _abcd(lib, calls, [], asks=asks).compile(checkpointer=checkpointer, **kw)
        c = thread()
        g.invoke({"a": []}, c)
        paused = g.get_state(c)
        out = dict(g.invoke(lib.Command(goto="d", update=update, resume=1 if asks else None), c))
        later = g.get_state(paused.config)
        return paused.next, out, later.next, [t.name for t in later.tasks], _history(g, c)

    lg = lg_names()
    theirs = run(lg, [])
    mine = run(ours, [])
    assert mine == theirs
    assert theirs[2] == ("b",)


def test_a_goto_at_a_breakpoint_whose_task_fails_runs_again_on_the_next_call_as_langgraph() -> None:
    """The goto's task fails: the paused checkpoint (still the head) lists only its own task, finished; the next
    call runs the goto's task again (not b), as LangGraph's.

    b runs beside d in that superstep, so d fails only once b's result is kept. Otherwise what the head shows is
    a race, in both libraries: a sync node no thread has begun when its sibling fails is dropped (``next ==
    ("b",)`` and the next call runs b again), and LangGraph loses a finished task's writes when its future's done
    callback runs after the superstep's executor shut down ("cannot schedule new futures after shutdown", logged):
    under CPU load, about one LangGraph run in five (CI's ``() != ('b',)``).
    """

    def run(lib: Any) -> Any:
        calls: list[str] = []
        fails = ["d"]
        kept = threading.Event()

        def until_kept() -> None:
            if not kept.wait(timeout=30):
                raise TimeoutError("b's result was never kept")

        first: dict[str, Callable[[], None]] = {"d": until_kept}
        checkpointer: Any = "memory"
        if lib is ours:
            first["b"] = kept.set  # (a sync node its thread has begun is waited for, its result kept: SyncCall)
        else:

            class Saver(lib.InMemorySaver):
                """LangGraph keeps b's result once its writes are saved."""

                def put_writes(self, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
                    super().put_writes(config, writes, task_id, task_path)
                    if ("a", ["b"]) in [tuple(w) for w in writes]:
                        kept.set()

            checkpointer = Saver()
        g = _abcd(lib, calls, fails, first=first).compile(checkpointer=checkpointer, interrupt_before=["b"])
        c = thread()
        g.invoke({"a": []}, c)
        paused = g.get_state(c)
        with pytest.raises(ValueError):
            g.invoke(lib.Command(goto="d"), c)
        head = g.get_state(c)
        fails.clear()
        calls.clear()
        out = dict(g.invoke(None, c))
        return head.next, [t.name for t in head.tasks], out, sorted(calls), g.get_state(paused.config).next

    assert run(ours) == run(lg_names())


def test_a_goto_on_a_finished_thread_leaves_its_last_checkpoint_as_it_was_as_langgraph() -> None:
    """A finished thread given ``Command(goto="d")``: d runs in that call, and the checkpoint it went on from
    still has nothing next, as LangGraph's."""

    def run(lib: Any) -> Any:
        checkpointer = lib.InMemorySaver() if lib is not ours else "memory"
        g = _abcd(lib, [], []).compile(checkpointer=checkpointer)
        c = thread()
        g.invoke({"a": []}, c)
        done = g.get_state(c)
        out = dict(g.invoke(lib.Command(goto="d"), c))
        return out, g.get_state(done.config).next, _history(g, c)

    assert run(ours) == run(lg_names())
