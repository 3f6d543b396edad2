"""A stdio MCP server that writes something other than MCP messages on its stdout (a stray ``print``, a log line,
bytes that are no UTF-8) and then leaves a call unanswered.

The call fails with ``mcp_timeout``; what follows used to go wrong: a stray text without its newline swallowed the
next answer, so the *next* call failed as well ("whether the call took effect is unknown") although the server had
run it; bytes that are no UTF-8 stopped the SDK's reader for good, so every later call timed out on a connection
nobody knew was broken. Now the connection is checked with pings after the timeout: a server that answers one goes
on, one whose output is broken for good is started again by the next call.

The server is written by hand (no SDK), as servers in other languages are: the SDK's own server diverts stray
writes to stdout onto stderr.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

import aether_nb as ag
from aether_nb.errors import MCPError
from aether_nb.runtime.session import Session
from tests.conftest import arun
from tests.mcp.conftest import starts, tool_calls

SERVER = r"""
import json, os, sys, time

calls = sys.argv[1]
def record(event):
    with open(calls, "a") as f:
        f.write(json.dumps(event) + "\n")
out = sys.stdout.buffer
prefix = [b""]
def send(message):
    out.write(prefix[0] + json.dumps(message).encode() + b"\n")
    out.flush()
def raw(data):
    out.write(data)
    out.flush()

NAMES = ["add", "stray_text", "stray_bytes", "break_output", "stuck"]
TOOLS = [{"name": n, "inputSchema": {"type": "object", "properties": {}}} for n in NAMES]
record({"event": "start", "pid": os.getpid()})
raw(os.environ.get("BANNER", "").encode())
for line in sys.stdin:
    message = json.loads(line)
    mid, method = message.get("id"), message.get("method")
    if mid is None:
        continue
    if method == "initialize":
        version = message["params"]["protocolVersion"]
        info = {"name": "handmade", "version": "1"}
        send({"jsonrpc": "2.0", "id": mid, "result": {"protocolVersion": version, "capabilities": {"tools": {}},
                                                      "serverInfo": info}})
    elif method == "tools/list":
        send({"jsonrpc": "2.0", "id": mid, "result": {"tools": TOOLS}})
    elif method == "ping":
        send({"jsonrpc": "2.0", "id": mid, "result": {}})
    elif method == "tools/call":
        name = message["params"]["name"]
        record({"event": "call", "tool": name, "arguments": message["params"].get("arguments") or {}})
        if name == "add":
            send({"jsonrpc": "2.0", "id": mid, "result": {"content": [{"type": "text", "text": "3"}]}})
        elif name == "stray_text":
            raw(b"progress: 50% ")  # no newline, and no answer
        elif name == "stray_bytes":
            raw(b"\xff\xfe\n")  # no UTF-8, and no answer
        elif name == "break_output":
            prefix[0] = b"LOG "  # every message from now on is spoiled
        elif name == "stuck":
            time.sleep(60)  # one request at a time: nothing else is answered meanwhile
"""


@pytest.fixture
def handmade(tmp_path: Path, calls: Path) -> list[str]:
    script = tmp_path / "handmade_server.py"
    script.write_text(SERVER)
    return [sys.executable, str(script), str(calls)]


@pytest.mark.parametrize("stray", ["stray_text", "stray_bytes"])
def test_the_call_after_a_timeout_amid_stray_output_is_answered(
    session: Session, handmade: list[str], calls: Path, stray: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> tuple[MCPError, list[object]]:
        server = await ag.mcp.connect("handmade", command=handmade, call_timeout_s=2)
        with pytest.raises(MCPError) as info:
            await server.tools[stray]()
        after = [await server.tools["add"](), await server.tools["add"]()]
        await server.close()
        return info.value, after

    with caplog.at_level(logging.WARNING):
        error, after = arun(main(), timeout=60)
    assert error.code == "mcp_timeout"
    assert after == [{"result": "3"}, {"result": "3"}]  # (unchecked, the first answer was lost in the stray output)
    assert tool_calls(calls) == [(stray, {}), ("add", {}), ("add", {})] and starts(calls) == 1
    said = [r.getMessage() for r in caplog.records if r.name == "aether_nb.mcp.handmade"]
    assert said and "sent something that is no MCP message" in said[0], said
    assert all(r.exc_info is None for r in caplog.records), "the SDK's parse tracebacks are left out"


def test_a_server_whose_output_broke_for_good_is_started_again_by_the_next_call(
    session: Session, handmade: list[str], calls: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> tuple[MCPError, object]:
        server = await ag.mcp.connect("handmade", command=handmade, call_timeout_s=2)
        with pytest.raises(MCPError) as info:
            await server.tools["break_output"]()
        after = await server.tools["add"]()
        await server.close()
        return info.value, after

    with caplog.at_level(logging.WARNING):
        error, after = arun(main(), timeout=60)
    assert error.code == "mcp_timeout"
    assert after == {"result": "3"}
    assert tool_calls(calls) == [("break_output", {}), ("add", {})] and starts(calls) == 2
    said = [r.getMessage() for r in caplog.records if r.name == "aether_nb.mcp.handmade"]
    assert any("answered no ping" in m and "its output is broken" in m and "starts it again" in m for m in said)


def test_stray_output_during_a_call_that_times_out_is_named_in_its_error(session: Session, handmade: list[str]) -> None:
    async def main() -> MCPError:
        server = await ag.mcp.connect("handmade", command=handmade, call_timeout_s=2)
        with pytest.raises(MCPError) as info:
            await server.tools["stray_bytes"]()
        await server.close()
        return info.value

    error = arun(main(), timeout=60)
    assert "Meanwhile it sent something that is no MCP message ('\ufffd\ufffd')" in error.message
    assert "may write only protocol messages to stdout" in error.message


def test_a_banner_without_its_newline_that_spoils_the_handshake_is_named_in_the_error(
    session: Session, handmade: list[str]
) -> None:
    async def main() -> MCPError:
        with pytest.raises(MCPError) as info:
            await ag.mcp.connect("handmade", command=handmade, env={"BANNER": "ready. "}, timeout_s=2)
        return info.value

    error = arun(main(), timeout=60)
    assert error.code == "mcp_connection" and "did not answer the protocol handshake within 2 s" in error.message
    assert "It sent something that is no MCP message on its stdout ('ready. {" in error.message
    assert "text without its newline spoils the answer after it" in error.message


def test_a_server_stuck_in_a_call_that_timed_out_is_started_again_by_the_next_call(
    session: Session, handmade: list[str], calls: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> object:
        server = await ag.mcp.connect("handmade", command=handmade, call_timeout_s=2, timeout_s=3)
        with pytest.raises(MCPError, match="did not answer the call of stuck"):
            await server.tools["stuck"]()
        after = await server.tools["add"]()  # (it waited behind the stuck call, and timed out too)
        await server.close()
        return after

    with caplog.at_level(logging.WARNING):
        assert arun(main(), timeout=60) == {"result": "3"}
    assert tool_calls(calls) == [("stuck", {}), ("add", {})] and starts(calls) == 2
    said = [r.getMessage() for r in caplog.records if r.name == "aether_nb.mcp.handmade"]
    assert any("answered no ping" in m and "it is stuck" in m for m in said), said
