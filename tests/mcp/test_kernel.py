"""MCP in a real kernel: a connection made in one cell serves runs started in others and closes in a third (the SDK's
task groups live in a task of their own), and ``%aether mcp`` lists the servers and their tools."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.kernel_client import Kernel, kernel
from tests.mcp.conftest import starts, tool_calls

pytestmark = pytest.mark.kernel
__all__ = ["kernel"]


def test_connect_call_and_close_in_separate_cells(kernel: Kernel, tmp_path: Path) -> None:
    calls = tmp_path / "calls.jsonl"
    kernel.ok("%load_ext aether_nb")
    kernel.ok(
        "import aether_nb as ag\n"
        "from aether_nb.testing import mcp_server\n"
        f"calc = await ag.mcp.connect('calc', command=mcp_server.command({str(calls)!r}))"
    )
    res = kernel.ok("%aether mcp")
    assert "calc · stdio ·" in res.stdout and "connected" in res.stdout
    assert "calc.add(a: int, b: int) · Add two integers." in res.stdout
    kernel.ok(
        "@ag.graph_fn(outputs=['total'])\n"
        "async def sums(x: int, *, context):\n"
        "    out = await calc.tools['add'](a=x, b=1)\n"
        "    return {'total': out['result']}"
    )
    res = kernel.ok("run = sums.start(x=41)\nawait run")
    assert "{'total': 42}" in res.results
    res = kernel.ok("print([(n.id, n.status) for n in run.graph.nodes], await calc.tools['greet'](name='Ada'))")
    assert "[('calc.add_1', 'DONE')] {'result': 'Hello, Ada!'}" in res.stdout
    kernel.ok("await calc.close()")
    res = kernel.ok("print(calc.connected)\n%aether mcp")
    assert res.stdout.startswith("False") and "not connected (starts on first use)" in res.stdout
    assert starts(calls) == 1
    assert tool_calls(calls) == [("add", {"a": 41, "b": 1}), ("greet", {"name": "Ada", "punctuation": "!"})]


def test_aether_mcp_without_servers_says_how_to_add_one(kernel: Kernel) -> None:
    kernel.ok("%load_ext aether_nb")
    res = kernel.ok("%aether mcp")
    assert "no MCP servers in this session: ag.configure(mcp=" in res.stdout
