"""MCP tools whose names are no Python attribute, against a real MCP server (a subprocess written with the SDK).

``run.promote()`` writes ``odd.tools["my-tool.v2"](...)`` for a tool name that is not an identifier, a keyword, or
one of the connection's own attributes (``close``: ``odd.close`` is the connection's method), and the promoted
source runs. ``tools["typo"]`` is an aether_nb ``UsageError`` that is also a ``KeyError``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from tests.conftest import arun

SERVER = '''
from mcp.server.mcpserver import MCPServer

server = MCPServer("odd")


@server.tool(name="close")
def close_(x: int) -> dict[str, int]:
    """Named like the connection's close()."""
    return {"y": x + 1}


@server.tool(name="my-tool.v2")
def mytool(x: int) -> dict[str, int]:
    """A dash and a dot."""
    return {"y": x * 2}


@server.tool(name="class")
def klass(x: int) -> dict[str, int]:
    """A Python keyword."""
    return {"y": x * 3}


@server.tool(name="größe")
def size(x: int) -> dict[str, int]:
    """Not ASCII, but an identifier (its node name replaces the umlauts)."""
    return {"y": x * 4}


@server.tool(name="\ufb01nd")
def find(x: int) -> dict[str, int]:
    """An identifier with a ligature, which Python source reads as "find"."""
    return {"y": x * 5}


@server.tool(name="add")
def add(x: int) -> dict[str, int]:
    """A plain identifier."""
    return {"y": x + 10}


if __name__ == "__main__":
    server.run("stdio")
'''

EXPECTED = {"close": 2, "my-tool.v2": 2, "class": 3, "größe": 4, "\ufb01nd": 5, "add": 11}


@pytest.fixture
def odd_command(tmp_path: Path) -> list[str]:
    script = tmp_path / "odd_server.py"
    script.write_text(SERVER, encoding="utf-8")
    return [sys.executable, str(script)]


def agent_calling(conn: Any, tool: str, name: str) -> Any:
    """An agent that calls the server's tool ``tool`` through ``conn.tools``."""

    @ag.graph_fn(name=name, outputs=["a"])
    async def agent(x: int) -> dict[str, Any]:
        out = await conn.tools[tool](x=x)
        return {"a": out["y"]}

    return agent


def promoted(run: ag.Run) -> tuple[str, str]:
    source = run.promote(name="promoted")
    line = next(line.strip() for line in source.splitlines() if "= " in line and "(x=x" in line)
    return source, line


@pytest.mark.parametrize("server", ["odd", "odd-srv"])
def test_promoted_source_calls_tools_whose_names_are_no_attribute_through_tools(
    session: Session, odd_command: list[str], server: str
) -> None:
    async def main() -> dict[str, tuple[str, dict[str, Any]]]:
        conn = await ag.mcp.connect(server, command=odd_command)
        seen: dict[str, tuple[str, dict[str, Any]]] = {}
        try:
            for tool in EXPECTED:
                run = agent_calling(conn, tool, f"uses_{len(seen)}").start(x=1)
                assert await run == {"a": EXPECTED[tool]}
                source, line = promoted(run)
                namespace: dict[str, Any] = {"ag": ag, server.replace("-", "_"): conn}
                exec(source, namespace)
                seen[tool] = (line, await ag.run(namespace["promoted"].build(), {"x": 1}))
        finally:
            await conn.close()
        return seen

    seen = arun(main(), timeout=60)
    prefix = "odd" if server == "odd" else "ag.mcp.servers()['odd-srv']"
    assert {tool: line.split(" = ")[1] for tool, (line, _) in seen.items()} == {
        "close": f"{prefix}.tools['close'](x=x)",  # odd.close is the connection's close()
        "my-tool.v2": f"{prefix}.tools['my-tool.v2'](x=x)",
        "class": f"{prefix}.tools['class'](x=x)",
        "größe": f"{prefix}.größe(x=x)",
        "\ufb01nd": f"{prefix}.tools['\ufb01nd'](x=x)",
        "add": f"{prefix}.add(x=x)",  # an identifier that clashes with nothing: attribute access, as documented
    }
    assert {tool: out for tool, (_, out) in seen.items()} == {tool: {"a": y} for tool, y in EXPECTED.items()}


def test_an_unknown_tool_is_a_usage_error_and_a_key_error(session: Session, odd_command: list[str]) -> None:
    async def main() -> None:
        odd = await ag.mcp.connect("odd", command=odd_command)
        try:
            with pytest.raises(ag.UsageError) as caught:
                odd.tools["clsoe"]
            assert isinstance(caught.value, KeyError) and caught.value.code == "mcp_unknown_tool"
            # the message as written (a plain KeyError shows its repr: quotes around it, newlines escaped)
            assert str(caught.value).startswith("MCP server 'odd' has no tool 'clsoe'; its tools: [")
            assert "'my-tool.v2'" in str(caught.value) and "refresh()" in str(caught.value)
            with pytest.raises(KeyError):  # code written against the dict keeps working
                odd.tools["clsoe"]
            assert "clsoe" not in odd.tools and odd.tools.get("clsoe") is None
            assert odd.tools["close"] is not None and odd.tools.get("close") is odd.tools["close"]
            with pytest.raises(AttributeError, match=r"odd.tools\[name\]"):
                odd.nothing  # noqa: B018
        finally:
            await odd.close()

    arun(main(), timeout=60)
