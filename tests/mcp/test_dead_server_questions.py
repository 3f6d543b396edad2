"""An MCP server that dies while its question (elicitation) is open in the run: the answer could go nowhere, so
the question closes and the node fails at once (``mcp_connection``), rather than wait for a person's answer."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import aether_nb as ag
from aether_nb.errors import MCPError
from aether_nb.runtime.session import Session
from aether_nb.testing import mcp_server
from tests.conftest import arun
from tests.mcp.conftest import tool_calls


@ag.graph_fn(outputs=["table"])
async def book(*, context: ag.NodeContext) -> dict[str, Any]:
    out = await context.mcp("calc").tools["reserve"](restaurant="Chez Nous")
    return {"table": out["result"]}


def test_a_server_that_dies_with_its_question_open_fails_the_node_and_closes_the_question(
    session: Session, calc_command: list[str], calls: Path
) -> None:
    ag.configure(mcp={"calc": {"command": calc_command}})

    async def main() -> tuple[ag.Run, str, list[Any], BaseException | None]:
        run = book.start()
        await run.wait_for("waiting", timeout=30)
        assert [w.prompt for w in run.waits] == ["calc asks: How many people for Chez Nous?"]
        (pid,) = [e["pid"] for e in mcp_server.read_calls(calls) if e["event"] == "start"]
        os.kill(pid, signal.SIGKILL)
        status = await run.wait_for("failed", "succeeded", "cancelled", timeout=20)  # nobody answers
        waits = list(run.waits)
        cause = None
        try:
            await run.result()
        except ag.RunFailed as exc:
            cause = exc.__cause__
        await ag.mcp.close_all()
        return run, status, waits, cause

    run, status, waits, cause = arun(main(), timeout=60)
    assert status == "failed" and waits == []
    node = run.graph.node("calc.reserve_1")
    assert node.status == "FAILED" and "went away during the call of reserve" in node.error["message"]
    assert run.graph.node("calc.reserve_1/ask_text_1").status == "CANCELLED"
    assert tool_calls(calls) == [("reserve", {"restaurant": "Chez Nous"})]
    assert isinstance(cause, MCPError) and cause.code == "mcp_connection"
