"""A small MCP server for tests and notebooks: a calculator, written with the official SDK's ``MCPServer``.

It is an ordinary MCP server (nothing aether_nb-specific), run as a subprocess over stdio, or over streamable HTTP
on 127.0.0.1 — no other network::

    calc = await ag.mcp.connect("calc", command=mcp_server.command(calls="calls.jsonl"))

    python -m aether_nb.testing.mcp_server [--calls FILE] [--http PORT]

Tools: ``add(a, b)``, ``divide(a, b)`` (dividing by zero is a tool error), ``stats(numbers)`` (structured output
``{count, mean, max}``), ``greet(name, punctuation="!")`` (text), ``slow(seconds)`` (sleeps: for tests that stop
the server mid-call), ``reserve(restaurant)`` (asks the client how many people, with ``ctx.elicit``). With
``--calls FILE`` it appends one JSON line per event to FILE — ``{"event": "start", "pid": ...}`` when it starts
and ``{"event": "call", "tool": ..., "arguments": {...}}`` per call — so a test can count what the server really
did (:func:`read_calls`).
"""

# No ``from __future__ import annotations``: MCPServer reads the tools' annotations, defined inside build().
import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CALLS_ENV = "AETHER_NB_MCP_CALLS"


def command(calls: str | os.PathLike[str] | None = None, *, http_port: int | None = None) -> list[str]:
    """The command line that starts this server (with the current Python), for ``ag.mcp.connect(command=...)``."""
    argv = [sys.executable, "-m", "aether_nb.testing.mcp_server"]
    if calls is not None:
        argv += ["--calls", os.fspath(calls)]
    if http_port is not None:
        argv += ["--http", str(http_port)]
    return argv


def read_calls(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The events the server recorded in ``path`` (``[]`` when it has recorded none)."""
    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def http_server(
    calls: str | os.PathLike[str] | None = None, *, timeout_s: float = 30.0, port: int | None = None
) -> Iterator[str]:
    """Run the server over streamable HTTP on 127.0.0.1 in a subprocess; yields its URL (``.../mcp``). ``port``:
    listen there (a server restarted at the URL its clients know), else on a free one."""
    port = free_port() if port is None else port
    proc = subprocess.Popen(command(calls, http_port=port), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise RuntimeError(f"the MCP test server exited with {proc.returncode}:\n{err}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"the MCP test server did not listen on port {port} within {timeout_s} s")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()


def build(calls: str | None = None) -> Any:
    """The ``MCPServer`` with the calculator tools (recording events to ``calls`` when given)."""
    import asyncio

    from mcp.server.mcpserver import Context, MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from pydantic import BaseModel

    def record(event: dict[str, Any]) -> None:
        if calls:
            with open(calls, "a", encoding="utf-8") as f:
                f.write(json.dumps(event) + "\n")

    server = MCPServer("calc", instructions="A calculator for tests.")

    class Stats(BaseModel):
        count: int
        mean: float
        max: float

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        record({"event": "call", "tool": "add", "arguments": {"a": a, "b": b}})
        return a + b

    @server.tool()
    def divide(a: float, b: float) -> float:
        """Divide a by b."""
        record({"event": "call", "tool": "divide", "arguments": {"a": a, "b": b}})
        if b == 0:
            raise ToolError("cannot divide by zero")
        return a / b

    @server.tool()
    def stats(numbers: list[float]) -> Stats:
        """Count, mean and maximum of a list of numbers."""
        record({"event": "call", "tool": "stats", "arguments": {"numbers": numbers}})
        if not numbers:
            raise ToolError("give at least one number")
        return Stats(count=len(numbers), mean=sum(numbers) / len(numbers), max=max(numbers))

    @server.tool()
    def greet(name: str, punctuation: str = "!") -> str:
        """Greet someone by name."""
        record({"event": "call", "tool": "greet", "arguments": {"name": name, "punctuation": punctuation}})
        return f"Hello, {name}{punctuation}"

    @server.tool()
    async def slow(seconds: float) -> str:
        """Wait for some seconds, then answer."""
        record({"event": "call", "tool": "slow", "arguments": {"seconds": seconds}})
        await asyncio.sleep(seconds)
        return f"slept {seconds} s"

    class Party(BaseModel):
        people: int

    @server.tool()
    async def reserve(restaurant: str, ctx: Context) -> str:
        """Reserve a table, asking how many people come."""
        record({"event": "call", "tool": "reserve", "arguments": {"restaurant": restaurant}})
        answer = await ctx.elicit(f"How many people for {restaurant}?", Party)
        if answer.action != "accept":
            return f"no table ({answer.action})"
        return f"a table for {answer.data.people} at {restaurant}"

    record({"event": "start", "pid": os.getpid()})
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m aether_nb.testing.mcp_server", description=__doc__)
    parser.add_argument("--calls", default=os.environ.get(CALLS_ENV), help="append one JSON line per event here")
    parser.add_argument("--http", type=int, metavar="PORT", help="serve streamable HTTP on 127.0.0.1:PORT")
    args = parser.parse_args(argv)
    server = build(args.calls)
    if args.http is not None:
        server.run("streamable-http", host="127.0.0.1", port=args.http)
    else:
        server.run()


if __name__ == "__main__":
    main()
