"""A run started with a secret among its inputs (a key passed as an argument): it says at once that it cannot be
resumed after a restart, and after one it refuses an answer *before* storing it, so the question stays open.

Two processes on one DuckDB file, as a kernel and the kernel after a restart (the first dies with ``os._exit``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

AGENT = """
import asyncio, json, os, sys
import aether_nb as ag

DB, MODE = sys.argv[1], sys.argv[2]
ag.configure(store=DB, durability="sync")

@ag.graph_fn(outputs=["city"])
async def weather(city: str, api_key: str, *, context):
    ok = await context.channel().ask_text(f"Look up {city}?")
    return {"city": city}

async def main():
    if MODE == "start":
        run = weather.start(city="Oslo", api_key="sk-proj-" + "Q7w" * 14, run_id="w1")
        await run.wait_for("waiting", timeout=30)
        warnings = [(e.code, e.message) for e in run.history if e.kind == "warning"]
        print("WARNINGS", json.dumps(warnings), flush=True)
        os._exit(0)
    run = ag.get_run("w1")
    try:
        await run.answer("yes")
        print("ANSWERED", flush=True)
    except ag.UsageError as exc:
        print("REFUSED", exc.code, str(exc), flush=True)
    print("WAITS", json.dumps([w.status for w in ag.session().store.list_waits("w1", status=None)]), flush=True)

asyncio.run(main())
"""


def run_script(script: Path, *args: str) -> str:
    res = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    return res.stdout


def line(out: str, head: str) -> str:
    return next(x for x in out.splitlines() if x.startswith(head + " "))[len(head) + 1 :]


def test_a_secret_input_is_announced_at_start_and_an_answer_after_a_restart_is_refused_unstored(
    tmp_path: Path,
) -> None:
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    db = str(tmp_path / "nb.aether.duckdb")
    first = run_script(script, db, "start")
    warnings = json.loads(line(first, "WARNINGS"))
    assert [code for code, _ in warnings] == ["inputs_not_durable"]
    assert "cannot be resumed after a kernel restart" in warnings[0][1] and "read_env" in warnings[0][1]
    second = run_script(script, db, "answer")
    assert "ANSWERED" not in second
    assert line(second, "REFUSED").startswith("inputs_not_durable run w1 was started with a secret")
    assert json.loads(line(second, "WAITS")) == ["open"], "the refused answer was not stored as if consumed"
