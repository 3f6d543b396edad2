"""A cancelled ``ainvoke`` (``task.cancel()``, ``asyncio.wait_for``'s timeout) or a stream left early (``break``,
``aclose()``) has stopped its turn when it returns, as LangGraph's: the finished tasks' writes are kept, and the
next call on the thread goes on at once (it said ``thread_busy`` while the turn's run still unwound). A node that
catches its cancel to clean up holds the cancelled call until it ends, as in LangGraph; a second cancel ends the
wait, and a node ignoring its cancel holds it :data:`~aether_nb.flow.turn_watch.STOP_WAIT_S` at most
(aether_nb/flow/turns.py, turn_watch.py)."""

from __future__ import annotations

import asyncio
import contextlib
import operator
import time
from typing import Annotated, Any, TypedDict

import pytest

import aether_nb.flow as ours
from aether_nb.errors import UsageError
from aether_nb.flow import turn_watch
from tests.flow.conftest import lg_names, thread

pytestmark = pytest.mark.anyio


class S(TypedDict):
    a: Annotated[list[str], operator.add]


class Slow:
    """``slow``'s first run: sleeps until cancelled, then holds on ``hold_s`` seconds (or until ``release``) before
    it lets the cancel through."""

    def __init__(self, hold_s: float = 0.0) -> None:
        self.calls: list[str] = []
        self.started = asyncio.Event()
        self.ended = asyncio.Event()
        self.release = asyncio.Event()
        self.hold_s = hold_s

    def graph(self, lib: Any) -> Any:
        async def fast(s: S) -> dict[str, Any]:
            self.calls.append("fast")
            return {"a": ["fast"]}

        async def slow(s: S) -> dict[str, Any]:
            self.calls.append("slow")
            if self.calls.count("slow") == 1:
                self.started.set()
                try:
                    await asyncio.sleep(60)
                except asyncio.CancelledError:
                    if self.hold_s:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self.release.wait(), self.hold_s)
                    raise
                finally:
                    self.ended.set()
            return {"a": ["slow"]}

        g = lib.StateGraph(S)
        g.add_node("fast", fast)
        g.add_node("slow", slow)
        g.add_edge(lib.START, "fast")
        g.add_edge(lib.START, "slow")
        return g.compile(checkpointer=lib.InMemorySaver() if lib is not ours else "memory")


async def _leave(app: Any, cfg: dict[str, Any], slow: Slow, how: str) -> list[Any]:
    """Start a turn and leave it while ``slow`` runs, ``how`` a caller would; what the caller saw."""
    seen: list[Any] = []
    if how in ("cancel", "wait_for"):
        call = asyncio.ensure_future(
            app.ainvoke({"a": []}, cfg) if how == "cancel" else asyncio.wait_for(app.ainvoke({"a": []}, cfg), 60)
        )
        await asyncio.wait_for(slow.started.wait(), 10)
        await asyncio.sleep(0.1)  # (fast's task has returned its outcome)
        call.cancel()
        try:
            await call
        except asyncio.CancelledError:
            seen.append("CancelledError")
    elif how == "timeout":
        try:
            await asyncio.wait_for(app.ainvoke({"a": []}, cfg), 0.5)
        except TimeoutError:
            seen.append("TimeoutError")
    elif how == "break":
        async for chunk in app.astream({"a": []}, cfg):
            seen.append(sorted(chunk))
            break
    else:
        stream = app.astream({"a": []}, cfg)
        seen.append(sorted(await stream.__anext__()))
        await asyncio.wait_for(slow.started.wait(), 10)
        await stream.aclose()
    return seen


async def _cancel_then_go_on(lib: Any, how: str) -> dict[str, Any]:
    slow = Slow()
    app = slow.graph(lib)
    cfg = thread("t")
    seen = await _leave(app, cfg, slow, how)
    st = app.get_state(cfg)
    errors = [(t.name, t.error) for t in st.tasks]
    res = await app.ainvoke(None, cfg)  # at once: no astop, no wait
    return {
        "seen": seen,
        "after": (st.values, st.next),
        "errors": errors,
        "result": sorted(res["a"]),
        "calls": slow.calls,
    }


@pytest.mark.parametrize("how", ["cancel", "wait_for", "timeout", "break", "aclose"])
async def test_the_next_call_goes_on_at_once_after_a_cancelled_call_as_in_langgraph(how: str) -> None:
    theirs = await _cancel_then_go_on(lg_names(), how)
    mine = await _cancel_then_go_on(ours, how)
    assert mine == theirs
    assert mine["after"] == ({"a": ["fast"]}, ("slow",))
    assert mine["result"] == ["fast", "slow"] and mine["calls"] == ["fast", "slow", "slow"]


