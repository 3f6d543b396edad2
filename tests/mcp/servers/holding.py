"""An MCP server with a call that stays in flight until another call releases it, and a tool that asks a question.

Tests of a question handed to a call that holds it (the oldest in flight) when that call's reply comes: ``hold`` is
in flight first, ``ask`` asks, ``release`` makes ``hold`` reply at the moment the test chooses.

    python holding.py [--calls FILE]

With ``--calls FILE`` every start, call and answer is appended to FILE as a JSON line.
"""

# No ``from __future__ import annotations``: MCPServer reads the tools' annotations at decoration time.
import argparse
import asyncio
import json
import os

from mcp.server.mcpserver import Context, MCPServer
from pydantic import BaseModel, Field


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls")
    args = parser.parse_args()

    def record(event: dict[str, object]) -> None:
        if args.calls:
            with open(args.calls, "a", encoding="utf-8") as f:
                f.write(json.dumps(event) + "\n")

    server = MCPServer("holding")
    released = asyncio.Event()

    class Value(BaseModel):
        value: str = Field(description="The value")

    @server.tool()
    async def hold() -> str:
        """Stay in flight until ``release`` is called."""
        record({"event": "call", "tool": "hold"})
        await released.wait()
        return "held"

    @server.tool()
    async def release() -> str:
        """Let ``hold`` reply."""
        record({"event": "call", "tool": "release"})
        released.set()
        return "released"

    @server.tool()
    async def ask(tag: str, ctx: Context) -> str:
        """Ask for a value."""
        record({"event": "call", "tool": "ask", "tag": tag})
        answer = await ctx.elicit(f"Value for {tag}?", Value)
        value = answer.data.value if answer.action == "accept" else answer.action
        record({"event": "answer", "tool": "ask", "tag": tag, "value": value})
        return f"{tag}={value}"

    record({"event": "start", "pid": os.getpid()})
    server.run()


if __name__ == "__main__":
    main()
