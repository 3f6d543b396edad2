"""The error for a stdio MCP server that crashes during a call quotes what it wrote to stderr during that call.

An earlier call's tool error (answered as ``isError``, its traceback logged on the server's stderr) is no cause of
a later crash: quoted as "the server's stderr ended with" it pointed the user at the wrong cause.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import aether_nb as ag
from aether_nb.errors import MCPError
from aether_nb.runtime.session import Session
from tests.conftest import arun

SERVER = """
import os, sys
from mcp.server.mcpserver import MCPServer

server = MCPServer("fragile")

@server.tool()
def boom(x: int) -> str:
    raise ValueError(f"boom {x}: an earlier, handled failure")

@server.tool()
def die(say: str = "") -> str:
    if say:
        print(say, file=sys.stderr, flush=True)
    os._exit(3)

server.run()
"""


def test_a_crash_quotes_only_what_the_server_wrote_during_the_failing_call(session: Session, tmp_path: Path) -> None:
    script = tmp_path / "fragile.py"
    script.write_text(SERVER)

    async def crash(say: str) -> str:
        conn = await ag.mcp.connect("fragile", command=[sys.executable, str(script)], call_timeout_s=30)
        try:
            with pytest.raises(MCPError, match="Error executing tool boom"):
                await conn.tools["boom"](x=3)  # a tool error: the server logs its traceback and answers
            with pytest.raises(MCPError) as err:
                await conn.tools["die"](say=say)
            assert err.value.code == "mcp_connection"
            return str(err.value)
        finally:
            await ag.mcp.close_all()

    silent = arun(crash(""), timeout=60)
    assert "went away during the call of die" in silent
    assert "boom 3" not in silent and "ValueError" not in silent
    assert "It wrote nothing to its stderr during the request." in silent
    loud = arun(crash("out of memory, giving up"), timeout=60)
    assert "The server's stderr ended with:\nout of memory, giving up" in loud
    assert "boom 3" not in loud
