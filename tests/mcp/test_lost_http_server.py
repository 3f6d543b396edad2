"""A streamable-HTTP MCP server that dies while its question is open: the run handles it (``mcp_connection``, as
for stdio in ``test_dead_server_questions.py``), and the SDK's "Error in post_writer" traceback (some 80 lines,
a red block in the cell) is not printed, as the run already says what happened."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.testing import mcp_server
from tests.conftest import arun


@ag.graph_fn(outputs=["out"])
async def reserve(*, context: ag.NodeContext) -> dict[str, Any]:
    try:
        return {"out": (await context.mcp("h").tools["reserve"](restaurant="Chez Nous"))["result"]}
    except ag.errors.MCPError as exc:
        return {"out": f"handled {exc.code}"}


def test_an_http_server_dying_with_its_question_open_prints_no_sdk_traceback(
    session: Session, calls: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def main(url: str) -> dict[str, Any]:
        ag.configure(mcp={"h": {"url": url, "call_timeout_s": 20}})
        run = reserve.start()
        await run.wait_for("waiting", timeout=30)
        (pid,) = [e["pid"] for e in mcp_server.read_calls(calls) if e["event"] == "start"]
        os.kill(pid, signal.SIGKILL)
        out: dict[str, Any] = await run
        await ag.mcp.close_all()
        return out

    with caplog.at_level(logging.WARNING), mcp_server.http_server(calls) as url:
        out = arun(main(url), timeout=60)
    assert out == {"out": "handled mcp_connection"}
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []


def test_the_sdk_writers_other_errors_are_still_logged() -> None:
    import httpx2

    import aether_nb.mcp.link  # noqa: F401  (installs the filter, as connecting does)

    sdk = logging.getLogger("mcp.client.streamable_http")

    def record(exc: BaseException) -> logging.LogRecord:
        return sdk.makeRecord(sdk.name, logging.ERROR, __file__, 1, "Error in post_writer", (), (type(exc), exc, None))

    assert not sdk.filter(record(ExceptionGroup("g", [httpx2.ConnectError("All connection attempts failed")])))
    assert sdk.filter(record(ExceptionGroup("g", [httpx2.ConnectError("refused"), ValueError("a bug")])))
    assert sdk.filter(record(KeyError("x")))
