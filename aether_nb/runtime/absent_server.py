"""``context.mcp(name)`` for a server this session has not configured (yet): calls that replay need no server.

After a kernel restart, a waiting run can be resumed before the cell with ``ag.configure(mcp=...)`` runs again.
Its body replays from the journal, and the MCP calls it already made return their recorded results without the
server: only a call that must really execute needs it. So ``context.mcp(name)`` hands back an
:class:`AbsentServer`: ``.tools["add"](a=1)`` (or ``.add(a=1)``) is a step of the same node name and arguments as
the configured server's tool, replayed when journaled, failing with ``no_mcp_server`` when it would execute.
What needs the server's listing (iterating ``.tools``, ``connect()``, resources, prompts) fails the same way.
"""

from __future__ import annotations

import re
from typing import Any, NoReturn

from aether_nb.errors import UsageError, shown
from aether_nb.runtime.calls import StepCall
from aether_nb.runtime.execution import Scope

_TOOL_NAME = re.compile(r"[^A-Za-z0-9_.-]")


def server_tool_name(server: str, tool: str) -> str:
    """The node name of MCP tool ``tool`` of server ``server`` (``calc.add``): the server's tool name with every
    character a node name cannot hold replaced by ``_``. The configured and the absent server name calls alike,
    so a journaled call is found again either way."""
    return f"{server}.{_TOOL_NAME.sub('_', tool)}"


def no_server(name: Any, run_id: str | None = None, node_id: str | None = None) -> UsageError:
    """The error of a call that needs MCP server ``name`` where this session has none of that name."""
    return UsageError(
        f"no MCP server named {shown(name)} is configured in this session: configure it with "
        "ag.configure(mcp={...}) or await ag.mcp.connect(...) — after a restart, run that cell again first; a run "
        "that failed here goes on with agent.start(..., run_id=..., resume_mode='failed_nodes'), its completed "
        "calls replayed",
        run_id=run_id,
        node_id=node_id,
        code="no_mcp_server",
    )


class AbsentTool:
    """One tool of an :class:`AbsentServer`: a call is a journaled step that can only replay."""

    def __init__(self, server: AbsentServer, tool: str) -> None:
        self.server = server
        self.name = server_tool_name(server.name, tool)

    def __repr__(self) -> str:
        return f"<tool {self.name} of MCP server {self.server.name!r}, not configured in this session>"

    def __call__(self, /, *args: Any, **kwargs: Any) -> StepCall:
        scope = self.server.scope
        if args:  # (binding them to names needs the server's schema)
            raise self.server.missing()

        async def execute(child: Scope) -> NoReturn:
            raise self.server.missing()

        return StepCall(scope, self.name, "tool", dict(kwargs), execute, meta={"source": f"mcp:{self.server.name}"})


class AbsentTools:
    """``AbsentServer.tools``: a tool by name; what needs the listing (``len``, iterating, ``in``) fails."""

    def __init__(self, server: AbsentServer) -> None:
        self._server = server

    def __getitem__(self, tool: str) -> AbsentTool:
        if not isinstance(tool, str) or not tool:
            raise KeyError(tool)
        return AbsentTool(self._server, tool)

    def get(self, tool: str, default: Any = None) -> AbsentTool:
        return self[tool]

    def __iter__(self) -> NoReturn:
        raise self._server.missing()

    def __len__(self) -> int:
        raise self._server.missing()

    def __contains__(self, tool: object) -> bool:
        raise self._server.missing()

    def keys(self) -> NoReturn:
        raise self._server.missing()

    values = items = keys

    def __repr__(self) -> str:
        return f"<tools of MCP server {self._server.name!r}: not configured in this session>"


class AbsentServer:
    """What ``context.mcp(name)`` gives for a server the session does not know (see the module docstring)."""

    def __init__(self, name: str, scope: Scope, reason: UsageError | None = None) -> None:
        self.name = name
        self.scope = scope
        self.tools = AbsentTools(self)
        self._reason = reason

    def missing(self) -> UsageError:
        """The error of what needs the server: the registry's (it names the servers it knows), else ours."""
        run_id, node_id = self.scope.run.id, self.scope.node_id
        if self._reason is not None:
            return UsageError(str(self._reason), run_id=run_id, node_id=node_id, code="no_mcp_server")
        return no_server(self.name, run_id, node_id)

    @property
    def connected(self) -> bool:
        return False

    @property
    def listed(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in ("connect", "refresh", "resources", "resource_templates", "read_resource", "prompts", "get_prompt"):
            raise self.missing()
        return AbsentTool(self, name)

    def __repr__(self) -> str:
        return f"<MCP server {self.name!r}: not configured in this session>"
