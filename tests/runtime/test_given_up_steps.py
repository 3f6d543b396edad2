"""A call the agent's body gave up on is part of what the run did: a resumed run gives up on it again, never runs it.

Found by a tester: a body gives up on a slow tool (``asyncio.wait_for``, or a ``TaskGroup`` whose other task
failed), handles that, writes to KV and asks a person; the process is killed while it waits. The resumed process ran
the tool again ("quote requested" twice), and when the tool answered in time that time, the body took the other
branch and the run failed with ``ReplayMismatch`` blaming changed code. A run that left memory (more waiting runs
than ``max_live_waiting``) did the same when answered. A run stopped as a whole, or whose loop went away, still runs
its cut-off step when resumed.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.store.duckdb import DuckDBStore
from aether_nb.store.memory import MemoryStore
from tests.conftest import after, arun, default_session, run_script

CHILD = r"""
import asyncio, json, os, signal, sys
import aether_nb as ag
from aether_nb.testing import ScriptedChannel

DIR, MODE, PHASE = sys.argv[1], sys.argv[2], sys.argv[3]
ag.configure(store=f"{DIR}/nb.duckdb", durability="sync", channel=ScriptedChannel(["go"] * 3))
started = asyncio.Event()

def effect(tag):
    with open(f"{DIR}/effects.txt", "a") as f:
        f.write(f"{tag} {os.getpid()}\n")

@ag.tool(outputs=["v"])
async def quote(x: int) -> dict:
    effect("quote requested")
    started.set()
    if PHASE == "1":
        await asyncio.Event().wait()  # the service is slow the first time: the body gives up on it
    return {"v": x}  # and answers at once the second time

@ag.tool(outputs=["v"])
async def check(x: int) -> dict:
    await started.wait()
    raise ValueError("check failed")

@ag.graph_fn(outputs=["out"])
async def agent(*, context):
    if MODE == "wait_for":
        try:
            q = await asyncio.wait_for(quote(1), 0.3)
            path = f"got {q['v']}"
        except TimeoutError:
            path = "gave up"
    else:
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(quote(1))
                tg.create_task(check(2))
            path = "both"
        except* ValueError:
            path = "check failed"
    await context.kv().set("path", path)
    answer = await context.channel().ask_text(f"{path}: continue?")
    if PHASE == "1":
        os.kill(os.getpid(), signal.SIGKILL)
    return {"out": [path, answer]}

async def main():
    try:
        print("OUT", json.dumps(await agent.start(run_id="g")))
    except Exception as exc:
        print("OUT", json.dumps({"error": f"{type(exc).__name__}: {exc}"}))

asyncio.run(main())
"""


@pytest.mark.parametrize(("mode", "path"), [("wait_for", "gave up"), ("task_group", "check failed")])
def test_a_call_given_up_on_is_not_run_again_when_the_run_resumes_after_a_kill(
    tmp_path: Path, mode: str, path: str
) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    killed = subprocess.run(
        [sys.executable, str(script), str(tmp_path), mode, "1"], capture_output=True, text=True, timeout=120
    )
    assert killed.returncode == -9, killed.stderr[-3000:]  # killed while the run waited, after the answer
    out = after(run_script(script, str(tmp_path), mode, "2"), "OUT")
    # the same path, with the answer given before the kill (old code: the quote requested again, and with
    # wait_for, "ReplayMismatch: ... kv.set was called with other arguments", as it answered in time this time)
    assert out == {"out": [path, "go"]}
    effects = (tmp_path / "effects.txt").read_text().splitlines()
    assert [line.split()[:2] for line in effects] == [["quote", "requested"]], effects


EFFECTS: list[Path] = []


@ag.tool(name="gu_quote", outputs=["v"])
async def gu_quote(x: int) -> dict[str, int]:
    with EFFECTS[0].open("a") as f:
        f.write(f"quote {x} requested\n")
    await asyncio.Event().wait()  # a hung API call: the body gives up on it
    return {"v": x}


@ag.graph_fn(name="gu_agent", outputs=["out"])
async def gu_agent(n: int, *, context: ag.NodeContext) -> dict[str, Any]:
    try:
        await asyncio.wait_for(gu_quote(n), 0.05)
        path = "got"
    except TimeoutError:
        path = "gave up"
    answer = await context.channel().ask_text(f"{n}: {path}. continue?")
    return {"out": [path, answer]}


def test_a_call_given_up_on_is_not_run_again_when_the_run_comes_back_from_leaving_memory(tmp_path: Path) -> None:
    EFFECTS[:] = [tmp_path / "effects.txt"]
    with default_session(MemoryStore()) as session:
        session.max_live_waiting = 0  # a parked run leaves memory as soon as it can

        async def main() -> list[Any]:
            runs = [gu_agent.start(n=i, run_id=f"e{i}") for i in range(2)]
            for run in runs:
                await run.wait_for("waiting", timeout=10)
            for run in runs:
                while run.live:  # it leaves a loop turn after it parks (under arun's timeout)
                    await asyncio.sleep(0)
            for run in runs:
                await run.answer("yes")
            return [await run for run in runs]

        assert arun(main()) == [{"out": ["gave up", "yes"]}] * 2
    # old code: each quote requested twice (the resumed run called the tool again)
    assert sorted(EFFECTS[0].read_text().splitlines()) == ["quote 0 requested", "quote 1 requested"]


@ag.graph_fn(name="gu_patient", outputs=["out"])
async def gu_patient(*, context: ag.NodeContext) -> dict[str, Any]:
    try:
        await asyncio.wait_for(gu_quote(7), 30)
        path = "got"
    except TimeoutError:
        path = "gave up"
    return {"out": [path]}


def test_a_run_stopped_or_cut_off_while_its_call_runs_still_runs_the_call_when_resumed(tmp_path: Path) -> None:
    """Only the body giving up is journaled: a stop of the whole run, or a loop going away, are not (the call is
    cancelled there too, by the same ``wait_for``'s task)."""
    EFFECTS[:] = [tmp_path / "effects.txt"]
    store = DuckDBStore(str(tmp_path / "nb.duckdb"))
    with default_session(store) as first:

        async def cut() -> None:
            run = gu_patient.start(run_id="cut")
            await run.wait_for("running", timeout=10)
            while not EFFECTS[0].exists():
                await asyncio.sleep(0)
            await first.store.barrier()

        arun(cut())  # the loop ends with the run in its call: the kernel stopped

        async def stop() -> str:
            run = gu_patient.start(run_id="stopped")
            while len(EFFECTS[0].read_text().splitlines()) < 2:
                await asyncio.sleep(0)
            run.cancel()
            return await run.wait_for("cancelled", "succeeded", "failed", timeout=10)

        assert arun(stop()) == "cancelled"
        first.flush()
        assert [e.kind for e in first.store.load_journal("stopped")] == []  # nothing journaled as given up
    with default_session(store):  # the kernel restarted: only the store is left

        async def resume() -> None:
            run = ag.get_run("cut")
            run.resume()
            while len(EFFECTS[0].read_text().splitlines()) < 3:  # the cut-off call runs again, as before
                await asyncio.sleep(0)
            run.cancel()

        arun(resume())
    store.close()
    assert EFFECTS[0].read_text().splitlines() == ["quote 7 requested"] * 3
