"""A waiting run resumed after a restart before the cell that configures its MCP server ran again.

Process 1 configures the calc server; the agent adds (a real call), then asks a question; the process dies with
the question open (``os._exit``, like a killed kernel). Process 2 defines the agent but not the server and
answers: the add replays from the journal (the server is neither needed nor started) and the run finishes. If
the agent needs a call that did not run yet, that node fails saying which server to configure; configured, the
run retried with ``resume_mode="failed_nodes"`` finishes, every call made once. The old code failed the run at
``context.mcp("calc")`` although the call there was journaled.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.testing import mcp_server
from tests.conftest import arun
from tests.mcp.conftest import starts, tool_calls
from tests.mcp.test_resume_questions import run_script

AGENT = """
import asyncio, json, os, sys
import aether_nb as ag

DB, CALLS, MODE = sys.argv[1:4]
ag.configure(store=DB)
if MODE in ("start", "retry"):
    from aether_nb.testing import mcp_server
    ag.configure(mcp={"calc": {"command": mcp_server.command(CALLS)}})

@ag.graph_fn(name="absent_calc_agent", outputs=["total"])
async def agent(more: bool, *, context):
    first = await context.mcp("calc").tools["add"](a=1, b=2)
    ok = await context.channel().ask_approval("Add more?", options=["yes", "no"])
    total = first["result"]
    if more:
        total = (await context.mcp("calc").add(a=total, b=10))["result"]
    return {"total": total}

async def main():
    if MODE == "start":
        run = agent.start(more=sys.argv[4] == "more", run_id="calc-1")
        await run.wait_for("waiting", timeout=60)
        print("WAITING", flush=True)
        os._exit(0)   # a killed kernel
    run = ag.get_run("calc-1")
    if MODE == "answer":
        await run.answer("yes")
    else:
        run = agent.start(more=True, run_id="calc-1", resume_mode="failed_nodes")
    try:
        out = await asyncio.wait_for(run.result(), 60)
        print("OUT", json.dumps(out), flush=True)
    except ag.RunFailed as exc:
        print("FAILED", json.dumps({"code": exc.code, "message": str(exc)}), flush=True)
    finally:
        await ag.mcp.close_all()

asyncio.run(main())
"""


def _last(out: str, tag: str) -> Any:
    lines = [line for line in out.splitlines() if line.startswith(tag + " ")]
    assert lines, out
    return json.loads(lines[-1][len(tag) + 1 :])


@pytest.mark.parametrize("more", [False, True])
def test_journaled_mcp_calls_replay_before_the_server_is_configured_again(tmp_path: Path, more: bool) -> None:
    script, db, calls = tmp_path / "agent.py", str(tmp_path / "nb.duckdb"), tmp_path / "calls.jsonl"
    script.write_text(AGENT)
    assert "WAITING" in run_script(script, db, str(calls), "start", "more" if more else "once")
    assert tool_calls(calls) == [("add", {"a": 1, "b": 2})]

    out = run_script(script, db, str(calls), "answer")  # the configuring cell has not run again
    if not more:
        assert _last(out, "OUT") == {"total": 3}  # the add replayed: no server needed
        assert starts(calls) == 1 and len(tool_calls(calls)) == 1
        return
    failed = _last(out, "FAILED")  # the second add must execute: it says which server to configure
    assert "no MCP server named 'calc'" in failed["message"] and "ag.configure(mcp=" in failed["message"]
    assert "resume_mode='failed_nodes'" in failed["message"]
    assert starts(calls) == 1 and len(tool_calls(calls)) == 1

    out = run_script(script, db, str(calls), "retry")  # configured, and retried
    assert _last(out, "OUT") == {"total": 13}
    assert tool_calls(calls) == [("add", {"a": 1, "b": 2}), ("add", {"a": 3, "b": 10})]  # each add once


def test_what_needs_the_absent_server_says_how_to_configure_it(session: Session) -> None:
    """Listing its tools (to hand them to a model), connecting, or a call that must run: a clear UsageError."""
    seen: dict[str, str] = {}

    @ag.graph_fn(name="absent_probe", outputs=["ok"])
    async def probe(*, context: ag.NodeContext) -> dict[str, Any]:
        calc = context.mcp("nowhere")
        assert "not configured" in repr(calc) and "not configured" in repr(calc.tools["add"])
        for what, use in [
            ("list", lambda: list(calc.tools.values())),
            ("len", lambda: len(calc.tools)),
            ("connect", lambda: calc.connect),
            ("positional", lambda: calc.tools["add"](1, 2)),
        ]:
            with pytest.raises(ag.UsageError) as caught:
                use()
            assert caught.value.code == "no_mcp_server"
            seen[what] = str(caught.value)
        with pytest.raises(ag.UsageError, match="no MCP server named 'nowhere'"):
            await calc.tools["add"](a=1, b=2)
        return {"ok": True}

    assert arun(probe()) == {"ok": True}
    assert all("ag.configure(mcp=" in message for message in seen.values())

    @ag.graph_fn(name="absent_probe_bad", outputs=["ok"])
    async def bad(*, context: ag.NodeContext) -> dict[str, Any]:
        context.mcp("")
        return {"ok": True}

    with pytest.raises(ag.RunFailed, match="name must be a server's name"):
        arun(bad())


def test_a_configured_session_names_the_servers_it_knows(session: Session, calls: Path) -> None:
    ag.configure(mcp={"calc": {"command": mcp_server.command(calls)}})

    @ag.graph_fn(name="absent_typo", outputs=["r"])
    async def typo(*, context: ag.NodeContext) -> dict[str, Any]:
        return {"r": await context.mcp("clac").tools["add"](a=1, b=2)}

    with pytest.raises(ag.RunFailed, match=r"no MCP server named 'clac' in this session \(known: \['calc'\]\)"):
        arun(typo())
    assert starts(calls) == 0
