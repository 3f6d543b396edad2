"""The MCP servers of a session: one :class:`MCPConnection` per server name, shared by every run of the session.

Servers come from ``ag.configure(mcp={name: {...}})`` (connected on first use) or ``ag.mcp.connect(name, ...)``.
Both put the ``mcp`` factory on the session, so nodes reach a server as ``context.mcp(name)``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aether_nb.errors import UsageError, shown
from aether_nb.mcp.client import MCPConnection
from aether_nb.mcp.spec import ServerSpec, check_name, make_spec

if TYPE_CHECKING:
    from aether_nb.runtime.context import NodeContext
    from aether_nb.runtime.session import Session

log = logging.getLogger("aether_nb.mcp")
_SPECS = "mcp_specs"
_CONNECTIONS = "mcp_connections"


def specs(session: Session) -> dict[str, ServerSpec]:
    """The servers configured for ``session`` (by name)."""
    found: dict[str, ServerSpec] = session.config.setdefault(_SPECS, {})
    return found


def connections(session: Session) -> dict[str, MCPConnection]:
    """The connection objects ``session`` has made so far (by name); most are connected only while in use."""
    found: dict[str, MCPConnection] = session.config.setdefault(_CONNECTIONS, {})
    return found


def install(session: Session) -> None:
    """Put ``context.mcp(name)`` on ``session``."""

    def factory(ctx: NodeContext, name: str) -> MCPConnection:
        return connection(ctx.session, name)

    session.service_factories["mcp"] = factory


def connection(session: Session, name: str) -> MCPConnection:
    """The session's connection to server ``name`` (made from its configuration, not yet connected)."""
    check_name(name)
    conns = connections(session)
    conn = conns.get(name)
    if conn is not None:
        return conn
    spec = specs(session).get(name)
    if spec is None:
        known = sorted(set(specs(session)) | set(conns)) or "none"
        raise UsageError(
            f"no MCP server named {shown(name)} in this session (known: {known}); configure it with "
            f"ag.configure(mcp={{{shown(name)}: {{'command': [...]}}}}) or connect it with "
            f"await ag.mcp.connect({shown(name)}, command=[...])",
            code="no_mcp_server",
        )
    conn = conns[name] = MCPConnection(spec, session)
    return conn


def configure(session: Session, servers: Mapping[str, Any]) -> None:
    """``ag.configure(mcp={...})``: add or replace servers (a value of ``None`` removes one).

    A server whose settings change gets a new connection; the old one is closed (on the running loop, if any).
    """
    if not isinstance(servers, Mapping):
        raise UsageError(
            "mcp= takes a dict of servers, e.g. {'calc': {'command': ['python', 'calc_server.py']}}, "
            f"got {type(servers).__name__}",
            code="bad_mcp_server",
        )
    new = {name: (None if options is None else make_spec(name, options)) for name, options in servers.items()}
    configured, conns = specs(session), connections(session)
    for name, spec in new.items():
        if spec is None:
            configured.pop(name, None)
        else:
            configured[name] = spec
        old = conns.get(name)
        if old is not None and (spec is None or old.spec != spec):
            del conns[name]
            _close_later(old)
    install(session)


async def connect(session: Session, name: str, options: Mapping[str, Any]) -> MCPConnection:
    """``ag.mcp.connect``: the session's connection to this server (replacing one with other settings)."""
    spec = make_spec(name, options)
    conns = connections(session)
    old = conns.get(name)
    if old is not None and old.spec == spec:
        conn = old
    else:
        if old is not None:
            del conns[name]
            await old.close()
        conn = conns[name] = MCPConnection(spec, session)
    install(session)
    return await conn.connect()


async def close_all(session: Session) -> None:
    """Close every connection of ``session`` (their servers stop; later calls connect again)."""
    for conn in list(connections(session).values()):
        await conn.close()


def _close_later(conn: MCPConnection) -> None:
    if not conn.connected:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        # No loop to close it on now: its process exits when this one does (its stdin closes).
        return
    task = loop.create_task(conn.close(), name=f"aether_nb mcp close {conn.name}")
    task.add_done_callback(_report)


def _report(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("closing a replaced MCP connection failed: %r", task.exception())
