"""A ``Command(update=...)`` given when a thread goes on (with ``resume=`` at an ``interrupt()``, at an
``interrupt_before`` breakpoint, after a failure, on a finished thread) writes no checkpoint of its own: as
LangGraph's, it is applied to the checkpoint the thread goes on from, so the history keeps LangGraph's numbering
(``input`` -1, ``loop`` 0, 1, 2, ...), sources and parent links, and ``get_state_history(filter={"step": n})``
finds the same checkpoints. At a checkpoint the thread moved past it starts a branch with a ``fork`` checkpoint.
Checked against the installed LangGraph where it is importable.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest

import aether_nb.flow as af
from tests.conftest import arun


class S(TypedDict):
    log: Annotated[list, operator.add]
    n: int


CFG = {"configurable": {"thread_id": "t"}}
FAILING = {"on": False}


def _graph(lib: Any, types: Any, *, breakpoint: bool, end_after_ask: bool = False) -> Any:
    def ask(s: Any) -> Any:
        if FAILING["on"]:
            raise ValueError("boom")
        answer = "-" if breakpoint or end_after_ask else types.interrupt("q")
        return {"log": [f"ask:{answer}{s['n']}"]}

    g = lib.StateGraph(S)
    g.add_node("a", lambda s: {"log": ["a"]})
    g.add_node("ask", ask)
    g.add_node("x", lambda s: {"log": ["x"]})
    g.add_edge(lib.START, "a")
    g.add_edge("a", "ask")
    if end_after_ask:
        g.add_edge("ask", lib.END)
    else:
        g.add_edge("ask", "x")
    return g


def _view(app: Any) -> list[tuple[Any, ...]]:
    """Each checkpoint, newest first: source, step, next, values, and the position of its parent (oldest is 0)."""
    history = list(app.get_state_history(CFG))
    position = {h.config["configurable"]["checkpoint_id"]: i for i, h in enumerate(reversed(history))}
    out = []
    for h in history:
        parent = (h.parent_config or {}).get("configurable", {}).get("checkpoint_id")
        out.append((h.metadata["source"], h.metadata["step"], tuple(h.next), h.values, position.get(parent)))
    return out


def _scenario(lib: Any, types: Any, checkpointer: Any, case: str) -> list[tuple[Any, ...]]:
    """Pause (or fail, or finish) a thread, then go on with a ``Command`` carrying an update."""
    FAILING["on"] = case == "failed"
    pauses = case in ("breakpoint", "past")
    app = _graph(lib, types, breakpoint=pauses, end_after_ask=case in ("failed", "finished"))
    app = app.compile(checkpointer=checkpointer, interrupt_before=["ask"] if pauses else None)
    try:
        app.invoke({"log": [], "n": 0}, CFG)
    except ValueError:
        pass
    finally:
        FAILING["on"] = False
    if case == "interrupt":
        app.invoke(types.Command(resume="R", update={"n": 3}), CFG)
    elif case == "past":  # a Command at a checkpoint the thread moved past: a branch with a fork checkpoint
        app.invoke(None, CFG)
        past = next(h for h in app.get_state_history(CFG) if h.metadata["step"] == 1)
        app.invoke(types.Command(update={"n": 3}), past.config)
    else:
        app.invoke(types.Command(update={"n": 3}), CFG)
    return _view(app)


EXPECTED = [
    ("loop", 3, (), {"log": ["a", "ask:R3", "x"], "n": 3}, 3),
    ("loop", 2, ("x",), {"log": ["a", "ask:R3"], "n": 3}, 2),
    ("loop", 1, ("ask",), {"log": ["a"], "n": 3}, 1),  # (the update shows on the checkpoint it was given at)
    ("loop", 0, ("a",), {"log": [], "n": 0}, 0),
    ("input", -1, ("__start__",), {"log": []}, None),
]


def test_an_update_given_with_the_answer_writes_no_checkpoint_and_keeps_the_step_numbers(checkpointer: str) -> None:
    app = _graph(af, af, breakpoint=False).compile(checkpointer=checkpointer)
    app.invoke({"log": [], "n": 0}, CFG)
    paused = app.get_state(CFG).config
    app.invoke(af.Command(resume="R", update={"n": 3}), CFG)
    assert _view(app) == EXPECTED
    assert [h.next for h in app.get_state_history(CFG, filter={"step": 2})] == [("x",)]
    assert [h.metadata["source"] for h in app.get_state_history(CFG, filter={"source": "update"})] == []
    # the checkpoint the thread paused at is the one it went on from (same id), now showing the update
    assert app.get_state(paused).values == {"log": ["a"], "n": 3}


def test_an_update_at_a_breakpoint_does_not_shift_later_steps(checkpointer: str) -> None:
    app = _graph(af, af, breakpoint=True).compile(checkpointer=checkpointer, interrupt_before=["ask"])
    app.invoke({"log": [], "n": 0}, CFG)
    app.invoke(af.Command(update={"n": 3}), CFG)
    expected = [(s, step, nxt, {**v, "log": [e.replace("R", "-") for e in v["log"]]} if "n" in v else v, p)
                for s, step, nxt, v, p in EXPECTED]  # fmt: skip
    assert _view(app) == expected
    assert [h.values["log"] for h in app.get_state_history(CFG, filter={"step": 3})] == [["a", "ask:-3", "x"]]


def test_an_update_with_the_answer_survives_a_second_question_of_the_node(checkpointer: str) -> None:
    """The resumed node asks again in the same paused run (one event loop: the run stays in memory): its question
    is recorded on the checkpoint the update was applied to, which keeps the update (the paused run's copy of that
    checkpoint is the edited one)."""

    def ask(s: Any) -> Any:
        first = af.interrupt("q1")
        second = af.interrupt("q2")
        return {"log": [f"{first}{second}{s['n']}"]}

    g = af.StateGraph(S)
    g.add_node("ask", ask)
    g.add_edge(af.START, "ask")
    app = g.compile(checkpointer=checkpointer)

    async def scenario() -> Any:
        await app.ainvoke({"log": [], "n": 0}, CFG)
        mid = await app.ainvoke(af.Command(resume="A", update={"n": 3}), CFG)
        assert mid.status == "interrupted" and mid["n"] == 3
        state = await app.aget_state(CFG)
        assert state.values == {"log": [], "n": 3}
        assert [i.value for i in state.interrupts] == ["q2"]
        return await app.ainvoke(af.Command(resume="B"), CFG)

    done = arun(scenario())
    assert done["log"] == ["AB3"] and done["n"] == 3
    assert [(h.metadata["source"], h.metadata["step"], h.values.get("n")) for h in app.get_state_history(CFG)] == [
        ("loop", 1, 3),
        ("loop", 0, 3),
        ("input", -1, None),
    ]


CASES = ["interrupt", "breakpoint", "failed", "finished", "past"]


@pytest.mark.parametrize("case", CASES)
def test_history_after_a_command_with_an_update_matches_langgraph(case: str) -> None:
    lgg = pytest.importorskip("langgraph.graph")
    lgt = pytest.importorskip("langgraph.types")
    memory = pytest.importorskip("langgraph.checkpoint.memory")
    theirs = _scenario(lgg, lgt, memory.InMemorySaver(), case)
    ours = _scenario(af, af, "memory", case)
    assert ours == theirs
