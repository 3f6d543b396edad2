"""One tool of an MCP server as an ``ag.Tool``, and the error for a name the server does not have.

:class:`MCPTool` is a :class:`~aether_nb.runtime.schema_tool.SchemaTool` that also knows its server and its name
there. Its node name (``calc.add``) replaces the characters a node name cannot hold, so it cannot be turned back
into the server's name; promoted ``@graphify`` source needs that name to call the tool again
(``odd.tools["my-tool.v2"](...)``), so the tool keeps it and says how source text reaches it
(:attr:`MCPTool.source_name`).

A tool taken before the server's tools are known (``tools["add"]`` on a store that never listed the server) has no
schema yet, so its version is not the listed tool's. Called inside a run it lists the tools before its node starts
(:class:`ListedFirst`), so the node records the version of the tool actually called, the one a resumed run (which
knows the listing from the store) compares it with.
"""

from __future__ import annotations

import keyword
import unicodedata
from collections.abc import Awaitable, Callable, Generator, Mapping
from typing import Any

from aether_nb.errors import UsageError
from aether_nb.runtime.absent_server import server_tool_name
from aether_nb.runtime.calls import StepCall
from aether_nb.runtime.execution import Scope, current_scope
from aether_nb.runtime.schema_tool import SchemaTool, openai_name
from aether_nb.runtime.tools import build_hook, capped

Lister = Callable[[], Awaitable["MCPTool | None"]]
"""Lists a server's tools (starting it when they are not known) and returns the listed tool of one name, or None."""

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
        lister: for a tool made before the listing (``info`` None): lists the tools and returns the listed one
            (see :class:`ListedFirst`).
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
        lister: Lister | None = None,
    ) -> None:
        self.server = server
        self._lister = lister
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

    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        scope = current_scope()
        if self._lister is None or scope is None or build_hook.get() is not None:
            return super().__call__(*args, **kwargs)
        return ListedFirst(scope, self, args, kwargs, self._lister)

    @property
    def source_name(self) -> str:
        """How promoted ``@graphify`` source calls this tool: ``calc.add``, or ``calc.tools["my-tool.v2"]`` for a
        name that is no identifier, a keyword or one of the connection's attributes (``close``); a server whose
        name is no identifier (``my-server``) is ``ag.mcp.servers()["my-server"]``."""
        conn = self.server if identifier(self.server) else f"ag.mcp.servers()[{self.server!r}]"
        if self.as_attribute and identifier(self.server_tool):
            return f"{conn}.{self.server_tool}"
        return f"{conn}.tools[{self.server_tool!r}]"


class ListedFirst(StepCall):
    """The call, inside a run, of a tool made before its server's tools were known.

    A call that executes starts the server anyway; it lists the tools first, before its node starts, and the node
    records the listed tool's meta (its version: a hash of the server's schema). Otherwise it would record the
    version of a tool without a schema, and the run resumed in a new process, whose store knows the listing, would
    call the same tool a changed one (``tool_changed``). A call that replays from the journal lists nothing (it
    must not start the server). When the listing fails, the node fails with that error, as the call would have.
    """

    __slots__ = ("_failure", "_lister", "_node_meta", "_step_scope")

    def __init__(self, scope: Scope, tool: MCPTool, args: tuple[Any, ...], kwargs: dict[str, Any], lister: Lister):
        inputs, execute = tool.prepare(args, kwargs)
        self._failure: BaseException | None = None
        self._lister = lister
        self._step_scope = scope
        self._node_meta: dict[str, Any] = tool.node_meta()

        async def run(child: Scope) -> dict[str, Any]:
            failure, self._failure = self._failure, None  # (a retry connects again)
            if failure is not None:
                raise failure
            return await execute(child)

        super().__init__(scope, tool.name, "tool", inputs, capped(scope, run), meta=self._node_meta)

    def __await__(self) -> Generator[Any, None, Any]:
        if not self._step_scope.replays(self.key):
            yield from self._list().__await__()
        return (yield from super().__await__())

    async def _list(self) -> None:
        try:
            listed = await self._lister()
        except Exception as exc:  # raised by the node (its error, on its DAG node), not here
            self._failure = exc
            return
        if listed is not None:  # (a server without the tool refuses the call, which says so)
            self._node_meta.update(listed.node_meta())
