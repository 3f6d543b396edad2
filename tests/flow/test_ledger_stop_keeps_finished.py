"""Stopping a turn (cancelling its ``ainvoke``, or ``app.astop``) while one task of a superstep still runs keeps
the writes of its sibling tasks that had finished, as LangGraph keeps them as pending writes: ``get_state`` shows
them, ``next`` names only the stopped task, and the next call runs only that one — a finished node's code, and the
tool calls in it, run once (aether_nb/flow/ledger.py ``record_stop``). Also across a new process (DuckDB)."""

from __future__ import annotations

import asyncio
import contextlib
import operator
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest

import aether_nb as ag
import aether_nb.flow as ours
from tests.flow.conftest import lg_names, thread

pytestmark = pytest.mark.anyio


class S(TypedDict):
    a: Annotated[list[str], operator.add]


def _fast_and_slow(lib: Any, calls: list[str], fast_done: asyncio.Event) -> Any:
    """``fast`` finishes at once; ``slow`` sleeps the first time it runs (the turn is stopped then)."""

    async def fast(s: S) -> dict[str, Any]:
        calls.append("fast")
        fast_done.set()
        return {"a": ["fast"]}

    async def slow(s: S) -> dict[str, Any]:
        calls.append("slow")
        if calls.count("slow") == 1:
            await asyncio.sleep(30)
        return {"a": ["slow"]}

    g = lib.StateGraph(S)
    g.add_node("fast", fast)
    g.add_node("slow", slow)
    g.add_edge(lib.START, "fast")
    g.add_edge(lib.START, "slow")
    return g


async def _stop_then_go_on(lib: Any, app: Any, calls: list[str], fast_done: asyncio.Event, how: str) -> Any:
    cfg = thread("t")
    call = asyncio.ensure_future(app.ainvoke({"a": []}, cfg))
    await asyncio.wait_for(fast_done.wait(), 10)
    await asyncio.sleep(0.2)  # (fast's task returns its outcome; slow sleeps)
    if how == "astop":
        await app.astop(cfg)
    else:
        call.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await call
    st = await app.aget_state(cfg)
    res = await app.ainvoke(None, cfg)
    return {"after the stop": (st.values, st.next), "result": sorted(res["a"]), "calls": list(calls)}


async def test_a_cancelled_turn_keeps_a_finished_siblings_write_as_in_langgraph() -> None:
    lg = lg_names()
    lg_calls: list[str] = []
    lg_done = asyncio.Event()
    theirs = await _stop_then_go_on(
        lg, _fast_and_slow(lg, lg_calls, lg_done).compile(checkpointer=lg.InMemorySaver()), lg_calls, lg_done, "cancel"
    )
    our_calls: list[str] = []
    our_done = asyncio.Event()
    mine = await _stop_then_go_on(
        ours, _fast_and_slow(ours, our_calls, our_done).compile(checkpointer="memory"), our_calls, our_done, "cancel"
    )
    assert mine == theirs
    assert mine["after the stop"] == ({"a": ["fast"]}, ("slow",)) and mine["calls"] == ["fast", "slow", "slow"]


@pytest.mark.parametrize("how", ["astop", "cancel"])
async def test_a_stopped_turn_runs_a_finished_node_and_its_tool_calls_once(checkpointer: str, how: str) -> None:
    """On either checkpointer: a finished node (with a tool call) is not run again; the stopped node runs again,
    and the tool call it completed before the stop replays (the call ledger)."""
    ran: list[str] = []
    fast_done = asyncio.Event()

    @ag.tool(outputs=["receipt"])
    def charge(who: str) -> dict[str, str]:
        ran.append(f"charge {who}")
        return {"receipt": f"charged {who}"}

    async def fast(s: S) -> dict[str, Any]:
        ran.append("fast")
        receipt = (await charge("fast"))["receipt"]
        fast_done.set()
        return {"a": [receipt]}

    async def slow(s: S) -> dict[str, Any]:
        ran.append("slow")
        receipt = (await charge("slow"))["receipt"]
        if ran.count("slow") == 1:
            await asyncio.sleep(30)
        return {"a": [receipt]}

    g = ours.StateGraph(S, name=f"stop_keeps_{how}")
    g.add_node("fast", fast)
    g.add_node("slow", slow)
    g.add_edge(ours.START, "fast")
    g.add_edge(ours.START, "slow")
    app = g.compile(checkpointer=checkpointer)
    st, res = await _stop_and_resume(app, fast_done, how)
    assert (st.values, st.next) == ({"a": ["charged fast"]}, ("slow",))
    assert sorted(res["a"]) == ["charged fast", "charged slow"]
    assert sorted(ran) == ["charge fast", "charge slow", "fast", "slow", "slow"]
    assert ran.count("fast") == 1 and ran.count("charge fast") == 1 and ran.count("charge slow") == 1


