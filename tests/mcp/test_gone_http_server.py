"""A streamable-HTTP MCP server that stopped while idle (between cells): the connection does not notice, and the
next call's request is refused. It never reached the server, so its error says so plainly — it said the server
"went away during the call" and that "whether the call took effect is unknown" (then the call after it said it
could not connect). Once the server is back at its URL, the next call works."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from pathlib import Path
from urllib.parse import urlparse

import pytest

import aether_nb as ag
from aether_nb.errors import MCPError
from aether_nb.runtime.session import Session
from aether_nb.testing import mcp_server
from tests.conftest import arun
from tests.mcp.conftest import tool_calls


async def refusing(port: int | None, timeout: float = 20.0) -> None:
    """Wait until nothing listens on ``port`` any more (the killed server's socket is closed)."""

    async def poll() -> None:
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port or 0)) != 0:
                    return
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


def test_a_call_to_an_http_server_gone_while_idle_says_it_could_not_connect(
    session: Session, calls: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with mcp_server.http_server(calls) as url:

        async def first() -> MCPError:
            calc = await ag.mcp.connect("calc", url=url)
            assert await calc.tools["add"](a=1, b=1) == {"result": 2}
            (pid,) = [e["pid"] for e in mcp_server.read_calls(calls) if e["event"] == "start"]
            os.kill(pid, signal.SIGKILL)
            await refusing(urlparse(url).port)
            with pytest.raises(MCPError) as info:
                await calc.tools["add"](a=2, b=2)
            return info.value

        with caplog.at_level(logging.WARNING):
            error = arun(first(), timeout=60)
    assert error.code == "mcp_connection"
    assert "could not connect to MCP server 'calc'" in error.message and "ConnectError" in error.message
    assert "unknown" not in error.message and "went away during" not in error.message
    assert [r.getMessage() for r in caplog.records if "Session termination failed" in r.getMessage()] == []
    assert tool_calls(calls) == [("add", {"a": 1, "b": 1})]

    port = urlparse(url).port
    with mcp_server.http_server(calls, port=port):

        async def back() -> object:
            result = await ag.mcp.servers()["calc"].tools["add"](a=3, b=3)
            await ag.mcp.close_all()
            return result

        assert arun(back(), timeout=60) == {"result": 6}
    assert tool_calls(calls) == [("add", {"a": 1, "b": 1}), ("add", {"a": 3, "b": 3})]
