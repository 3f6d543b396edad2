"""An MCP server written with the SDK's low-level ``Server`` API: hand-written JSON schemas and raw results.

Tools: ``lookup`` (``$ref``, ``anyOf``, enum, nullable and default parameters; an output schema and structured
content), ``plain-text`` (text only), ``ask-enum`` (a form question with an enum and an optional integer, sent
with ``elicit_form``), ``count`` (reports progress), ``die`` (the process exits mid-call) and ``hang`` (never
answers).

    python lowlevel.py [--calls FILE] [--http PORT]
"""

import argparse
import asyncio
import json
import os
from typing import Any

import mcp_types as types
from mcp.server import Server

LOOKUP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "$defs": {
        "Query": {
            "type": "object",
            "properties": {
                "key": {"anyOf": [{"type": "string"}, {"type": "integer"}], "description": "a name or an id"},
                "fuzzy": {"type": "boolean", "default": False},
            },
            "required": ["key"],
        }
    },
    "properties": {
        "query": {"$ref": "#/$defs/Query"},
        "table": {"type": "string", "enum": ["users", "orders"]},
        "limit": {"type": ["integer", "null"], "default": None},
    },
    "required": ["query", "table"],
}
LOOKUP_OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {"rows": {"type": "array", "items": {"type": "object"}}, "table": {"type": "string"}},
    "required": ["rows", "table"],
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls")
    parser.add_argument("--http", type=int)
    parser.add_argument("--hang-listing", action="store_true", help="never answer tools/list")
    args = parser.parse_args()

    def record(event: dict[str, Any]) -> None:
        if args.calls:
            with open(args.calls, "a", encoding="utf-8") as f:
                f.write(json.dumps(event) + "\n")

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        if args.hang_listing:
            await asyncio.Event().wait()
        return types.ListToolsResult(
            tools=[
                types.Tool(
                    name="lookup",
                    description="Look rows up.",
                    input_schema=LOOKUP_SCHEMA,
                    output_schema=LOOKUP_OUTPUT,
                ),
                types.Tool(
                    name="plain-text",
                    description="Say something.",
                    input_schema={"type": "object", "properties": {}},
                ),
                types.Tool(
                    name="ask-enum",
                    description="Ask the user for a size.",
                    input_schema={"type": "object", "properties": {}},
                ),
                types.Tool(
                    name="count",
                    description="Count up, reporting progress.",
                    input_schema={
                        "type": "object",
                        "properties": {"to": {"type": "integer"}, "every": {"type": "number", "default": 0.02}},
                        "required": ["to"],
                    },
                ),
                types.Tool(name="die", description="Exit mid-call.", input_schema={"type": "object"}),
                types.Tool(name="hang", description="Never answer.", input_schema={"type": "object"}),
            ]
        )

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        name, arguments = params.name, dict(params.arguments or {})
        record({"event": "call", "tool": name, "arguments": arguments})
        if name == "lookup":
            rows = [{"key": arguments["query"]["key"], "n": i} for i in range(arguments.get("limit") or 2)]
            structured = {"rows": rows, "table": arguments["table"]}
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=json.dumps(structured))], structured_content=structured
            )
        if name == "plain-text":
            return types.CallToolResult(content=[types.TextContent(type="text", text="plain words")])
        if name == "ask-enum":
            answer = await ctx.session.elicit_form(
                "Which size?",
                {
                    "type": "object",
                    "properties": {
                        "size": {"type": "string", "enum": ["S", "M", "L"], "enumNames": ["small", "medium", "large"]},
                        "count": {"type": "integer", "title": "How many", "minimum": 1, "maximum": 9},
                    },
                    "required": ["size"],
                },
                related_request_id=ctx.request_id,
            )
            record({"event": "elicit", "action": answer.action, "data": answer.content})
            return types.CallToolResult(content=[types.TextContent(type="text", text=json.dumps(answer.content))])
        if name == "count":
            for i in range(arguments["to"]):
                await asyncio.sleep(arguments.get("every", 0.02))
                await ctx.session.report_progress(i + 1, arguments["to"], f"at {i + 1}")
            return types.CallToolResult(content=[types.TextContent(type="text", text=f"counted to {arguments['to']}")])
        if name == "die":
            os._exit(3)
        if name == "hang":
            await asyncio.Event().wait()
        return types.CallToolResult(content=[types.TextContent(type="text", text=f"no tool {name}")], is_error=True)

    server = Server("lowlevel", version="0.1", on_list_tools=list_tools, on_call_tool=call_tool)
    record({"event": "start", "pid": os.getpid()})
    if args.http is not None:
        import uvicorn

        uvicorn.run(server.streamable_http_app(), host="127.0.0.1", port=args.http, log_level="warning")
        return

    from mcp.server.stdio import stdio_server

    async def serve() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    asyncio.run(serve())


if __name__ == "__main__":
    main()
