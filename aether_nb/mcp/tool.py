"""One tool of an MCP server as an ``ag.Tool``, and the error for a name the server does not have.

:class:`MCPTool` is a :class:`~aether_nb.runtime.schema_tool.SchemaTool` that also knows its server and its name
there. Its node name (``calc.add``) replaces the characters a node name cannot hold, so it cannot be turned back
into the server's name; promoted ``@graphify`` source needs that name to call the tool again
(``odd.tools["my-tool.v2"](...)``), so the tool keeps it and says how source text reaches it
(:attr:`MCPTool.source_name`).
"""

from __future__ import annotations

import keyword
import unicodedata
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aether_nb.errors import UsageError
from aether_nb.runtime.absent_server import server_tool_name
from aether_nb.runtime.schema_tool import SchemaTool, openai_name

UNKNOWN_TOOL = "mcp_unknown_tool"
"""UsageError code: ``tools[name]`` of a listed server that has no tool of that name."""


class UnknownTool(UsageError, KeyError):
    """``connection.tools["typo"]``: the server has no such tool (the message lists the ones it has).

    A :class:`~aether_nb.errors.UsageError` like every other misuse of the MCP API, and a ``KeyError`` too, as
    ``tools`` is a dict: ``except KeyError`` and ``tools.get(name)`` keep working.
    """

    default_code = UNKNOWN_TOOL

    def __str__(self) -> str:
        return self.message  # (KeyError's own __str__ shows the repr: quotes and escaped newlines)


def identifier(name: str) -> bool:
    """Whether ``name`` can be written as a Python attribute or variable name (``calc.add``, ``calc.größe``):
    an identifier, not a keyword, and one Python reads as written (it NFKC-normalises identifiers in source, so
    ``calc.ﬁnd``, with the ligature, would look up ``find``)."""
    return name.isidentifier() and not keyword.iskeyword(name) and unicodedata.normalize("NFKC", name) == name


class MCPTool(SchemaTool):
    """A tool of an MCP server (``calc.tools["add"]``), called ``<server>.<tool>`` in runs.

    Args:
        server: the server's name in this session.
        server_tool: the tool's name on the server.
        info: the server's listing of the tool (``input_schema``, ``output_schema``, ``description``), or None
            when not listed yet (any arguments, checked by the server).
        call: sends one call: ``await call(arguments)`` returns the outputs.
        tool_prefix: put in front of the name models see.
        as_attribute: whether ``<server>.<server_tool>`` reaches it (an identifier that is none of the
            connection's own attributes: ``close``, ``tools``, ``spec``... are the connection's).
    """

    def __init__(
        self,
        server: str,
        server_tool: str,
        info: Mapping[str, Any] | None,
        call: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]],
        *,
        tool_prefix: str = "",
        as_attribute: bool = False,
    ) -> None:
        self.server = server
        self.server_tool = server_tool
        self.as_attribute = as_attribute
        info = info or {}
        super().__init__(
            server_tool_name(server, server_tool),
            info.get("input_schema") or {"type": "object"},
            call,
            description=str(info.get("description") or ""),
            source=f"mcp:{server}",
            output_schema=info.get("output_schema"),
            llm_name=openai_name(tool_prefix + server_tool),
        )

    @property
    def source_name(self) -> str:
        """How promoted ``@graphify`` source calls this tool: ``calc.add``, or ``calc.tools["my-tool.v2"]`` for a
        name that is no identifier, a keyword or one of the connection's attributes (``close``); a server whose
        name is no identifier (``my-server``) is ``ag.mcp.servers()["my-server"]``."""
        conn = self.server if identifier(self.server) else f"ag.mcp.servers()[{self.server!r}]"
        if self.as_attribute and identifier(self.server_tool):
            return f"{conn}.{self.server_tool}"
        return f"{conn}.tools[{self.server_tool!r}]"
