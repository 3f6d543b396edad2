"""A run that used an MCP server resumes in a fresh process without calling (or even starting) the server again.

Process 1 connects, calls ``calc.add`` inside a run, reaches a question and dies with ``os._exit`` (like a killed
kernel). Process 2 defines the same agent and the same server, answers, and awaits the run. The test server
records every start and call in a file: after both processes it was started once and called once.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aether_nb.testing import mcp_server
from tests.conftest import run_script
from tests.mcp.conftest import starts, tool_calls

AGENT = """
import asyncio, json, os, sys
import aether_nb as ag
from aether_nb.testing import mcp_server

DB, CALLS, MODE, STYLE = sys.argv[1:5]
ag.configure(store=DB)
COMMAND = mcp_server.command(CALLS)

@ag.graph_fn(outputs=["total", "name"])
async def agent(x: int, *, context):
    calc = context.mcp("calc")
    out = await calc.tools["add"](a=x, b=x)
    name = await context.channel().ask_text("Your name?")
    return {"total": out["result"], "name": name}

async def main():
    if STYLE == "configure":
        ag.configure(mcp={"calc": {"command": COMMAND}})
    else:
        calc = await ag.mcp.connect("calc", command=COMMAND)
        print("LISTED", sorted(calc.tools), "CONNECTED", calc.connected, flush=True)
    if MODE == "start":
        run = agent.start(x=21, run_id="mcp-p1")
        await run.wait_for("waiting", timeout=60)
        print("WAITING", flush=True)
        os._exit(0)   # die without any cleanup
    run = ag.get_run("mcp-p1")
    await run.answer(MODE)
    out = await run
    replayed = run.graph.node("calc.add_1").replayed
    print("OUT", json.dumps({"out": out, "replayed": replayed, "connected": ag.mcp.servers()["calc"].connected}))

asyncio.run(main())
"""


@pytest.mark.parametrize("style", ["configure", "connect"])
def test_resume_in_a_fresh_process_neither_calls_nor_starts_the_server(tmp_path: Path, style: str) -> None:
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    db, calls = tmp_path / "nb.aether.duckdb", tmp_path / "calls.jsonl"

    out1 = run_script(script, str(db), str(calls), "start", style)
    assert "WAITING" in out1
    assert starts(calls) == 1 and tool_calls(calls) == [("add", {"a": 21, "b": 21})]

    out2 = run_script(script, str(db), str(calls), "Ada", style)
    if style == "connect":
        assert "LISTED ['add', 'divide', 'greet', 'reserve', 'slow', 'stats'] CONNECTED False" in out2  # from the store
    result = json.loads(out2.split("OUT ", 1)[1])
    assert result == {"out": {"total": 42, "name": "Ada"}, "replayed": True, "connected": False}
    assert starts(calls) == 1, mcp_server.read_calls(calls)  # process 2 never started the server
    assert len(tool_calls(calls)) == 1
