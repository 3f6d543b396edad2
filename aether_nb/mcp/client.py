"""MCPConnection: the tools of one MCP server as ``ag.Tool``s, over one connection per server per session.

``calc.tools["add"]`` is an :class:`~aether_nb.mcp.tool.MCPTool` (a ``SchemaTool``) named ``calc.add``, with the
server's input schema and description. Inside a run a call is a journaled node, so a resumed run replays it and
never calls the server again; outside a run it runs now.

The connection is made when something needs the server, never earlier:

* the tool listing is kept in the session's store (keyed by the server's name, command or URL, without secret
  values), so a process that already listed a server, or a store that did, knows its tools without starting it;
* the server is started (or its URL reached) by the first call that actually executes, or by ``connect()`` /
  ``refresh()`` when the listing is unknown. A resumed run whose MCP calls are all journaled never starts it.

A server that went away while idle is started again by the next call; one that dies during a call fails that call
(``MCPError`` code ``mcp_connection``, on its node) and the next call starts it again.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from aether_nb.errors import AetherError, MCPError, UsageError, shown
from aether_nb.mcp.backchannel import BackChannel, InFlight
from aether_nb.mcp.content import as_json, outputs_of, prompt_of
from aether_nb.mcp.drive import drive
from aether_nb.mcp.link import Link, describe_exception, detached, plain_cause, refused, transport_failure
from aether_nb.mcp.spec import ServerSpec
from aether_nb.mcp.tool import MCPTool, UnknownTool, identifier
from aether_nb.runtime.dormancy import external_call

if TYPE_CHECKING:
    from aether_nb.runtime.session import Session

KV_SCOPE = "aether_nb.mcp"
"""The store's key-value scope holding tool listings (``tools:<server>:<fingerprint>``)."""

_MAX_PAGES = 100
_QUIET = "nothing during the request"  # (a stdio server's stderr since the request was sent)
_END_S = 5.0  # how long a failed HTTP request waits for its connection's end, to learn whether it was refused
SESSION_GONE = "mcp_session_gone"
"""MCPError code: an HTTP server no longer knows the session (it restarted); the request did not run."""


