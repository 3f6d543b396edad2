"""A server that could not start is listed as failed with why (it was listed as "starts on first use"), and
connecting again once the cause is fixed works, with the same settings."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import aether_nb as ag
from aether_nb.errors import MCPError
from aether_nb.notebook.magics import mcp_listing
from aether_nb.runtime.session import Session
from tests.conftest import arun
from tests.mcp.conftest import starts

LAUNCHER = """\
import runpy, sys
sys.argv = ["mcp_server", "--calls", {calls!r}]
runpy.run_module("aether_nb.testing.mcp_server", run_name="__main__")
"""


def test_a_failed_connect_is_listed_as_failed_and_a_retry_connects(
    session: Session, tmp_path: Path, calls: Path
) -> None:
    launcher = tmp_path / "calc_server.py"  # not written yet: the first start fails
    command = [sys.executable, str(launcher)]

    async def first() -> str:
        with pytest.raises(MCPError) as info:
            await ag.mcp.connect("calc", command=command, timeout_s=30)
        return info.value.message

    error = arun(first(), timeout=60)
    listing = mcp_listing()
    head, retry = listing.splitlines()[:2]
    assert head.startswith("calc · stdio · ") and " · failed: " in head, listing
    assert "starts on first use" not in listing
    assert error.splitlines()[0][:300] in head  # the same why as the exception
    assert retry.strip() == (
        "retry: await ag.mcp.servers()['calc'].connect() (or ag.mcp.connect('calc', ...) again with fixed settings)"
    )
    assert ag.mcp.servers()["calc"].failure == error

    launcher.write_text(LAUNCHER.format(calls=str(calls)))  # the person fixes the cause

    async def retry_connect() -> list[str]:
        calc = await ag.mcp.servers()["calc"].connect()
        try:
            assert calc.connected and calc.failure is None
            return sorted(calc.tools)
        finally:
            await calc.close()

    assert "add" in arun(retry_connect(), timeout=60)
    assert starts(calls) == 1
    listing = mcp_listing()
    assert " · failed: " not in listing and "calc.add(a: int, b: int)" in listing, listing
