"""``Command(resume=...)`` answers a question a failed or stopped turn left open, as LangGraph does: in a new turn,
where the interrupted node runs again and its ``interrupt()`` returns the answer (aether_nb/flow/left_open.py). It
said "Nothing to resume ... use ainvoke(None, config)" before. Each scenario runs on both libraries and compares
what the nodes ran, what the call returned or streamed, and ``get_state`` before and after."""

from __future__ import annotations

import asyncio
import contextlib
import json
import operator
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from pydantic import BaseModel

import aether_nb.flow as ours
from aether_nb.errors import InvalidAnswer
from tests.flow.conftest import lg_names, thread

pytestmark = pytest.mark.anyio


class S(TypedDict):
    a: Annotated[list[str], operator.add]


def _memory(lib: Any) -> Any:
    return "memory" if lib is ours else lib.InMemorySaver()


def _seen(st: Any) -> Any:
    return (
        st.values,
        st.next,
        [i.value for i in st.interrupts],
        [(t.name, [i.value for i in t.interrupts], t.error, t.result) for t in st.tasks],
    )


async def _until(check: Any) -> None:
    """Wait (at most 10 s) until ``check()`` holds: a state of the thread, read as a user reads it. (Not
    ``asyncio.wait_for``: on Python 3.11 it can swallow a cancel that arrives as it finishes.)"""
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


def _sync_until(check: Any) -> None:
    """:func:`_until` in a sync node's worker thread."""
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def _asked(app: Any, *values: str) -> Any:
    """Whether ``get_state`` lists these questions open."""
    return lambda: {i.value for i in app.get_state(thread("t")).interrupts} >= set(values)


def _ask_beside(lib: Any, second: Any, log: list[str]) -> Any:
    """``ask`` asks ``q?`` while ``second`` runs beside it."""

    def ask(s: S) -> dict[str, Any]:
        log.append("ask")
        answer = lib.interrupt("q?")
        log.append(f"ask got {answer}")
        return {"a": [f"ask {answer}"]}

    g = lib.StateGraph(S)
    g.add_node("ask", ask)
    g.add_node("second", second)
    g.add_node("end", lambda s: {"a": ["end"]})
    g.add_edge(lib.START, "ask")
    g.add_edge(lib.START, "second")
    g.add_edge(["ask", "second"], "end")
    return g.compile(checkpointer=_memory(lib))


async def _left_open(lib: Any, how: str, call: str) -> Any:
    """The turn fails (``second`` raises) or is stopped (the call is cancelled while ``second`` runs) with ``ask``'s
    question open; then ``call`` answers it."""
    log: list[str] = []
    never = asyncio.Event()

    async def second(s: S) -> dict[str, Any]:
        log.append("second")
        if log.count("second") == 1:
            if how == "stopped":
                await never.wait()  # (cancelled once ask has asked: see below)
            await _until(_asked(app, "q?"))
            raise ValueError("boom")
        return {"a": ["second"]}

    app = _ask_beside(lib, second, log)
    cfg = thread("t")
    first = asyncio.ensure_future(app.ainvoke({"a": []}, cfg))
    if how == "failed":
        with pytest.raises(ValueError, match="boom"):
            await first
    else:
        await _until(_asked(app, "q?"))
        first.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await first
    before = _seen(app.get_state(cfg))
    if call == "ainvoke":
        out: Any = dict(await app.ainvoke(lib.Command(resume="yes"), cfg))
    else:
        out = [c async for c in app.astream(lib.Command(resume="yes"), cfg, stream_mode=["updates", "values"])]
    return before, out, Counter(log), _seen(app.get_state(cfg))


@pytest.mark.parametrize("call", ["ainvoke", "astream"])
@pytest.mark.parametrize("how", ["failed", "stopped"])
async def test_a_resume_answers_the_question_a_failed_or_stopped_turn_left_open(how: str, call: str) -> None:
    mine = await _left_open(ours, how, call)
    assert mine == await _left_open(lg_names(), how, call)
    before, _, log, after = mine
    assert before[2] == ["q?"]  # the question is open
    assert log == Counter({"ask": 2, "second": 2, "ask got yes": 1})  # the node ran again with the answer
    assert after[0] == {"a": ["ask yes", "second", "end"]} and after[2] == []


def _sync_left_open(lib: Any, call: str) -> Any:
    """The same with sync nodes and the sync API (``invoke``, ``stream``): ``second`` fails while ``ask`` asks."""
    log: list[str] = []

    def second(s: S) -> dict[str, Any]:
        log.append("second")
        if log.count("second") == 1:
            _sync_until(_asked(app, "q?"))
            raise ValueError("boom")
        return {"a": ["second"]}

    app = _ask_beside(lib, second, log)
    cfg = thread("t")
    with pytest.raises(ValueError, match="boom"):
        app.invoke({"a": []}, cfg)
    before = _seen(app.get_state(cfg))
    if call == "invoke":
        out: Any = dict(app.invoke(lib.Command(resume="yes"), cfg))
    else:
        # (sync nodes run in a thread pool: concurrent tasks' chunks come in either order, in both libraries)
        out = sorted(repr(c) for c in app.stream(lib.Command(resume="yes"), cfg, stream_mode="updates"))
    return before, out, Counter(log), _seen(app.get_state(cfg))


