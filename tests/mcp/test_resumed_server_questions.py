"""Questions of an MCP server asked during calls that a kernel restart cut off, answered after the resume.

Process 1 starts a run whose tool calls wait on their server's questions (elicitation) and dies (``os._exit``, like
a killed kernel) with a question open; process 2 resumes the run and answers it.

* Two calls in flight at once (``asyncio.gather``) on one server: a 2025-era question does not say which call asked
  it, so both are asked under the oldest call's node, in the order the server sends them. The person answers b's
  question, the kernel dies while a's is open. The resumed run (b's call journaled, a's sent again) asks only a's
  question again: its chat turns are matched with what they said, not with their number, so it ends with each
  call's own answer (it failed with ``ReplayMismatch``, blaming a changed body).
* One call waiting on its question: the server runs the tool again from its start (whatever it did before asking
  happens twice), and its node says so with a ``ran_again`` warning, as any step cut off mid-effect does.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import after, run_script

SERVER = """
import asyncio, json, os, sys
from mcp.server.mcpserver import Context, MCPServer
from pydantic import BaseModel

CALLS = sys.argv[1]
FIRST_B = os.environ.get("FIRST_B") == "1"   # a asks only once b is answered (the order of process 1)
server = MCPServer("shop")
b_answered = asyncio.Event()

def record(event):
    with open(CALLS, "a", encoding="utf-8") as f:
        f.write(json.dumps(event) + "\\n")

class Ok(BaseModel):
    ok: bool

@server.tool()
async def confirm(item: str, ctx: Context) -> str:
    record({"event": "start", "item": item})
    if item == "a" and FIRST_B:
        await b_answered.wait()
    r = await ctx.elicit(f"Ship {item}?", Ok)
    if item == "b":
        b_answered.set()
    record({"event": "end", "item": item})
    return f"{item}:{r.action}:{getattr(r, 'data', None)}"

server.run()
"""

AGENT = """
import asyncio, json, os, sys
import aether_nb as ag

DB, SERVER, CALLS, MODE, PHASE = sys.argv[1:6]
env = {"FIRST_B": "1" if PHASE == "start" else "0"}
ag.configure(store=DB, mcp={"shop": {"command": [sys.executable, SERVER, CALLS], "env": env, "call_timeout_s": 60}})

@ag.graph_fn(outputs=["r"])
async def both(*, context):
    shop = context.mcp("shop")
    a, b = await asyncio.gather(shop.tools["confirm"](item="a"), shop.tools["confirm"](item="b"))
    return {"r": [a["result"], b["result"]]}

@ag.graph_fn(outputs=["r"])
async def one(*, context):
    shop = context.mcp("shop")
    c = await shop.tools["confirm"](item="c")
    return {"r": c["result"]}

async def question(run, item):
    while not any(f"Ship {item}?" in (w.prompt or "") for w in run.waits):
        await asyncio.sleep(0.05)   # the run's state, observed; bounded by the wait_for around it
    return next(w for w in run.waits if f"Ship {item}?" in (w.prompt or ""))

async def main():
    agent = both if MODE == "both" else one
    if PHASE == "start":
        run = agent.start(run_id="r1")
        if MODE == "both":
            wait = await asyncio.wait_for(question(run, "b"), 60)
            await run.answer("No", token=wait.token)
            await asyncio.wait_for(question(run, "a"), 60)
        else:
            await asyncio.wait_for(question(run, "c"), 60)
        print("WAITING", json.dumps([w.prompt for w in run.waits]), flush=True)
        os._exit(0)   # a killed kernel
    run = ag.get_run("r1")
    wait = await asyncio.wait_for(question(run, "a" if MODE == "both" else "c"), 60)
    await run.answer("Yes", token=wait.token)
    try:
        out = await asyncio.wait_for(run, 60)
    except Exception as exc:
        out = f"{type(exc).__name__}: {exc}"
    nodes = {n.id: {"status": n.status, "warnings": n.warnings} for n in run.graph.nodes}
    print("OUT", json.dumps({"out": out, "nodes": nodes}), flush=True)
    await ag.mcp.close_all()

asyncio.run(main())
"""


def _resume(tmp_path: Path, mode: str) -> tuple[dict, list[dict]]:
    server, agent = tmp_path / "shop.py", tmp_path / "agent.py"
    server.write_text(SERVER)
    agent.write_text(AGENT)
    db, calls = tmp_path / "nb.aether.duckdb", tmp_path / "calls.jsonl"
    args = (str(db), str(server), str(calls), mode)
    run_script(agent, *args, "start", timeout=150)
    out = after(run_script(agent, *args, "resume", timeout=150), "OUT")
    return out, [json.loads(line) for line in calls.read_text().splitlines()]


def test_two_calls_questions_answered_across_a_restart_each_get_their_own_answer(tmp_path: Path) -> None:
    out, calls = _resume(tmp_path, "both")
    assert out["out"] == {"r": ["a:accept:ok=True", "b:accept:ok=False"]}
    ends = [e["item"] for e in calls if e["event"] == "end"]
    assert ends == ["b", "a"]  # b's call ran once (journaled before the restart), a's ended after the resume


def test_a_call_sent_again_after_a_restart_says_it_ran_again(tmp_path: Path) -> None:
    out, calls = _resume(tmp_path, "one")
    assert out["out"] == {"r": "c:accept:ok=True"}
    assert [e["event"] for e in calls] == ["start", "start", "end"]  # the server ran the tool again from its start
    node = out["nodes"]["shop.confirm_1"]
    assert node["status"] == "DONE"
    assert any("run again" in w and "happened twice" in w for w in node["warnings"]), node
