"""A run started by an agent's body (``other.start(...)``, ``await graph(...)``) is a step of the calling run.

Each test runs two real processes on one DuckDB file: the first dies (``os._exit``, no cleanup, like a killed kernel)
while the calling run waits for a person, the second resumes it. The other agent's tool appends a line to a file
each time it really executes; after both processes it holds one line, and the store holds one run of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import aether_nb as ag
from tests.conftest import after, arun, run_script

SCRIPT = """
import asyncio, json, os, sys
import aether_nb as ag
from aether_nb.testing import ScriptedChannel

DB, EFFECTS, MODE, PHASE, DURABILITY = sys.argv[1:6]
ag.configure(store=DB, durability=DURABILITY, channel=ScriptedChannel(["ok"] * 4 if PHASE == "2" else []))

@ag.tool(outputs=["v"])
async def charge(x: int) -> dict:
    with open(EFFECTS, "a") as f:
        f.write(f"charge {x}\\n")
    return {"v": x}

@ag.graph_fn(outputs=["r"])
async def billing(x: int, *, context):
    r = (await charge(x))["v"]
    if MODE == "child_waits":
        await context.channel().ask_text("bill?")
    return {"r": r}

@ag.graphify(name="pipeline", inputs=["x"], outputs=["v"])
def pipeline(x):
    return {"v": charge(x=x)["v"]}

@ag.graph_fn(outputs=["out"])
async def boss(*, context):
    if MODE == "graphify":
        r = await pipeline(x=7)
    elif MODE == "graphify_start":
        r = await pipeline.start(x=7)
    elif MODE == "run_id":
        r = await billing.start(x=7, run_id="bill-7")
    else:
        child = billing.start(x=7)
        r = await child
    a = await context.channel().ask_text("done?")
    return {"out": [r, a]}

async def main():
    run = boss.start(run_id="b")
    if PHASE == "1":
        if MODE == "child_waits":
            while not [r for r in ag.runs() if r.graph_name == "billing" and r.status == "waiting"]:
                await asyncio.sleep(0.01)
        else:
            await run.wait_for("waiting", timeout=30)
        print("WAITING", flush=True)
        os._exit(0)
    print("OUT", json.dumps(await asyncio.wait_for(run.result(), 60)), flush=True)
    print("RUNS", json.dumps(sorted([r.graph_name, r.status] for r in ag.runs())), flush=True)

asyncio.run(main())
"""


def _two_processes(tmp_path: Path, mode: str, durability: str = "sync") -> tuple[str, list[str]]:
    script = tmp_path / "boss.py"
    script.write_text(SCRIPT)
    db, effects = tmp_path / "nb.duckdb", tmp_path / "effects.txt"
    args = (str(db), str(effects), mode)
    assert "WAITING" in run_script(script, *args, "1", durability)
    assert effects.read_text().splitlines() == ["charge 7"]
    out = run_script(script, *args, "2", durability)
    return out, effects.read_text().splitlines()


@pytest.mark.parametrize("durability", ["sync", "async"])
def test_a_run_started_by_a_body_is_not_started_again_on_resume(tmp_path: Path, durability: str) -> None:
    out, effects = _two_processes(tmp_path, "start", durability)
    assert effects == ["charge 7"]  # the other agent's tool ran once
    assert after(out, "OUT") == {"out": [{"r": 7}, "ok"]}  # and the body got its stored outputs back
    assert after(out, "RUNS") == [["billing", "succeeded"], ["boss", "succeeded"]]  # one run of it, not two


def test_a_started_run_cut_while_waiting_is_resumed_not_started_again(tmp_path: Path) -> None:
    out, effects = _two_processes(tmp_path, "child_waits")
    assert effects == ["charge 7"]
    assert after(out, "OUT") == {"out": [{"r": 7}, "ok"]}
    assert after(out, "RUNS") == [["billing", "succeeded"], ["boss", "succeeded"]]


@pytest.mark.parametrize("mode", ["graphify", "graphify_start"])
def test_a_graph_run_by_a_body_is_not_run_again_on_resume(tmp_path: Path, mode: str) -> None:
    out, effects = _two_processes(tmp_path, mode)
    assert effects == ["charge 7"]
    assert after(out, "OUT") == {"out": [{"v": 7}, "ok"]}
    assert after(out, "RUNS") == [["boss", "succeeded"], ["pipeline", "succeeded"]]


def test_a_run_id_given_in_a_body_is_kept(tmp_path: Path) -> None:
    out, effects = _two_processes(tmp_path, "run_id")
    assert effects == ["charge 7"]
    assert after(out, "OUT") == {"out": [{"r": 7}, "ok"]}
    assert after(out, "RUNS") == [["billing", "succeeded"], ["boss", "succeeded"]]


def test_the_start_is_a_step_listed_on_the_node_that_made_it(session: Any) -> None:
    """The step names the run it started (its id: the caller's id and the step key), and the started run says
    which run and step started it."""

    @ag.tool(outputs=["v"])
    async def double(x: int) -> dict[str, int]:
        return {"v": 2 * x}

    @ag.graph_fn(outputs=["r"])
    async def worker(x: int) -> dict[str, int]:
        return {"r": (await double(x))["v"]}

    @ag.graph_fn(outputs=["out"])
    async def lead() -> dict[str, Any]:
        return {"out": (await worker.start(x=2))["r"]}

    async def main() -> ag.Run:
        run: ag.Run = lead.start(run_id="L")
        assert await run == {"out": 4}
        return run

    run = arun(main())
    [call] = run.graph.calls
    assert (call["key"], call["service"], call["method"]) == ("worker.start_1", "worker", "start")
    assert call["inputs"] == {"x": 2} and call["outputs"] == {"run_id": "L.worker.start_1"}
    child = ag.get_run("L.worker.start_1")
    assert child.status == "succeeded" and child.outputs == {"r": 4}
    assert session.store.get_run(child.id).meta["started_by"] == {"run_id": "L", "step": "worker.start_1"}
