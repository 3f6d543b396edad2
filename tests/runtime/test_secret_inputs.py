"""A run started with a secret among its inputs (a key passed as an argument): it says at once that it cannot be
resumed after a restart, and after one it refuses an answer *before* storing it, so the question stays open.

Two processes on one DuckDB file, as a kernel and the kernel after a restart (the first dies with ``os._exit``).
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_script

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


SECRET_ANSWER = """
import asyncio, json, os, sys
import aether_nb as ag

DB, MODE, COUNT = sys.argv[1], sys.argv[2], sys.argv[3]
ag.configure(store=DB, durability="sync")

@ag.tool(outputs=["n"])
def prepare() -> dict:
    with open(COUNT, "a") as f:
        f.write("prepared\\n")
    return {"n": 1}

@ag.graph_fn(outputs=["length"])
async def connect(*, context):
    await prepare()
    if MODE == "changed":  # the cell was edited before the restart's answer: it asks something else now
        ok, _ = await context.channel().ask_approval("Use the key from the vault?")
        return {"length": 0}
    key = await context.channel().ask_text("Paste the service's API key")
    return {"length": len(key)}

async def main():
    if MODE == "start":
        run = connect.start(run_id="c1")
        await run.wait_for("waiting", timeout=30)
        os._exit(0)
    run = ag.get_run("c1")
    try:
        await asyncio.wait_for(run.answer("sk-proj-" + "Z9y" * 14), 30)   # nothing executes the run yet
    except ag.UsageError as exc:
        print("REFUSED", exc.code, str(exc), flush=True)
        return
    print("OUT", json.dumps(await asyncio.wait_for(run.result(), 30)), flush=True)

asyncio.run(main())
"""


def test_a_secret_answered_after_a_restart_reaches_the_run_without_being_stored(tmp_path: Path) -> None:
    """A widget reattached after a restart executes nothing before its answer, and a secret is never stored, so
    it cannot wait in the store: the answer refused it ("resume it first (`await run`)", which waits forever
    for that same answer). Now the run executes up to its question (its steps replayed) and gets it in memory."""
    script, count = tmp_path / "agent.py", tmp_path / "count.txt"
    script.write_text(SECRET_ANSWER)
    db = str(tmp_path / "nb.aether.duckdb")
    run_script(script, db, "start", str(count))
    out = run_script(script, db, "answer", str(count))
    assert json.loads(line(out, "OUT")) == {"length": len("sk-proj-") + 42}
    assert count.read_text() == "prepared\n"  # replayed, not run again
    stored = [f for f in tmp_path.iterdir() if f.name.startswith("nb.aether") and f.is_file()]
    assert stored and not [f.name for f in stored if b"Z9yZ9y" in f.read_bytes()]  # the file, its log


def test_a_secret_answer_to_a_question_the_resumed_code_no_longer_asks_is_refused_not_awaited(
    tmp_path: Path,
) -> None:
    """The resumed code no longer asks that question: the answer's call waited for it forever."""
    script, count = tmp_path / "agent.py", tmp_path / "count.txt"
    script.write_text(SECRET_ANSWER)
    db = str(tmp_path / "nb.aether.duckdb")
    run_script(script, db, "start", str(count))
    out = run_script(script, db, "changed", str(count))
    refused = line(out, "REFUSED")  # (the edited cell asks another way: the replay no longer matches, the run fails)
    assert refused.startswith("question_gone ") and "did not ask its question again" in refused, refused
    assert "Z9yZ9y" not in out
