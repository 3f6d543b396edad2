"""A tool that returns an int too long for decimal text (``math.factorial(2000)``: 5,736 digits, past Python's
4,300-digit ``int`` -> ``str`` limit) is journaled like any result: after a real crash (SIGKILL while the run waits
for a person) the next process replays it and the tool has run exactly once.

Before, the store's JSON encoder refused the int when the batch was written: the step's journal entry, node and
event were dropped ("3 history record(s) ... could not be written and were dropped"), ``run.graph`` said DONE, and
the resumed run executed the tool (its effect) a second time.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

from tests.conftest import after, run_script

CHILD = r"""
import asyncio, json, math, os, signal, sys
import aether_nb as ag

DB, EFFECTS, PHASE = sys.argv[1], sys.argv[2], sys.argv[3]
ag.configure(store=DB, durability="sync")

@ag.tool(outputs=["y"])
def factorial(n: int) -> dict:
    with open(EFFECTS, "a") as f:
        f.write("charged\n")  # an external effect
    return {"y": math.factorial(n)}

@ag.graph_fn(name="big")
async def big(n: int, *, context):
    r = await factorial(n)
    answer = await context.channel().ask_text("Looks right?")
    return {"same": r["y"] == math.factorial(n), "digits": len(hex(r["y"])), "answer": answer}

async def main():
    if PHASE == "crash":
        run = big.start(n=2000, run_id="big-1")
        await run.wait_for("waiting")
        os.kill(os.getpid(), signal.SIGKILL)  # the kernel dies while the run waits for its answer
    run = ag.get_run("big-1")
    await run.answer("yes")
    out = await asyncio.wait_for(run, 60)
    st = ag.store()
    journal = st.sql("select name from journal where run_id = 'big-1'").rows
    print("OUT", json.dumps({"out": out, "journal": sorted(r[0] for r in journal)}), flush=True)

asyncio.run(main())
"""


def test_a_tool_returning_an_int_past_the_digit_limit_runs_once_across_a_sigkill(tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    db, effects = tmp_path / "nb.aether.duckdb", tmp_path / "effects.txt"
    crashed = subprocess.run(
        [sys.executable, str(script), str(db), str(effects), "crash"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert crashed.returncode == -9, crashed.stderr[-3000:]
    assert "could not be written" not in crashed.stderr
    resumed = run_script(script, str(db), str(effects), "resume")
    got = after(resumed, "OUT")
    assert got["out"] == {"same": True, "digits": len(hex(math.factorial(2000))), "answer": "yes"}
    assert "factorial" in got["journal"]
    assert effects.read_text().count("charged") == 1  # the tool ran once: replayed after the crash
