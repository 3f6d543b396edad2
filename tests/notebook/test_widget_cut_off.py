"""A run whose process died in the middle of a streamed answer or a progress bar: the widget rebuilt from the store
in the next process shows that bubble and that bar as stopped, not typing and moving (nothing will continue them:
a resumed run streams its answer again in a new bubble). A run cut off in a step shows as cut off, not running."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aether_nb as ag
from aether_nb.notebook import static_view
from aether_nb.notebook.widget import RunView
from aether_nb.runtime import session as session_mod
from aether_nb.runtime import status
from aether_nb.store.duckdb import DuckDBStore
from tests.conftest import arun, make_session

DIES_MID_STREAM = """
import asyncio, os, sys
import aether_nb as ag

ag.configure(store=sys.argv[1])

@ag.graph_fn(name="letter", outputs=["text"])
async def letter(*, context):
    async with context.channel().progress("Reading the order", total=4) as bar:
        await bar.update(current=1)
        async with context.channel().stream() as s:
            await s.delta("Dear Ada, your order")
            ag.session().flush()  # what the store holds when the kernel dies
            os._exit(0)
    return {"text": "never"}

async def main():
    await letter.start(run_id="letter-1").wait_for("succeeded", timeout=30)

asyncio.run(main())
"""


def test_a_stream_and_a_bar_cut_off_by_a_dead_kernel_show_as_stopped(tmp_path: Path) -> None:
    path = tmp_path / "nb.duckdb"
    script = tmp_path / "dies.py"
    script.write_text(DIES_MID_STREAM)
    subprocess.run([sys.executable, str(script), str(path)], check=True, timeout=120)

    s, _ = make_session(DuckDBStore(path))
    previous = session_mod.set_default_session(s)

    async def rebuilt() -> list[dict[str, object]]:
        run = s.get_run("letter-1")
        assert run.status == "running" and not run.live
        view = RunView(run)
        messages = list(view.widget.messages)
        view.close()
        return messages

    try:
        messages = arun(rebuilt())
    finally:
        session_mod.set_default_session(previous)
        s.store.close()
    shown = {m["type"]: m for m in messages}
    assert shown["stream"]["final"] is True
    assert shown["stream"]["content"]["text"] == "Dear Ada, your order"
    assert shown["stream"]["content"]["stopped"] is True
    assert shown["progress"]["final"] is True and shown["progress"]["content"]["stopped"] is True
    assert "Dear Ada, your order … (stopped)" in static_view.transcript(messages)


@ag.tool(outputs=["y"])
async def quick(x: int) -> dict[str, int]:
    return {"y": x + 1}


@ag.tool(outputs=["y"])
async def slow_step(x: int) -> dict[str, int]:
    await asyncio.sleep(float(os.environ.get("CUT_OFF_TEST_SLEEP", "0")))
    return {"y": x}


@ag.graph_fn(name="cut_off_agent", outputs=["y"])
async def cut_off_agent(x: int, *, context: ag.NodeContext) -> dict[str, int]:
    a = await quick(x=x)
    return await slow_step(x=a["y"])


DIES_IN_A_STEP = f"""
import asyncio, os, sys
sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
os.environ["CUT_OFF_TEST_SLEEP"] = "60"
import aether_nb as ag
from tests.notebook.test_widget_cut_off import cut_off_agent

async def main():
    ag.configure(store=sys.argv[1])
    run = cut_off_agent.start(x=1, run_id="cut-1")
    while "slow_step_1" not in run.graph:
        await asyncio.sleep(0.01)
    ag.session().flush()
    os._exit(0)  # the kernel dies while slow_step runs

asyncio.run(main())
"""


def test_a_run_cut_off_by_a_dead_kernel_is_not_shown_running(tmp_path: Path) -> None:
    """It showed "running" with a running step, Stop, a ticking clock and a message box, while `%aether runs` said
    "cut off": nothing executes it. Shown as cut off, with how to resume it, its step stopped; resumed, it runs."""
    path = tmp_path / "nb.duckdb"
    script = tmp_path / "dies.py"
    script.write_text(DIES_IN_A_STEP)
    subprocess.run([sys.executable, str(script), str(path)], check=True, timeout=120)

    s, _ = make_session(DuckDBStore(path))
    previous = session_mod.set_default_session(s)

    async def shown() -> tuple[dict[str, Any], str, str, int, dict[str, Any]]:
        run = s.get_run("cut-1")
        assert run.status == "running" and not run.live
        view = RunView(run)
        graph, summary, waits = dict(view.widget.graph), view.widget.text_summary(), len(view.widget.waits)
        assert graph.get("cut_off") == status.cut_off_hint("cut-1"), graph.get("cut_off")
        static = view.mimebundle()["text/html"]  # what `r` in a cell shows where widgets cannot run
        assert await run == {"y": 2}  # resumed from its last completed step
        view.flush()
        after = dict(view.widget.graph)
        view.close()
        return graph, summary, static, waits, after

    try:
        graph, summary, static, waits, after = arun(shown())
    finally:
        session_mod.set_default_session(previous)
        s.store.close()
    assert graph["status"] == "running", "its status is the store's (a resume goes on from it)"
    assert graph["cut_off"] == status.cut_off_hint("cut-1")
    assert "`await run` resumes it" in graph["cut_off"] and "%aether resume cut-1" in graph["cut_off"]
    assert {n["id"]: n["shown"] for n in graph["nodes"]} == {"quick_1": "DONE", "slow_step_1": "CANCELLED"}
    assert waits == 0
    assert summary.splitlines()[0] == f"run cut_off_agent (cut-1): {status.CUT_OFF}, 2 steps · 1 stopped · 1 done"
    assert summary.splitlines()[1] == status.cut_off_hint("cut-1")
    assert f"cut_off_agent · {status.CUT_OFF} · cut-1" in static and "running" not in static
    assert after["status"] == "succeeded" and "cut_off" not in after