async def test_get_state_shows_the_running_superstep_s_finished_tasks_as_in_langgraph() -> None:
    """LangGraph saves each task's writes as it finishes: ``get_state`` while a sibling still runs shows them."""

    async def mid_superstep(lib: Any) -> Any:
        slow = Slow()
        app = slow.graph(lib)
        cfg = thread("t")
        call = asyncio.ensure_future(app.ainvoke({"a": []}, cfg))
        await asyncio.wait_for(slow.started.wait(), 10)
        await asyncio.sleep(0.1)
        st = app.get_state(cfg)
        call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await call
        return st.values, st.next, [(t.name, t.result) for t in st.tasks]

    mine = await mid_superstep(ours)
    assert mine == await mid_superstep(lg_names())
    assert mine == ({"a": ["fast"]}, ("slow",), [("fast", {"a": ["fast"]}), ("slow", None)])


async def _held(lib: Any, second_cancel_after: float | None) -> tuple[float, Any]:
    """Cancel a call whose node holds its cancel for 1 s (a second cancel after ``second_cancel_after``): how long
    the cancelled call took to raise, and what the next call returned once the node let go."""
    slow = Slow(hold_s=1.0)
    app = slow.graph(lib)
    cfg = thread("t")
    call = asyncio.ensure_future(app.ainvoke({"a": []}, cfg))
    await asyncio.wait_for(slow.started.wait(), 10)
    await asyncio.sleep(0.1)
    began = time.monotonic()
    call.cancel()
    if second_cancel_after is not None:
        await asyncio.sleep(second_cancel_after)
        call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    took = time.monotonic() - began
    await asyncio.wait_for(slow.ended.wait(), 10)
    if lib is ours:
        await app.astop(cfg)  # (after a second cancel the run may still unwind)
    res = await app.ainvoke(None, cfg)
    return took, sorted(res["a"])


async def test_a_node_holding_its_cancel_holds_the_cancelled_call_as_in_langgraph() -> None:
    lg_took, lg_res = await _held(lg_names(), None)
    took, res = await _held(ours, None)
    assert lg_took >= 0.9 and took >= 0.9  # (the node's clean-up ran before the call raised)
    assert took < 5
    assert res == lg_res == ["fast", "slow"]


async def test_a_second_cancel_ends_the_wait_for_the_turn_to_unwind_as_in_langgraph() -> None:
    lg_took, lg_res = await _held(lg_names(), 0.2)
    took, res = await _held(ours, 0.2)
    assert lg_took < 0.8 and took < 0.8
    assert res == lg_res == ["fast", "slow"]


async def test_a_node_ignoring_its_cancel_holds_the_cancelled_call_only_so_long(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past STOP_WAIT_S the cancelled call raises anyway (a note says why) and the thread is busy until the node
    lets go; the call after that goes on."""
    monkeypatch.setattr(turn_watch, "STOP_WAIT_S", 0.3)
    slow = Slow(hold_s=60)
    app = slow.graph(ours)
    cfg = thread("t")
    call = asyncio.ensure_future(app.ainvoke({"a": []}, cfg))
    await asyncio.wait_for(slow.started.wait(), 10)
    began = time.monotonic()
    call.cancel()
    with pytest.raises(asyncio.CancelledError) as caught:
        await call
    assert time.monotonic() - began < 5
    assert any("ignores its cancellation" in n for n in caught.value.__notes__)
    with pytest.raises(UsageError, match="is being stopped") as busy:
        await app.ainvoke(None, cfg)
    assert busy.value.code == "thread_busy"
    slow.release.set()
    await app.astop(cfg)
    assert sorted((await app.ainvoke(None, cfg))["a"]) == ["fast", "slow"]


async def test_a_call_after_app_stop_waits_for_the_stop_and_goes_on() -> None:
    """``app.stop(config)`` (sync: it does not wait) then a call at once: the call waits for the stop under way."""
    slow = Slow()
    app = slow.graph(ours)
    cfg = thread("t")
    call = asyncio.ensure_future(app.ainvoke({"a": []}, cfg))
    await asyncio.wait_for(slow.started.wait(), 10)
    await asyncio.sleep(0.1)
    assert app.stop(cfg)["running"] is True
    res = await app.ainvoke(None, cfg)
    assert sorted(res["a"]) == ["fast", "slow"] and slow.calls == ["fast", "slow", "slow"]
    assert (await call).status == "stopped"


async def test_a_busy_thread_is_still_refused() -> None:
    """A call on a thread whose turn runs with no stop under way is refused, as before."""
    slow = Slow()
    app = slow.graph(ours)
    cfg = thread("t")
    call = asyncio.ensure_future(app.ainvoke({"a": []}, cfg))
    await asyncio.wait_for(slow.started.wait(), 10)
    with pytest.raises(UsageError, match="is running") as busy:
        await app.ainvoke(None, cfg)
    assert busy.value.code == "thread_busy"
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
