"""``get_state(config).interrupts`` at the head of a turn that failed or was stopped lists the questions its pending
tasks left open, as LangGraph's does (it was empty, though each task listed its own; aether_nb/flow/threads.py)."""

from __future__ import annotations

import asyncio
import contextlib
import operator
from typing import Annotated, Any, TypedDict

import pytest

import aether_nb.flow as ours
from tests.flow.conftest import lg_names, thread

pytestmark = pytest.mark.anyio


class S(TypedDict):
    a: Annotated[list[str], operator.add]


def _app(lib: Any, second: Any) -> Any:
    async def ask(s: S) -> dict[str, Any]:
        return {"a": [f"ask {lib.interrupt('q?')}"]}

    g = lib.StateGraph(S)
    g.add_node("ask", ask)
    g.add_node("second", second)
    g.add_edge(lib.START, "ask")
    g.add_edge(lib.START, "second")
    return g.compile(checkpointer=lib.InMemorySaver() if lib is not ours else "memory")


def _seen(st: Any) -> Any:
    return (
        st.values,
        st.next,
        [i.value for i in st.interrupts],
        [(t.name, [i.value for i in t.interrupts], t.error is not None) for t in st.tasks],
    )


async def _failed_beside_a_question(lib: Any) -> Any:
    """``ask`` asks while ``second`` fails in the same superstep."""

    async def second(s: S) -> dict[str, Any]:
        await asyncio.sleep(0.05)
        raise ValueError("boom")

    app = _app(lib, second)
    cfg = thread("t")
    with pytest.raises(ValueError, match="boom"):
        await app.ainvoke({"a": []}, cfg)
    return _seen(app.get_state(cfg))


async def _failed_on_its_answer(lib: Any) -> Any:
    """Both ask; answering ``second``'s question makes it fail: ``ask``'s question is still open."""

    async def second(s: S) -> dict[str, Any]:
        if lib.interrupt("q2?") == "bad":
            raise ValueError("bad answer")
        return {"a": ["second"]}

    app = _app(lib, second)
    cfg = thread("t")
    await app.ainvoke({"a": []}, cfg)
    ids = {i.value: i.id for i in app.get_state(cfg).interrupts}
    with pytest.raises(ValueError, match="bad answer"):
        await app.ainvoke(lib.Command(resume={ids["q2?"]: "bad"}), cfg)
    return _seen(app.get_state(cfg))


async def _stopped_beside_a_question(lib: Any) -> Any:
    """``ask`` asks while ``second`` runs; the call is cancelled."""
    running = asyncio.Event()

    async def second(s: S) -> dict[str, Any]:
        running.set()
        await asyncio.sleep(60)
        return {"a": ["second"]}

    app = _app(lib, second)
    cfg = thread("t")
    call = asyncio.ensure_future(app.ainvoke({"a": []}, cfg))
    await asyncio.wait_for(running.wait(), 10)
    await asyncio.sleep(0.1)
    call.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await call
    return _seen(app.get_state(cfg))


@pytest.mark.parametrize("scenario", [_failed_beside_a_question, _failed_on_its_answer, _stopped_beside_a_question])
async def test_get_state_lists_the_open_questions_of_a_failed_or_stopped_turn_as_in_langgraph(scenario: Any) -> None:
    mine = await scenario(ours)
    assert mine == await scenario(lg_names())
    assert "q?" in mine[2]


async def test_resuming_a_stopped_turn_s_question_answers_it_as_in_langgraph() -> None:
    """The question stays open: ``Command(resume=...)`` answers it in a new turn, where the stopped node runs again
    (tests/flow/test_lg_resume_left_open.py compares more of it with LangGraph)."""

    async def go(lib: Any) -> Any:
        running = asyncio.Event()
        runs: list[str] = []

        async def second(s: S) -> dict[str, Any]:
            runs.append("second")
            running.set()
            if len(runs) == 1:
                await asyncio.sleep(60)
            return {"a": ["second"]}

        app = _app(lib, second)
        cfg = thread("t")
        call = asyncio.ensure_future(app.ainvoke({"a": []}, cfg))
        await asyncio.wait_for(running.wait(), 10)
        for _ in range(2000):  # (until the question shows: then stop the turn)
            if app.get_state(cfg).interrupts:
                break
            await asyncio.sleep(0.005)
        call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await call
        out = await app.ainvoke(lib.Command(resume="yes"), cfg)
        return dict(out), runs, _seen(app.get_state(cfg))

    mine = await go(ours)
    assert mine == await go(lg_names())
    assert mine[0] == {"a": ["ask yes", "second"]}
