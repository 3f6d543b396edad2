"""The MCP examples of shared/API.md and of issue 17, run as written against a server script of their own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from tests.conftest import arun

CALC_SERVER = '''
from mcp.server.mcpserver import MCPServer

server = MCPServer("calc")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two numbers."""
    with open("calls.txt", "a") as f:
        f.write(f"add {a} {b}\\n")
    return a + b


server.run()
'''


@pytest.fixture
def in_folder_with_calc_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "calc_server.py").write_text(CALC_SERVER)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_required_surface(session: Session, in_folder_with_calc_server: Path) -> None:
    @ag.graph_fn(outputs=["sum"])
    async def adds(*, context: ag.NodeContext) -> dict[str, Any]:
        out = await calc.tools["add"](a=1, b=2)  # inside a run: a journaled node named "calc.add"
        return {"sum": out["result"]}

    async def cell() -> ag.Run:
        global calc
        calc = await ag.mcp.connect("calc", command=["python", "calc_server.py"])
        assert isinstance(calc.tools, dict) and set(calc.tools) == {"add"}
        assert calc.tools["add"].description == "Add two numbers."
        assert await calc.tools["add"](a=1, b=2) == {"result": 3}  # outside a run: runs now
        run = adds.start()
        assert await run == {"sum": 3}
        await calc.close()
        return run

    run = arun(cell(), timeout=60)
    assert [(n.id, n.name) for n in run.graph.nodes] == [("calc.add_1", "calc.add")]
    assert (in_folder_with_calc_server / "calls.txt").read_text().splitlines() == ["add 1 2", "add 1 2"]


def test_the_configured_surface(session: Session, in_folder_with_calc_server: Path) -> None:
    ag.configure(mcp={"calc": {"command": ["python", "calc_server.py"]}})

    @ag.graph_fn(outputs=["sum"])
    async def adds_configured(*, context: ag.NodeContext) -> dict[str, Any]:
        out = await context.mcp("calc").tools["add"](a=20, b=22)
        return {"sum": out["result"]}

    async def cell() -> dict[str, Any]:
        out: dict[str, Any] = await adds_configured()
        await ag.mcp.close_all()
        return out

    assert arun(cell(), timeout=60) == {"sum": 42}


calc: Any = None
