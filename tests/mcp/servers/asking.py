"""An MCP server whose tools ask questions (``ctx.elicit``) and ask for model calls, written as the SDK's docs show.

Tests of several calls in flight on one connection: which call a question is handed to, calls answered while a
question is open, questions the server gives up on.

    python asking.py [--calls FILE] [--http PORT]

With ``--calls FILE`` every start, call, answer and give-up is appended to FILE as a JSON line.
"""

# No ``from __future__ import annotations``: MCPServer reads the tools' annotations at decoration time.
import argparse
import asyncio
import json
import os

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp_types import SamplingMessage, TextContent
from pydantic import BaseModel, Field


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls")
    parser.add_argument("--http", type=int)
    args = parser.parse_args()

    def record(event: dict[str, object]) -> None:
        if args.calls:
            with open(args.calls, "a", encoding="utf-8") as f:
                f.write(json.dumps(event) + "\n")

    server = MCPServer("asking")

    class Value(BaseModel):
        value: str = Field(description="The value")

    @server.tool()
    async def ask(tag: str, ctx: Context, delay: float = 0.0) -> str:
        """Wait ``delay`` seconds, then ask for a value."""
        record({"event": "call", "tool": "ask", "tag": tag})
        await asyncio.sleep(delay)
        answer = await ctx.elicit(f"Value for {tag}?", Value)
        value = answer.data.value if answer.action == "accept" else answer.action
        record({"event": "answer", "tool": "ask", "tag": tag, "value": value})
        return f"{tag}={value}"

    @server.tool()
    async def ask_giveup(tag: str, ctx: Context, wait: float = 1.0) -> str:
        """Ask, give up on the question after ``wait`` seconds (it is cancelled), and ask another one."""
        record({"event": "call", "tool": "ask_giveup", "tag": tag})
        with anyio.move_on_after(wait):
            first = await ctx.elicit(f"Quick, {tag}?", Value)
            return f"first:{first.data.value if first.action == 'accept' else first.action}"
        record({"event": "gave_up", "tag": tag})
        second = await ctx.elicit(f"Second chance, {tag}?", Value)
        value = second.data.value if second.action == "accept" else second.action
        record({"event": "answer", "tool": "ask_giveup", "tag": tag, "value": value})
        return f"second:{value}"

    @server.tool()
    async def sleep(seconds: float) -> str:
        record({"event": "call", "tool": "sleep", "seconds": seconds})
        await asyncio.sleep(seconds)
        return "slept"

    @server.tool()
    async def sample(tag: str, ctx: Context) -> str:
        """Ask the client's model to say ``tag``."""
        record({"event": "call", "tool": "sample", "tag": tag})
        result = await ctx.session.create_message(
            messages=[SamplingMessage(role="user", content=TextContent(type="text", text=f"Say {tag}"))],
            max_tokens=20,
        )
        text = result.content.text if isinstance(result.content, TextContent) else str(result.content)
        record({"event": "sampled", "tag": tag, "text": text})
        return f"{tag}:{text}"

    record({"event": "start", "pid": os.getpid()})
    if args.http is not None:
        server.run("streamable-http", host="127.0.0.1", port=args.http)
    else:
        server.run()


if __name__ == "__main__":
    main()