@pytest.mark.parametrize("call", ["invoke", "stream"])
async def test_a_sync_resume_answers_the_question_a_failed_turn_left_open(call: str) -> None:
    mine = await asyncio.to_thread(_sync_left_open, ours, call)
    assert mine == await asyncio.to_thread(_sync_left_open, lg_names(), call)
    assert mine[3][0] == {"a": ["ask yes", "second", "end"]}


async def _in_a_subgraph(lib: Any) -> Any:
    """The question is asked in a subgraph (beside a sibling that finishes there); a node beside the subgraph
    fails. Answered, the subgraph's asking node gets the answer; its finished sibling does not run again."""
    log: list[str] = []

    def ask(s: S) -> dict[str, Any]:
        log.append("sub ask")
        answer = lib.interrupt("subq")
        log.append(f"sub got {answer}")
        return {"a": [f"ask {answer}"]}

    def other(s: S) -> dict[str, Any]:
        log.append("sub other")
        return {"a": ["other"]}

    sg = lib.StateGraph(S)
    sg.add_node("ask", ask)
    sg.add_node("other", other)
    sg.add_edge(lib.START, "ask")
    sg.add_edge(lib.START, "other")

    async def second(s: S) -> dict[str, Any]:
        log.append("second")
        if log.count("second") == 1:
            await _until(lambda: "sub other" in log and _asked(app, "subq")())
            raise ValueError("boom")
        return {"a": ["second"]}

    g = lib.StateGraph(S)
    g.add_node("sub", sg.compile())
    g.add_node("second", second)
    g.add_edge(lib.START, "sub")
    g.add_edge(lib.START, "second")
    app = g.compile(checkpointer=_memory(lib))
    cfg = thread("t")
    with pytest.raises(ValueError, match="boom"):
        await app.ainvoke({"a": []}, cfg)
    before = _seen(app.get_state(cfg))
    out = dict(await app.ainvoke(lib.Command(resume="Y"), cfg))
    return before, out, Counter(log), _seen(app.get_state(cfg))


async def test_a_resume_answers_a_subgraph_s_question_its_failed_turn_left_open() -> None:
    mine = await _in_a_subgraph(ours)
    assert mine == await _in_a_subgraph(lg_names())
    assert mine[2] == Counter({"sub ask": 2, "sub other": 1, "second": 2, "sub got Y": 1})


async def _two_open(lib: Any) -> Any:
    """Two questions left open by a failed turn: a bare value is ambiguous; a map by id answers one, and the
    other is asked again."""

    async def ask(s: S) -> dict[str, Any]:
        return {"a": [f"ask {lib.interrupt('q?')}"]}

    async def ask2(s: S) -> dict[str, Any]:
        return {"a": [f"ask2 {lib.interrupt('q2?')}"]}

    failed: list[int] = []

    async def second(s: S) -> dict[str, Any]:
        if not failed:
            failed.append(1)
            await _until(_asked(app, "q?", "q2?"))
            raise ValueError("boom")
        return {"a": ["second"]}

    g = lib.StateGraph(S)
    for name, fn in (("ask", ask), ("ask2", ask2), ("second", second)):
        g.add_node(name, fn)
        g.add_edge(lib.START, name)
    app = g.compile(checkpointer=_memory(lib))
    cfg = thread("t")
    with pytest.raises(ValueError, match="boom"):
        await app.ainvoke({"a": []}, cfg)
    with pytest.raises(RuntimeError, match="multiple pending interrupts"):
        await app.ainvoke(lib.Command(resume="x"), cfg)
    st = app.get_state(cfg)
    ids = {i.value: i.id for i in st.interrupts}
    out = await app.ainvoke(lib.Command(resume={ids["q?"]: "X"}), cfg)
    return _seen(st), {k: v for k, v in out.items() if k != "__interrupt__"}, [i.value for i in out["__interrupt__"]]


async def test_a_resume_by_id_answers_one_of_the_questions_left_open() -> None:
    mine = await _two_open(ours)
    assert mine == await _two_open(lg_names())
    assert mine[1:] == ({"a": ["ask X", "second"]}, ["q2?"])


async def _asked_twice(lib: Any) -> Any:
    """``ask`` got its first answer and asked again when its sibling failed: the resume answers the second
    question, and the first keeps its answer (LangGraph keeps resume values as the task's pending writes)."""
    log: list[str] = []

    async def ask(s: S) -> dict[str, Any]:
        first = lib.interrupt("q1")
        log.append(f"first {first}")
        second = lib.interrupt("q2")
        log.append(f"second {second}")
        return {"a": [f"{first} {second}"]}

    async def other(s: S) -> dict[str, Any]:
        log.append("other")
        if log.count("other") == 2:  # (its second run: after q1 was answered)
            await _until(_asked(app, "q2"))
            raise ValueError("boom")
        if log.count("other") == 1:
            lib.interrupt("o?")
        return {"a": ["other"]}

    g = lib.StateGraph(S)
    g.add_node("ask", ask)
    g.add_node("other", other)
    g.add_edge(lib.START, "ask")
    g.add_edge(lib.START, "other")
    app = g.compile(checkpointer=_memory(lib))
    cfg = thread("t")
    await app.ainvoke({"a": []}, cfg)
    ids = {i.value: i.id for i in app.get_state(cfg).interrupts}
    with pytest.raises(ValueError, match="boom"):
        await app.ainvoke(lib.Command(resume={ids["q1"]: "A", ids["o?"]: "O"}), cfg)
    st = app.get_state(cfg)
    out = await app.ainvoke(lib.Command(resume={i.id: "B" for i in st.interrupts if i.value == "q2"}), cfg)
    return _seen(st), out.get("a"), Counter(log)


