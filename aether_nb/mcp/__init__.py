"""MCP both ways: tools from any MCP server as journaled nodes, and aether_nb agents served over MCP.

Client side::

    calc = await ag.mcp.connect("calc", command=["python", "calc_server.py"])   # or url="http://.../mcp"
    await calc.tools["add"](a=1, b=2)        # inside a run: a journaled node "calc.add"; outside: runs now
    ag.configure(mcp={"calc": {"command": [...]}}); context.mcp("calc")       # connected on first use

Server side (see :mod:`aether_nb.mcp.server`)::

    python -m aether_nb.mcp serve mymodule --store agents.duckdb

Needs the ``mcp`` extra (``pip install 'aether_nb[mcp]'``); the SDK is imported when a server is first reached.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aether_nb.errors import MCPError, UsageError, shown
from aether_nb.mcp.spec import DEFAULT_CALL_TIMEOUT_S, DEFAULT_CONNECT_TIMEOUT_S

if TYPE_CHECKING:
    from aether_nb.mcp.client import MCPConnection
    from aether_nb.runtime.session import Session

__all__ = ["MCPConnection", "MCPError", "close_all", "connect", "require_sdk", "servers"]


def require_sdk() -> None:
    """Raise a :class:`UsageError` saying how to install the ``mcp`` SDK when it is missing."""
    try:
        import mcp  # noqa: F401
    except ImportError as exc:
        raise UsageError(
            "MCP support needs the official MCP SDK: pip install 'aether_nb[mcp]' (or pip install mcp)",
            code="mcp_not_installed",
        ) from exc


def _session(session: Session | None) -> Session:
    from aether_nb.config import session as default_session
    from aether_nb.runtime.session import Session

    if session is None:
        return default_session()
    if not isinstance(session, Session):
        raise UsageError(f"session must be an aether_nb Session, got {type(session).__name__}")
    return session


async def connect(
    name: str,
    *,
    command: Sequence[str] | str | None = None,
    url: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    call_timeout_s: float | None = DEFAULT_CALL_TIMEOUT_S,
    tool_prefix: str = "",
    session: Session | None = None,
) -> MCPConnection:
    """The session's connection to an MCP server, with its tools known.

    The server is started (``command``, spoken to over stdio) or reached (``url``, streamable HTTP) only when its
    tools are not known yet: a store that listed this server before remembers them, and then the server starts
    at the first call that actually executes (a resumed run replaying its completed calls never starts it).
    Calling ``connect`` again with the same settings returns the same object; other settings replace it.

    Args:
        name: the server's name in this session; its tools' nodes are ``<name>.<tool>``.
        command: the program and its arguments, e.g. ``["python", "calc_server.py"]`` (a bare ``python`` or
            ``python3`` is this process's interpreter). It runs with a minimal environment (``PATH``, ``HOME``,
            ...) plus ``env``.
        url: a streamable HTTP endpoint, e.g. ``"http://127.0.0.1:8000/mcp"``.
        env: environment variables for the command.
        cwd: the command's working directory.
        headers: HTTP headers for ``url`` (credentials are registered as secrets: never stored or shown).
        timeout_s: how long starting the server and the handshake may take.
        call_timeout_s: how long the server may take over one call without answering or reporting progress
            (default 300 s; each progress report starts the count again, time spent answering its questions does
            not count); None waits forever. A call past it fails with ``MCPError`` code ``mcp_timeout``.
        tool_prefix: prefix of the tools' names as models see them in ``run_tools``.
        session: the session (default: the notebook's).

    Raises:
        UsageError: bad options, or the ``mcp`` SDK is not installed.
        MCPError: the server could not be started or reached (``mcp_connection``).
    """
    require_sdk()
    from aether_nb.mcp import registry

    options: dict[str, Any] = {"timeout_s": timeout_s, "tool_prefix": tool_prefix, "call_timeout_s": call_timeout_s}
    for key, value in (
        ("command", command),
        ("url", url),
        ("env", env),
        ("cwd", cwd),
        ("headers", headers),
    ):
        if value is not None:
            options[key] = value
    return await registry.connect(_session(session), name, options)


def servers(session: Session | None = None) -> dict[str, MCPConnection]:
    """The session's MCP servers by name (configured ones included, made on first access, not connected)."""
    from aether_nb.mcp import registry

    s = _session(session)
    for name in registry.specs(s):
        registry.connection(s, name)
    return dict(registry.connections(s))


async def close_all(session: Session | None = None) -> None:
    """Close every MCP connection of the session (stdio servers stop); later calls connect again."""
    from aether_nb.mcp import registry

    await registry.close_all(_session(session))


def __getattr__(name: str) -> Any:
    if name == "MCPConnection":
        from aether_nb.mcp.client import MCPConnection

        return MCPConnection
    raise AttributeError(f"module 'aether_nb.mcp' has no attribute {shown(name)}")
