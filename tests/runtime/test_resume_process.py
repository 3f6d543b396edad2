"""Resume in a fresh process: the tool that ran before the restart is not executed again.

Process 1 starts the run, reaches the question and dies with ``os._exit`` (no cleanup, like a killed kernel).
Process 2 defines the same agent, finds the run in the DuckDB file, answers, and awaits it. A tool appends a line
to a file each time it really executes: after both processes the file has one line.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_script

AGENT = """
import asyncio, json, os, sys
import aether_nb as ag

DB, COUNTER, MODE = sys.argv[1], sys.argv[2], sys.argv[3]
ag.configure(store=DB)

@ag.tool(outputs=["y"])
def charge(x: int) -> dict:
    with open(COUNTER, "a") as f:   # a side effect that must happen once
        f.write(f"charged {x}\\n")
    return {"y": x * 2}

@ag.graph_fn(outputs=["name", "y"])
async def agent(x: int, *, context):
    c = await charge(x)
    await context.channel().send_text(f"charged {c['y']}")
    name = await context.channel().ask_text("Your name?")
    return {"name": name, "y": c["y"]}

async def main():
    if MODE == "start":
        run = agent.start(x=21, run_id="p1")
        await run.wait_for("waiting", timeout=30)
        print("WAITING", flush=True)
        os._exit(0)   # die without any cleanup
    run = ag.get_run("p1")
    print("STATUS", run.status, [w.prompt for w in run.waits], flush=True)
    await run.answer(MODE)
    print("OUT", json.dumps(await run), flush=True)

asyncio.run(main())
"""


def test_resume_in_a_fresh_process_does_not_repeat_side_effects(tmp_path: Path) -> None:
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    db, counter = tmp_path / "nb.aether.duckdb", tmp_path / "count.txt"

    out1 = run_script(script, str(db), str(counter), "start")
    assert "WAITING" in out1 and "assistant: charged 42" in out1
    assert counter.read_text().splitlines() == ["charged 21"]

    out2 = run_script(script, str(db), str(counter), "Ada")
    assert "STATUS waiting ['Your name?']" in out2
    result = json.loads(out2.split("OUT ", 1)[1])
    assert result == {"name": "Ada", "y": 42}
    assert counter.read_text().splitlines() == ["charged 21"]  # the tool did not run again
    assert "assistant: charged" not in out2  # nor was the message said twice


CLASS_AGENT = """
import asyncio, json, os, sys
import aether_nb as ag
from aether_nb.errors import UsageError

DB, COUNTER, MODE = sys.argv[1], sys.argv[2], sys.argv[3]
ag.configure(store=DB)

if MODE != "forgot":   # the cell defining the class (a notebook cell's class pickles by name)
    class Point:
        def __init__(self, x):
            self.x = x

@ag.tool(outputs=["p"])
def locate(x: int) -> dict:
    with open(COUNTER, "a") as f:
        f.write(f"located {x}\\n")
    return {"p": Point(x)}

@ag.graph_fn(outputs=["x", "ok"])
async def courier(*, context):
    p = (await locate(7))["p"]
    ok, _ = await context.channel().ask_approval("Ship it?")
    return {"x": p.x, "ok": ok}

async def main():
    if MODE == "start":
        run = courier.start(run_id="c1")
        await run.wait_for("waiting", timeout=30)
        print("WAITING", flush=True)
        os._exit(0)
    run = ag.get_run("c1")
    if MODE == "forgot":
        try:
            await run.answer(True)
        except UsageError as exc:
            print("REFUSED", exc.code, "Point" in str(exc), flush=True)
        print("STATUS", run.status, [w.prompt for w in run.waits], flush=True)
        os._exit(0)
    await run.answer(True)
    print("OUT", json.dumps(await run), flush=True)

asyncio.run(main())
"""


def test_a_run_resumed_before_its_class_is_defined_again_is_refused_and_kept(tmp_path: Path) -> None:
    """A tool returned an object of a class defined in the notebook; after a restart the person answers before
    running that cell. The answer is refused with what to do (no bare pickle error, the run not failed), and its
    question stays open; once the class is defined the answer is taken and the tool does not run again."""
    script = tmp_path / "courier.py"
    script.write_text(CLASS_AGENT)
    db, counter = tmp_path / "nb.aether.duckdb", tmp_path / "count.txt"
    assert "WAITING" in run_script(script, str(db), str(counter), "start")
    out = run_script(script, str(db), str(counter), "forgot")
    assert "REFUSED missing_class True" in out
    assert "STATUS waiting ['Ship it?']" in out
    result = json.loads(run_script(script, str(db), str(counter), "fixed").split("OUT ", 1)[1])
    assert result == {"x": 7, "ok": True}
    assert counter.read_text().splitlines() == ["located 7"]


REFUND_AGENT = """
import asyncio, json, os, sys
import aether_nb as ag
from aether_nb.errors import UsageError

DB, COUNTER, MODE = sys.argv[1], sys.argv[2], sys.argv[3]
ag.configure(store=DB)

if MODE != "forgot":   # the cell defining the tool and the agent
    @ag.tool(outputs=["rid"])
    def refund(amount: int) -> dict:
        with open(COUNTER, "a") as f:
            f.write(f"refund {amount}\\n")
        return {"rid": f"RF-{amount}"}

    @ag.graph_fn(outputs=["rid"])
    async def pay(amount: int, *, context):
        ok, _ = await context.channel().ask_approval(f"Refund {amount}?")
        return {"rid": (await refund(amount))["rid"] if ok else None}

async def main():
    if MODE == "start":
        run = pay.start(amount=14, run_id="p2")
        await run.wait_for("waiting", timeout=30)
        print("WAITING", flush=True)
        os._exit(0)
    run = ag.get_run("p2")
    if MODE == "forgot":
        try:
            await run.answer(True)
        except UsageError as exc:
            print("REFUSED", exc.code, flush=True)
        print("STILL", run.status, [w.prompt for w in run.waits], flush=True)
        os._exit(0)
    await run.answer(MODE == "yes")
    print("OUT", json.dumps(await run), flush=True)

asyncio.run(main())
"""


def test_an_answer_given_before_the_agent_is_defined_again_is_refused_not_kept(tmp_path: Path) -> None:
    """After a restart the person answers before running the cell that defines the agent: the answer raised and
    yet was stored, so once the cell ran the run went on with it (the refund was paid) and the person's real
    decision was refused. Now nothing is stored: the question stays open for the answer they give then."""
    script = tmp_path / "refund.py"
    script.write_text(REFUND_AGENT)
    db, counter = tmp_path / "nb.aether.duckdb", tmp_path / "count.txt"
    assert "WAITING" in run_script(script, str(db), str(counter), "start")
    out = run_script(script, str(db), str(counter), "forgot")
    assert "REFUSED target_missing" in out
    assert "STILL waiting ['Refund 14?']" in out
    result = json.loads(run_script(script, str(db), str(counter), "no").split("OUT ", 1)[1])
    assert result == {"rid": None}
    assert not counter.exists()  # the refused answer was never acted on
