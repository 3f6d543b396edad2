"""MCP tests talk to real MCP servers in subprocesses (aether_nb.testing.mcp_server, written with the SDK)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aether_nb.testing import mcp_server


@pytest.fixture
def calls(tmp_path: Path) -> Path:
    """Where the test server records its starts and calls (one JSON line each)."""
    return tmp_path / "calls.jsonl"


@pytest.fixture
def calc_command(calls: Path) -> list[str]:
    return mcp_server.command(calls)


def tool_calls(path: Path) -> list[tuple[str, dict[str, object]]]:
    """The calls the server really executed, in order."""
    return [(e["tool"], e["arguments"]) for e in mcp_server.read_calls(path) if e["event"] == "call"]


def starts(path: Path) -> int:
    """How many times the server process was started."""
    return sum(1 for e in mcp_server.read_calls(path) if e["event"] == "start")