async def test_answers_the_task_gave_before_the_question_left_open_stay() -> None:
    mine = await _asked_twice(ours)
    assert mine[:2] == (await _asked_twice(lg_names()))[:2]
    assert "A B" in mine[1] and mine[2]["first A"] == 2 and mine[2]["second B"] == 1


async def test_an_answer_that_does_not_fit_the_question_starts_nothing() -> None:
    """(aether_nb checks it before anything runs, as for a live pause: a documented difference.)"""
    log: list[str] = []

    class Amount(BaseModel):
        amount: int

    async def ask(s: S) -> dict[str, Any]:
        log.append("ask")
        return {"a": [str(ours.interrupt("how much?", response_schema=Amount).amount)]}

    async def second(s: S) -> dict[str, Any]:
        log.append("second")
        if log.count("second") == 1:
            await _until(_asked(app, "how much?"))
        raise ValueError("boom")

    g = ours.StateGraph(S)
    g.add_node("ask", ask)
    g.add_node("second", second)
    g.add_edge(ours.START, "ask")
    g.add_edge(ours.START, "second")
    app = g.compile(checkpointer="memory")
    cfg = thread("t")
    with pytest.raises(ValueError, match="boom"):
        await app.ainvoke({"a": []}, cfg)
    before = _seen(app.get_state(cfg))
    with pytest.raises(InvalidAnswer):
        await app.ainvoke(ours.Command(resume={"amount": "many"}), cfg)
    assert log == ["ask", "second"] and _seen(app.get_state(cfg)) == before and before[2] == ["how much?"]
    with pytest.raises(ValueError, match="boom"):  # (second fails again: the answer was taken)
        await app.ainvoke(ours.Command(resume={"amount": 3}), cfg)
    assert app.get_state(cfg).values == {"a": ["3"]} and log.count("ask") == 2


SCRIPT = """
import asyncio, json, operator, sys
from typing import Annotated, TypedDict
import aether_nb as ag
from aether_nb.flow import START, Command, StateGraph, interrupt

DB, LOG, MODE = sys.argv[1], sys.argv[2], sys.argv[3]
ag.configure(store=DB)

def log(line):
    with open(LOG, "a") as f:
        f.write(line + "\\n")

class S(TypedDict):
    a: Annotated[list[str], operator.add]

async def ask(s):
    log("ask")
    first = interrupt("q1")
    second = interrupt("q2")
    return {"a": [f"{first} {second}"]}

async def other(s):
    log("other")
    if MODE == "start":
        while not app.get_state(cfg).interrupts:  # (fails once ask has asked)
            await asyncio.sleep(0.005)
        raise ValueError("boom")
    return {"a": ["other"]}

g = StateGraph(S, name="leftopen")
g.add_node("ask", ask)
g.add_node("other", other)
g.add_edge(START, "ask")
g.add_edge(START, "other")
app = g.compile()
cfg = {"thread_id": "t1"}

async def main():
    if MODE == "start":
        try:
            await app.ainvoke({"a": []}, cfg)
        except ValueError:
            print("FAILED", [i.value for i in app.get_state(cfg).interrupts], flush=True)
        return
    res = await app.ainvoke(Command(resume=MODE), cfg)
    print("OUT", json.dumps([res.status, res.get("a"), [i.value for i in res.interrupts]]), flush=True)

asyncio.run(main())
"""


def test_the_answer_to_a_question_left_open_survives_a_restart(tmp_path: Path) -> None:
    """Answered in a new process, the node asks its next question and the turn pauses; a third process answers
    that one: the first answer is the new turn's (stored with it), so it is not asked again."""
    script, db, log = tmp_path / "leftopen.py", tmp_path / "flow.duckdb", tmp_path / "log.txt"
    script.write_text(SCRIPT)

    def run(mode: str) -> str:
        res = subprocess.run(
            [sys.executable, str(script), str(db), str(log), mode], capture_output=True, text=True, timeout=120
        )
        assert res.returncode == 0, res.stderr
        return res.stdout

    assert "FAILED ['q1']" in run("start")
    out = json.loads(run("A").split("OUT ", 1)[1].splitlines()[0])
    assert out == ["interrupted", ["other"], ["q2"]]
    out = json.loads(run("B").split("OUT ", 1)[1].splitlines()[0])
    assert out == ["completed", ["A B", "other"], []]
    assert log.read_text().split() == ["ask", "other", "ask", "other", "ask"]
