"""An MCP server written the way its docs show (``MCPServer`` decorators), nothing aether_nb-specific.

It exercises what real servers do: structured and plain outputs, mixed content blocks, ``isError`` results, tools
that raise, awkward schemas and names, progress, logging, a tool list that changes, elicitation and sampling
requests back to the client, resources and prompts.

    python kitchen.py [--calls FILE] [--http PORT]

With ``--calls FILE`` every start and tool call is appended to FILE as a JSON line (what tests count).
"""

# No ``from __future__ import annotations``: MCPServer reads the tools' annotations at decoration time.
import argparse
import asyncio
import base64
import json
import os
import sys
from enum import StrEnum
from typing import Annotated, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import (
    CallToolResult,
    EmbeddedResource,
    ImageContent,
    ResourceLink,
    SamplingMessage,
    TextContent,
    TextResourceContents,
)
from pydantic import BaseModel, Field

PNG_1PX = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000100ffff03000006000557bfabd40000000049454e44ae426082"
    )
).decode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls")
    parser.add_argument("--http", type=int)
    args = parser.parse_args()

    def record(event: dict[str, object]) -> None:
        if args.calls:
            with open(args.calls, "a", encoding="utf-8") as f:
                f.write(json.dumps(event) + "\n")

    server = MCPServer("kitchen", instructions="A server with one of everything.")

    class Point(BaseModel):
        x: float
        y: float

    class Shape(BaseModel):
        kind: Literal["circle", "square"]
        center: Point
        size: float = 1.0

    class Color(StrEnum):
        red = "red"
        green = "green"

    class Weather(BaseModel):
        city: str
        celsius: float
        conditions: list[str]

    @server.tool()
    def weather(city: str) -> Weather:
        """Weather for a city (structured output)."""
        record({"event": "call", "tool": "weather", "arguments": {"city": city}})
        return Weather(city=city, celsius=21.5, conditions=["sunny", "breezy"])

    @server.tool(structured_output=False)
    def echo(text: str) -> str:
        """Echo text back, unstructured."""
        record({"event": "call", "tool": "echo", "arguments": {"text": text}})
        return text

    @server.tool()
    def gallery(topic: str) -> list[TextContent | ImageContent | EmbeddedResource | ResourceLink]:
        """Mixed content: text, an image, an embedded resource and a resource link."""
        record({"event": "call", "tool": "gallery", "arguments": {"topic": topic}})
        return [
            TextContent(type="text", text=f"about {topic}"),
            ImageContent(type="image", data=PNG_1PX, mime_type="image/png"),
            EmbeddedResource(
                type="resource",
                resource=TextResourceContents(uri="notes://topic", mime_type="text/plain", text=f"notes on {topic}"),
            ),
            ResourceLink(type="resource_link", uri="notes://more", name="more notes"),
        ]

    @server.tool()
    def refuse(reason: str) -> CallToolResult:
        """Return an isError result (no exception)."""
        record({"event": "call", "tool": "refuse", "arguments": {"reason": reason}})
        return CallToolResult(content=[TextContent(type="text", text=f"refused: {reason}")], is_error=True)

    @server.tool()
    def explode(message: str) -> str:
        """Raise an ordinary Python exception."""
        record({"event": "call", "tool": "explode", "arguments": {"message": message}})
        raise RuntimeError(message)

    @server.tool()
    def fail(message: str) -> str:
        """Raise a ToolError."""
        record({"event": "call", "tool": "fail", "arguments": {"message": message}})
        raise ToolError(message)

    @server.tool(name="geo.draw-shape")
    def draw(
        shape: Shape,
        color: Color = Color.red,
        label: str | None = None,
        tags: list[str] | None = None,
        opacity: Annotated[float, Field(ge=0, le=1, description="0 is clear")] = 1.0,
    ) -> dict[str, object]:
        """Draw a shape (nested model, $ref, enum, optional and default parameters, a dotted-dashed name)."""
        arguments = {"shape": shape.model_dump(), "color": color.value, "label": label, "tags": tags}
        record({"event": "call", "tool": "geo.draw-shape", "arguments": arguments})
        return {"drawn": shape.kind, "color": color.value, "label": label, "opacity": opacity}

    @server.tool(name="grüße")
    def gruss(name: str) -> str:
        """A tool whose name is not ASCII."""
        record({"event": "call", "tool": "grüße", "arguments": {"name": name}})
        return f"Grüß dich, {name}"

    @server.tool(description="A tool with a very long description. " + "It goes on and on. " * 400)
    def verbose(n: int) -> int:
        record({"event": "call", "tool": "verbose", "arguments": {"n": n}})
        return n * 2

    @server.tool()
    async def crunch(steps: int, ctx: Context) -> str:
        """Work for a while, reporting progress and logging."""
        record({"event": "call", "tool": "crunch", "arguments": {"steps": steps}})
        await ctx.info(f"crunching {steps} steps")
        for i in range(steps):
            await asyncio.sleep(0.05)
            await ctx.report_progress(i + 1, steps, f"step {i + 1}")
        await ctx.warning("crunch done")
        return f"crunched {steps}"

    @server.tool()
    async def unlock(ctx: Context) -> str:
        """Add a tool (``secret``) and tell the client the list changed."""
        record({"event": "call", "tool": "unlock", "arguments": {}})

        def secret() -> str:
            """Only here after unlock."""
            record({"event": "call", "tool": "secret", "arguments": {}})
            return "the secret"

        server.add_tool(secret, name="secret")
        await ctx.session.send_tool_list_changed()  # the 2025-era notification (notify_tools_changed is 2026 listen)
        return "unlocked"

    class Booking(BaseModel):
        seats: int = Field(description="How many seats")
        window: bool = Field(default=False, description="A window seat?")

    @server.tool()
    async def book(flight: str, ctx: Context) -> str:
        """Book a flight, asking the user how many seats (elicitation)."""
        record({"event": "call", "tool": "book", "arguments": {"flight": flight}})
        answer = await ctx.elicit(f"How many seats on {flight}?", Booking)
        if answer.action != "accept":
            record({"event": "elicit", "action": answer.action})
            return f"not booked ({answer.action})"
        record({"event": "elicit", "action": "accept", "data": answer.data.model_dump()})
        window = " by the window" if answer.data.window else ""
        return f"booked {answer.data.seats} seat(s) on {flight}{window}"

    @server.tool()
    async def summarize(text: str, ctx: Context) -> str:
        """Ask the client's model to summarize text (sampling)."""
        record({"event": "call", "tool": "summarize", "arguments": {"text": text}})
        result = await ctx.session.create_message(
            messages=[SamplingMessage(role="user", content=TextContent(type="text", text=f"Summarize: {text}"))],
            max_tokens=50,
        )
        content = result.content
        return content.text if isinstance(content, TextContent) else str(content)

    @server.resource("notes://topic", mime_type="text/plain")
    def topic_notes() -> str:
        """Notes on the topic."""
        return "topic notes"

    @server.resource("notes://{name}/summary")
    def named_summary(name: str) -> str:
        """A summary by name (a template)."""
        return f"summary of {name}"

    @server.prompt()
    def review(code: str, language: str = "python") -> str:
        """Ask for a code review."""
        return f"Review this {language} code:\n{code}"

    record({"event": "start", "pid": os.getpid()})
    print("kitchen server starting", file=sys.stderr)
    if args.http is not None:
        server.run("streamable-http", host="127.0.0.1", port=args.http)
    else:
        server.run()


if __name__ == "__main__":
    main()
