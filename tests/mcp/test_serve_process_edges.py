"""``python -m aether_nb.mcp`` as MCP hosts run it: two servers given one store file, a client that dies during a
call, and the ``tools`` listing.

A host starts one server per window or session, so a second server on the same ``--store`` is a setup mistake the
message must explain in a server's terms (not a notebook's); a host that quits or is killed closes the pipes while
a call runs, which must end the server with one line, not a transport traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import duckdb

MODULE = '''
"""Served in the tests: a tool that waits, one with declared outputs."""
import asyncio
import sys
import aether_nb as ag


@ag.tool(outputs=["done"])
async def slow(seconds: float) -> dict:
    """Wait ``seconds``."""
    print("SLOW_STARTED", file=sys.stderr, flush=True)
    await asyncio.sleep(seconds)
    return {"done": True}


@ag.tool(outputs=["total", "count"])
def add(a: int, b: int) -> dict:
    """Add two numbers."""
    return {"total": a + b, "count": 2}
'''


def _module(tmp_path: Path) -> Path:
    path = tmp_path / "edge_served.py"
    path.write_text(MODULE)
    return path


def _server(tmp_path: Path, store: Path, stderr: IO[str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "aether_nb.mcp", "serve", str(_module(tmp_path)), "--store", str(store)]
    return subprocess.Popen(command, cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)


def _send(proc: subprocess.Popen[bytes], message: dict[str, Any]) -> None:
    assert proc.stdin is not None
    proc.stdin.write((json.dumps({"jsonrpc": "2.0", **message}) + "\n").encode())
    proc.stdin.flush()


def _initialize(proc: subprocess.Popen[bytes]) -> None:
    """The MCP handshake (raw JSON-RPC lines: the test plays a client that can die at any point)."""
    client = {"name": "t", "version": "1"}
    params = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": client}
    _send(proc, {"id": 1, "method": "initialize", "params": params})
    assert proc.stdout is not None
    assert b'"id":1' in proc.stdout.readline()
    _send(proc, {"method": "notifications/initialized"})


def _wait_for(path: Path, text: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_text():
        assert proc.poll() is None, path.read_text()
        assert time.monotonic() < deadline, path.read_text()
        time.sleep(0.05)  # (polling a file the server writes: no other signal crosses the process boundary)


def test_a_second_server_on_the_same_store_says_to_give_each_its_own(tmp_path: Path) -> None:
    store = tmp_path / "shared.duckdb"
    with open(tmp_path / "a.err", "w") as err_a:
        first = _server(tmp_path, store, err_a)
        try:
            _initialize(first)  # (the store is open once the server answers)
            second = subprocess.run(
                [sys.executable, "-m", "aether_nb.mcp", "serve", str(_module(tmp_path)), "--store", str(store)],
                cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
        finally:
            first.kill()
            first.wait(60)
    assert second.returncode == 2
    message = second.stderr.strip()
    assert "another process" in message and "--store" in message, message
    assert "kernel" not in message and "%aether" not in message, message


def test_a_client_that_dies_during_a_call_ends_the_server_with_one_line(tmp_path: Path) -> None:
    store = tmp_path / "gone.duckdb"
    err_path = tmp_path / "server.err"
    with open(err_path, "w") as err:
        proc = _server(tmp_path, store, err)
        _initialize(proc)
        _send(proc, {"id": 2, "method": "tools/call", "params": {"name": "slow", "arguments": {"seconds": 60}}})
        _wait_for(err_path, "SLOW_STARTED", proc)
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdout.close()  # the client is gone: both pipes closed
        proc.stdin.close()
        code = proc.wait(120)
    stderr = err_path.read_text()
    assert "Traceback" not in stderr and "ExceptionGroup" not in stderr and "BrokenPipe" not in stderr, stderr
    assert stderr.strip().splitlines()[-1] == "aether_nb.mcp: the client went away (its connection closed); stopping"
    assert code == 0
    with duckdb.connect(str(store), read_only=True) as db:
        assert db.sql("select status from runs").fetchall() == [("cancelled",)]


def test_the_tools_listing_shows_output_schemas(tmp_path: Path) -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "aether_nb.mcp", "tools", str(_module(tmp_path))],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    tools = {t["name"]: t for t in json.loads(listed.stdout)}
    assert tools["add"]["output_schema"] == {
        "type": "object",
        "properties": {"total": {}, "count": {}},
        "required": ["total", "count"],
    }
    assert tools["slow"]["output_schema"]["required"] == ["done"]
    assert tools["add"]["input_schema"]["required"] == ["a", "b"]