class MCPConnection:
    """One MCP server, as ``ag.mcp.connect(...)`` and ``context.mcp(name)`` return it.

    Attributes:
        spec: how the server is reached (command or URL, timeouts, tool prefix).
        server_info: the server's name and version, as it gave them when last listed (or None).
        instructions: what the server says about using it, when it says something.
    """

    def __init__(self, spec: ServerSpec, session: Session) -> None:
        self.spec = spec
        self._session = weakref.ref(session)
        self._link: Link | None = None
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()
        self._listing: list[dict[str, Any]] | None = None
        self._listed_here = False  # (the listing came from the server in this process, not from the store)
        self._tools: dict[str, MCPTool] = {}
        self._tools_dict = ToolsDict(self)
        self._unlisted: dict[str, MCPTool] = {}
        self.server_info: dict[str, Any] | None = None
        self.instructions: str | None = None
        self._back = BackChannel(spec.name)
        self._relisting: asyncio.Task[None] | None = None
        self._failure: str | None = None
        self._restore_listing()

    # -- what users see ---------------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def connected(self) -> bool:
        """Whether a live connection to the server exists now (it is made lazily; see the module docstring)."""
        return self._link is not None and self._link.usable

    @property
    def failure(self) -> str | None:
        """Why the last attempt to start or reach the server (and list its tools) failed; None once one succeeded.

        ``%aether mcp`` shows it, so a server that could not start is listed as failed, not as "starts on first
        use". Retry with ``await conn.connect()`` (or ``ag.mcp.connect(...)`` again, with fixed settings).
        """
        return self._failure

    @property
    def listed(self) -> bool:
        """Whether the server's tools are known (listed in this process or remembered by the store)."""
        return self._listing is not None

    @property
    def tools(self) -> ToolsDict:
        """``name -> ag.Tool`` for every tool of the server (names as the server gives them)."""
        return self._tools_dict

    def __getattr__(self, name: str) -> MCPTool:
        """``calc.add`` is ``calc.tools["add"]`` (what promoted ``@graphify`` source calls), for tools whose names
        are identifiers and do not clash with the connection's own attributes (others: ``calc.tools["my-tool"]``,
        as promoted source then writes it)."""
        if not name.startswith("_") and "_listing" in self.__dict__ and self.__dict__["_listing"] is None:
            server = self.spec.name
            raise AttributeError(
                f"MCP connection {shown(server)} has no attribute {shown(name)}, and its tools are not known yet "
                f"(this store has never listed them): {server}.tools[{name!r}] calls a tool by name without a "
                f"listing; `await {server}.connect()` lists them (inside a run: `await context.mcp({server!r})"
                f".connect()`), then {server}.{name} works too"
            )
        if name.startswith("_") or self.__dict__.get("_listing") is None or name not in self.__dict__["_tools"]:
            raise AttributeError(
                f"MCP connection {shown(self.spec.name)} has no attribute or tool {shown(name)}; "
                f"a tool whose name is not an identifier is {self.spec.name}.tools[name]"
            )
        tool: MCPTool = self.__dict__["_tools"][name]
        return tool

    def __repr__(self) -> str:
        state = "connected" if self.connected else "not connected"
        tools = sorted(self._tools) if self._listing is not None else "not listed yet"
        return f"<MCP server {self.name!r} ({self.spec.describe()}) {state}; tools: {tools}>"

    async def connect(self) -> MCPConnection:
        """Make sure the tools are known: from the store when it remembers them, else by starting the server.

        Returns the connection itself, so ``calc = await ag.mcp.connect(...)`` reads naturally.
        """
        if self._listing is None:
            await self.refresh()
        return self

    async def refresh(self) -> MCPConnection:
        """Connect now (if not connected) and list the server's tools again."""
        link, listed = await self._live_link()
        if not listed:
            await self._list(link)
        return self

    async def close(self) -> None:
        """Stop the server (stdio) or end the HTTP session. A later call connects again."""
        link, self._link = self._link, None
        relisting, self._relisting = self._relisting, None
        if relisting is not None and not relisting.done():
            relisting.cancel()
        if link is None:
            return
        if link.loop is asyncio.get_running_loop():
            await link.close()
        else:
            link.abandon()  # its loop has ended (a script's earlier asyncio.run), and its server with it

    # -- resources and prompts --------------------------------------------------------------------------------------
    async def resources(self) -> list[dict[str, Any]]:
        """The server's resources: ``[{"uri", "name", "description"?, "mimeType"?, ...}]`` (every page)."""
        found: list[dict[str, Any]] = await self._read("mcp_resources", "resources/list", "resources")
        return found

    async def resource_templates(self) -> list[dict[str, Any]]:
        """The server's resource templates: ``[{"uriTemplate", "name", ...}]`` (read one with a filled-in URI)."""
        found: list[dict[str, Any]] = await self._read(
            "mcp_resource_templates", "resources/templates/list", "resource_templates"
        )
        return found

    async def read_resource(self, uri: str) -> list[dict[str, Any]]:
        """The contents of one resource: ``[{"uri", "mimeType"?, "text"}]`` or ``..."blob"`` (base64) entries."""
        if not isinstance(uri, str) or not uri:
            raise UsageError(f"read_resource() takes a resource URI (a string), got {shown(uri)}")
        contents: list[dict[str, Any]] = await self._read("mcp_read_resource", "resources/read", "contents", uri)
        return contents

    async def prompts(self) -> list[dict[str, Any]]:
        """The server's prompts: ``[{"name", "description"?, "arguments"?: [{"name", "required"?, ...}]}]``."""
        found: list[dict[str, Any]] = await self._read("mcp_prompts", "prompts/list", "prompts")
        return found

    async def get_prompt(self, name: str, arguments: Mapping[str, str] | None = None) -> dict[str, Any]:
        """One prompt filled in: ``{"description", "messages"}``, its messages in the chat format
        ``context.llm().chat(...)`` takes (text content as a string; other content kept as MCP JSON)."""
        if not isinstance(name, str) or not name:
            raise UsageError(f"get_prompt() takes a prompt name (a string), got {shown(name)}")
        args = dict(arguments or {})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in args.items()):
            raise UsageError(f"MCP prompt arguments are strings by name, got {shown(args)}")
        result: dict[str, Any] = await self._read("mcp_get_prompt", "prompts/get", "", name, args)
        return result

    async def _read(self, step: str, method: str, key: str, *args: Any) -> Any:
        """One read request; inside a run a journaled step, so a resumed run neither asks again nor starts the
        server for it."""
        from aether_nb.runtime.context import current_context

        async def fetch(*a: Any) -> Any:
            link, _ = await self._live_link()
            return await self._request(link, method, self._fetch(link, method, key, *a), self.spec.call_timeout_s)

        ctx = current_context()
        return await (ctx.step(step, fetch, *args) if ctx is not None else fetch(*args))

    async def _fetch(self, link: Link, method: str, key: str, *args: Any) -> Any:
        client = link.client
        if method == "resources/read":
            return as_json((await client.read_resource(args[0])).contents)
        if method == "prompts/get":
            return prompt_of(await client.get_prompt(args[0], args[1]))
        lister = {
            "resources/list": client.list_resources,
            "resources/templates/list": client.list_resource_templates,
            "prompts/list": client.list_prompts,
        }[method]
        items: list[Any] = []
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            page = await lister(cursor=cursor)
            items.extend(getattr(page, key))
            cursor = page.next_cursor
            if cursor is None:
                break
        return as_json(items)

    # -- listing ----------------------------------------------------------------------------------------------------
    def _cache_key(self) -> str:
        return f"tools:{self.name}:{self.spec.fingerprint}"

    def _restore_listing(self) -> None:
        session = self._session()
        if session is None:
            return
        found = session.store.kv_get(KV_SCOPE, self._cache_key())
        if found is None:
            return
        value = found[0]
        if isinstance(value, dict) and isinstance(value.get("tools"), list):
            self.server_info = value.get("server") if isinstance(value.get("server"), dict) else None
            self.instructions = value.get("instructions") if isinstance(value.get("instructions"), str) else None
            self._set_listing([t for t in value["tools"] if isinstance(t, dict) and isinstance(t.get("name"), str)])

    async def _list(self, link: Link) -> None:
        tools: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            page = await self._request(
                link, "tools/list", link.client.list_tools(cursor=cursor, cache_mode="refresh"), self.spec.timeout_s
            )
            for t in page.tools:
                tools.append(
                    {
                        "name": t.name,
                        "description": t.description or t.title or "",
                        "input_schema": t.input_schema,
                        "output_schema": t.output_schema,
                    }
                )
            cursor = page.next_cursor
            if cursor is None:
                break
        info = link.client.server_info
        self.server_info = None if info is None else {"name": info.name, "version": info.version}
        self.instructions = link.client.instructions
        self._set_listing(tools)
        self._listed_here = True
        session = self._session()
        if session is not None:
            listing = {"server": self.server_info, "instructions": self.instructions, "tools": tools}
            session.store.kv_set(KV_SCOPE, self._cache_key(), json.loads(json.dumps(listing, default=str)), None)

    def _set_listing(self, tools: list[dict[str, Any]]) -> None:
        if self._listing == tools:
            return
        self._listing = tools
        self._tools = {t["name"]: self._make_tool(t["name"], t) for t in tools}
        dict.clear(self._tools_dict)
        dict.update(self._tools_dict, self._tools)

    def _make_tool(self, tool_name: str, info: Mapping[str, Any] | None) -> MCPTool:
        """The tool for one of the server's tools (``info`` None: not listed yet, any arguments)."""

        async def call(arguments: dict[str, Any]) -> dict[str, Any]:
            return await self._call(tool_name, arguments)

        async def listed() -> MCPTool | None:
            if self._listing is not None and not self._listed_here and tool_name not in self._tools:
                await self.refresh()  # (a tool the server gained since the store's listing: list it again)
            else:
                await self.connect()
            return self._tools.get(tool_name)

        return MCPTool(
            self.name,
            tool_name,
            info,
            call,
            tool_prefix=self.spec.tool_prefix,
            as_attribute=self._attribute_free(tool_name),
            lister=listed if info is None else None,
        )

    def _attribute_free(self, tool_name: str) -> bool:
        """Whether ``conn.<tool_name>`` reaches the tool: an identifier that is not private and none of this
        object's own attributes (a tool named ``close`` is ``conn.tools["close"]``; ``conn.close`` closes)."""
        return (
            identifier(tool_name)
            and not tool_name.startswith("_")
            and not hasattr(type(self), tool_name)
            and tool_name not in self.__dict__
        )

    def _tool(self, tool_name: str) -> MCPTool:
        if self._listing is None:
            tool = self._unlisted.get(tool_name)
            if tool is None:
                tool = self._unlisted[tool_name] = self._make_tool(tool_name, None)
            return tool
        tool = self._tools.get(tool_name)
        if tool is None and not self._listed_here:
            # The store's listing, from an earlier process: the server may have gained the tool since (an upgrade);
            # the call lists the tools again first, and a server without it refuses the call.
            tool = self._unlisted.get(tool_name)
            if tool is None:
                tool = self._unlisted[tool_name] = self._make_tool(tool_name, None)
            return tool
        if tool is None:
            raise UnknownTool(
                f"MCP server {shown(self.name)} has no tool {shown(tool_name)}; its tools: {sorted(self._tools)} "
                f"(`await {self.name}.refresh()` lists them again)"
            )
        return tool

    # -- calls ------------------------------------------------------------------------------------------------------
    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    async def _live_link(self) -> tuple[Link, bool]:
        """The usable connection on this loop, made (and the tools listed) when there is none; and whether it was
        made (and listed) just now."""
        loop = asyncio.get_running_loop()
        link = self._link
        if link is not None and link.loop is loop:
            await link.checked()  # a request went unanswered on it: whether it still works is being checked
        if link is not None and link.usable and link.loop is loop:
            return link, False
        async with self._lock():
            link = self._link
            if link is not None and link.usable and link.loop is loop:
                return link, False
            self._link = None
            if link is not None and link.loop is loop:
                await link.close()  # it ended: let its task finish and its process go
            elif link is not None:
                link.abandon()  # made on a loop that has ended (a script's earlier asyncio.run)
            fresh = Link(self.spec, self._back, self._tools_changed)
            try:
                await fresh.open()
                self._link = fresh
                await self._list(fresh)
            except Exception as exc:  # kept for %aether mcp, then raised as it was
                self._failure = str(exc) if isinstance(exc, MCPError) else f"{type(exc).__name__}: {exc}"
                raise
            self._failure = None
            return fresh, True

    async def _call(self, tool_name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        from aether_nb.runtime.context import current_context

        relisting = self._relisting
        if relisting is not None and not relisting.done() and relisting.get_loop() is asyncio.get_running_loop():
            await asyncio.wait({relisting})  # a changed tool list is listed again before the next call
        ctx = current_context()
        for attempt in (1, 2):
            link, _ = await self._live_link()
            call = InFlight(tool_name, ctx)
            self._back.calls.append(call)
            try:
                # while the server runs it the run stays in memory: an eviction would cancel it, and the resumed
                # run would have to call the tool again
                with external_call(None if ctx is None else ctx.scope):
                    sent = drive(self.spec, link, self._back, call, arguments)
                    result = await self._request(link, f"the call of {tool_name}", sent)
                break
            except MCPError as exc:
                if not (exc.code == SESSION_GONE or link.unsent) or attempt == 2:
                    raise  # (a session lost, a server gone while idle: the call never ran, so it is sent once more)
            finally:
                self._back.calls.remove(call)
        relisting = self._relisting
        if relisting is not None and not relisting.done() and relisting.get_loop() is asyncio.get_running_loop():
            # the server said during the call that its tools changed (e.g. the call added one): the caller's next
            # line may use the new tool, so the call ends when they are listed again
            await asyncio.wait({relisting})
        return outputs_of(result, f"{self.name}.{tool_name}")

    def _tools_changed(self) -> None:
        """``notifications/tools/list_changed``: list the tools again, on the loop the connection lives on."""
        link = self._link
        if link is None or not link.usable:
            return
        task = self._relisting
        if task is not None and not task.done():
            return

        async def relist() -> None:
            try:
                await self._list(link)
            except (MCPError, OSError) as exc:  # the next call or refresh() lists again, and says why if it fails
                self._back.log.warning("listing the tools of MCP server %r again failed: %s", self.name, exc)

        self._relisting = link.loop.create_task(relist(), name=f"aether_nb mcp relist {self.name}")

    async def _request(self, link: Link, what: str, request: Any, timeout_s: float | None = None) -> Any:
        """Await one SDK request, turning its failures into :class:`MCPError` (see its codes).

        ``timeout_s`` bounds requests that have no timeout of their own (listings, reads): a server that never
        answers them fails them with ``mcp_timeout`` instead of hanging the cell or the run.

        The error is raised outside the ``except`` block, from :func:`detached` of the SDK's: no exception group
        (anyio task groups wrap what failed in one) is left anywhere in its chain, as its cause or as its context,
        where it kept ipykernel from replying to the cell (see :func:`~aether_nb.mcp.link.plain_cause`).
        """
        from mcp import MCPError as SDKError
        from mcp_types import CONNECTION_CLOSED

        cause: BaseException | None
        alone = False  # (the only request in flight on the connection when it failed)
        link.pending += 1
        mark = link.stderr_mark()  # (its error quotes what the server wrote to stderr since, not an earlier call's)
        try:
            if timeout_s is None:
                return await request
            return await asyncio.wait_for(request, timeout_s)
        except AetherError:
            raise  # already says what went wrong (a timeout, a question that could not be asked)
        except TimeoutError as exc:
            if timeout_s is None:  # (the transport's own, e.g. a write that could not be made in time)
                failure, cause = self._failure_of(link, what, exc, mark), exc
            else:
                failure, cause = self._unanswered(link, what, timeout_s, mark), None
        except Exception as exc:
            failure, cause = self._failure_of(link, what, exc, mark), exc
            alone = link.pending == 1
        finally:
            link.pending -= 1
        if self.spec.url is not None and isinstance(cause, SDKError) and cause.code == CONNECTION_CLOSED and alone:
            # an HTTP server that is gone (stopped while idle) refuses the request's connection: the call never
            # reached it (its effect is not "unknown"), and ``_call`` sends it once more, on a new connection
            ended = await link.wait_ended(_END_S)
            if ended is not None and refused(ended):
                link.unsent = True
                failure = MCPError(
                    f"MCP server {self.name!r} ({self.spec.describe()}) could not be reached for {what}: "
                    f"{describe_exception(ended)}; it did not get the request. The next one connects again.",
                    code="mcp_connection",
                )
                cause = plain_cause(ended)
        raise failure from (None if cause is None else detached(cause))

    def _unanswered(self, link: Link, what: str, timeout_s: float, mark: int) -> MCPError:
        link.suspect()  # its answer may be lost in stray output: the next request waits for the check
        stray = f". It sent something that is no MCP message: {link.last_garbage}" if link.garbage else ""
        return MCPError(
            f"MCP server {self.name!r} ({self.spec.describe()}) did not answer {what} within {timeout_s:g} s; check "
            f"the server (its stderr: {link.stderr_tail(mark).strip() or _QUIET}), or raise the timeout{stray}",
            code="mcp_timeout",
        )

    def _stderr(self, link: Link, mark: int) -> str:
        """What a stdio server wrote to its stderr since ``mark`` (when the failed request was sent), quoted."""
        tail = link.stderr_tail(mark)
        return tail if tail or self.spec.command is None else " It wrote nothing to its stderr during the request."

    def _failure_of(self, link: Link, what: str, exc: Exception, mark: int) -> MCPError:
        """The :class:`MCPError` for a request that failed with ``exc`` (see :meth:`_request`); ``mark``: the
        server's stderr when it was sent (only what it wrote since is quoted)."""
        from mcp import MCPError as SDKError
        from mcp_types import CONNECTION_CLOSED, INVALID_REQUEST, REQUEST_TIMEOUT

        where = f"MCP server {self.name!r} ({self.spec.describe()})"
        if isinstance(exc, SDKError):
            if exc.code == CONNECTION_CLOSED:
                link.mark_ended("connection closed")
                again = "starts the server again" if self.spec.command is not None else "connects again"
                if link.closed_here:
                    return MCPError(
                        f"the connection to {where} was closed during {what} (close() or ag.mcp.close_all()). "
                        f"Whether the call took effect is unknown; the next call {again}.",
                        code="mcp_connection",
                    )
                return MCPError(
                    f"{where} went away during {what}: the connection closed (the server stopped or crashed)."
                    f"{self._stderr(link, mark)} Whether the call took effect is unknown; the next call {again}.",
                    code="mcp_connection",
                )
            if exc.code == REQUEST_TIMEOUT:
                return MCPError(
                    f"{where} did not answer {what} within call_timeout_s={self.spec.call_timeout_s:g} s",
                    code="mcp_timeout",
                )
            if exc.code == INVALID_REQUEST and self.spec.url is not None and "session" in str(exc).lower():
                # an HTTP server that restarted (or expired the session) rejects the request before running it:
                # the spec says to start a new session, which the next request does (``_call`` retries once)
                link.mark_ended("the server no longer knows this session")
                return MCPError(
                    f"{where} no longer knows this connection's session (it restarted, or expired it): {exc}. The "
                    "request did not run; the next one connects again.",
                    code=SESSION_GONE,
                )
            return MCPError(f"{where} refused {what}: {exc} (JSON-RPC error {exc.code})", code="mcp_protocol")
        if transport_failure(exc):  # (a pipe, socket or stream error, alone or in an anyio task group's group)
            link.mark_ended(describe_exception(exc))
            return MCPError(
                f"{where} could not be reached for {what}: {describe_exception(exc)}.{self._stderr(link, mark)} "
                "The next call tries again.",
                code="mcp_connection",
            )
        # e.g. structured content that does not match the tool's own output schema (the SDK checks it)
        return MCPError(f"{where} answered {what} wrongly: {describe_exception(exc)}", code="mcp_protocol")


class ToolsDict(dict[str, MCPTool]):
    """``connection.tools``: a dict of the server's tools by the server's names, kept up to date by each listing.

    Before the tools are known (a server this store never listed), ``tools["add"]`` still gives a tool that takes
    keyword arguments and is checked by the server, while iterating, ``len`` and ``in`` raise a
    :class:`UsageError` saying to ``await conn.connect()`` (an empty dict would silently offer a model no tools).
    """

    def __init__(self, connection: MCPConnection) -> None:
        super().__init__()
        self._conn = connection

    def _require_listing(self) -> None:
        conn = self._conn
        if not conn.listed:
            raise UsageError(
                f"the tools of MCP server {shown(conn.name)} are not known yet (this store has never listed them): "
                f"`await {conn.name}.connect()` lists them (inside a run: `await context.mcp({shown(conn.name)})"
                ".connect()`); tools[name] works without a listing",
                code="mcp_not_listed",
            )

    def __missing__(self, name: str) -> MCPTool:
        return self._conn._tool(name)

    def get(self, name: str, default: Any = None) -> Any:
        if not self._conn.listed:
            return self[name]
        return super().get(name, default)

    def __iter__(self) -> Iterator[str]:
        self._require_listing()
        return super().__iter__()

    def __len__(self) -> int:
        self._require_listing()
        return super().__len__()

    def __contains__(self, name: object) -> bool:
        self._require_listing()
        return super().__contains__(name)

    def keys(self) -> Any:
        self._require_listing()
        return super().keys()

    def values(self) -> Any:
        self._require_listing()
        return super().values()

    def items(self) -> Any:
        self._require_listing()
        return super().items()

    def __repr__(self) -> str:
        if not self._conn.listed:
            return f"<tools of MCP server {self._conn.name!r}: not listed yet>"
        return super().__repr__()