async def _stop_and_resume(app: Any, fast_done: asyncio.Event, how: str) -> tuple[Any, Any]:
    cfg = thread("t")
    call = asyncio.ensure_future(app.ainvoke({"a": []}, cfg))
    await asyncio.wait_for(fast_done.wait(), 10)
    await asyncio.sleep(0.2)
    if how == "astop":
        assert (await app.astop(cfg))["running"] is True
        stopped = await call
        assert stopped.status == "stopped"
    else:
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call  # (it raises once the turn has unwound, as LangGraph's: the next call goes on at once)
    return await app.aget_state(cfg), await app.ainvoke(None, cfg)


SCRIPT = """
import asyncio, json, operator, os, sys
from typing import Annotated, TypedDict
import aether_nb as ag
from aether_nb.flow import START, StateGraph

DB, COUNTER, MODE = sys.argv[1], sys.argv[2], sys.argv[3]
ag.configure(store=DB)

def log(line):
    with open(COUNTER, "a") as f:
        f.write(line + "\\n")

@ag.tool(outputs=["receipt"])
def charge(who: str) -> dict:
    log(f"charge {who}")
    return {"receipt": f"charged {who}"}

class S(TypedDict):
    a: Annotated[list, operator.add]

fast_done = asyncio.Event()

async def fast(s: S):
    log("fast")
    receipt = (await charge("fast"))["receipt"]
    fast_done.set()
    return {"a": [receipt]}

async def slow(s: S):
    log("slow")
    receipt = (await charge("slow"))["receipt"]
    if MODE == "start":
        await asyncio.sleep(60)
    return {"a": [receipt]}

g = StateGraph(S, name="stopflow")
g.add_node("fast", fast).add_node("slow", slow).add_edge(START, "fast").add_edge(START, "slow")
app = g.compile()
cfg = {"configurable": {"thread_id": "s1"}}

async def main():
    if MODE == "start":
        call = asyncio.ensure_future(app.ainvoke({"a": []}, cfg))
        await asyncio.wait_for(fast_done.wait(), 30)
        await asyncio.sleep(0.3)
        await app.astop(cfg)
        print("STOPPED", (await call).status, flush=True)
        return
    st = await app.aget_state(cfg)
    print("STATE", json.dumps([st.values, list(st.next)]), flush=True)
    res = await app.ainvoke(None, cfg)
    print("OUT", json.dumps([res.status, sorted(res["a"])]), flush=True)

asyncio.run(main())
"""


def test_a_stopped_turn_goes_on_in_a_new_process_running_each_effect_once(tmp_path: Path) -> None:
    script, db, counter = tmp_path / "stopflow.py", tmp_path / "stop.duckdb", tmp_path / "count.txt"
    script.write_text(SCRIPT)

    def run(mode: str) -> str:
        res = subprocess.run(
            [sys.executable, str(script), str(db), str(counter), mode], capture_output=True, text=True, timeout=120
        )
        assert res.returncode == 0, res.stderr[-3000:]
        return res.stdout

    assert "STOPPED stopped" in run("start")
    out = run("resume")
    assert 'STATE [{"a": ["charged fast"]}, ["slow"]]' in out
    assert 'OUT ["completed", ["charged fast", "charged slow"]]' in out
    # fast ran once (its write was kept), slow ran again and its completed charge replayed from the ledger
    assert sorted(counter.read_text().splitlines()) == ["charge fast", "charge slow", "fast", "slow", "slow"]
