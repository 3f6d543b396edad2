"""One live connection to an MCP server, made with the official ``mcp`` SDK and kept by a task of its own.

The SDK's ``Client`` is an async context manager built on anyio task groups, whose scopes must be left by the task
that entered them. A notebook opens a connection in one cell, calls its tools from run tasks and closes it in
another cell, so a :class:`Link` enters the ``Client`` in a dedicated *owner* task that holds it open until
:meth:`Link.close`. Requests are sent from any task of the same loop (the SDK multiplexes them).

The link also watches its read stream: when the server goes away (its process died, the HTTP endpoint closed)
the link knows before the next request, so an idle server that died is started again instead of failing a call.
A stdio server whose stdout carries something that is no MCP message (a stray ``print``, a log line) may lose an
answer in it: after a request went unanswered past its timeout the link pings the server (:meth:`Link.suspect`),
and one that answers no ping is known broken, so the next call starts it again instead of failing in turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from typing import Any

from aether_nb.errors import MCPError, shown
from aether_nb.mcp.backchannel import BackChannel
from aether_nb.mcp.spec import ServerSpec

_STDERR_TAIL = 2000  # characters of the server's stderr quoted in an error
_PINGS = 3  # pings lost in stray output before the output counts as broken
CHECK_S = 10.0
"""At most how long (and never longer than ``timeout_s``) the pings after an unanswered request may go unanswered
before the connection counts as broken (see :meth:`Link.suspect`)."""
PROTOCOL_MODE = "legacy"
"""How the SDK client negotiates: the ``initialize`` handshake (protocol up to 2025-11-25), which every server
speaks, 2026-era ones included. On a 2026-07-28 connection a server may not send requests of its own during a
call, so the many servers written with ``ctx.elicit(...)``, ``ctx.session.create_message(...)`` or ``ctx.log``
would fail or go quiet; on a handshake-era connection they reach the run (see :mod:`aether_nb.mcp.backchannel`)."""


class _ForgottenSession(logging.Filter):
    """Drops the SDK's "Session termination failed: 404" warning: closing a session an HTTP server no longer knows
    (it restarted) is what replacing a lost session does, and the run already reported the loss
    (``mcp_session_gone``); printed on the notebook's stderr it only looked like a new failure. So is its
    "Session termination failed: All connection attempts failed" for a server that is gone: the call that found it
    gone says so."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in (
            "Session termination failed: 404",
            "Session termination failed: All connection attempts failed",
        )


class _LostServer(logging.Filter):
    """Drops the SDK's "Error in post_writer" traceback (some 80 lines on the notebook's stderr) when what failed
    is the connection to an HTTP server that went away (e.g. the answer to its open question could not be posted).
    Its writer's end closes the read stream, so the link sees the end (:class:`_Watched`), the calls in flight fail
    with ``mcp_connection`` and the next call connects again: the traceback told nothing more. Any other error of
    the writer is still logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage() != "Error in post_writer" or not record.exc_info:
            return True
        exc = record.exc_info[1]
        return exc is None or not transport_failure(exc)


class _NotMCP(logging.Filter):
    """Drops the SDK's tracebacks for output of the server that is no MCP message ("Failed to parse JSONRPC message
    from server", some 10 lines per stray line of a stdio server's stdout; "Error parsing JSON response" or "... SSE
    message" of an HTTP one): the link warns in one line on the server's logger instead (:meth:`Link.on_garbage`),
    and an HTTP call so answered fails with the parse error in its message."""

    _DROPPED = (
        "Failed to parse JSONRPC message from server",
        "Error parsing JSON response",
        "Error parsing SSE message",
    )

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in self._DROPPED


for _name, _kinds in (
    ("mcp.client.streamable_http", (_ForgottenSession, _LostServer, _NotMCP)),
    ("mcp.client.stdio", (_NotMCP,)),
):
    _sdk_log = logging.getLogger(_name)
    for _kind in _kinds:
        if not any(isinstance(f, _kind) for f in _sdk_log.filters):
            _sdk_log.addFilter(_kind())


def refused(exc: BaseException | None) -> bool:
    """Whether ``exc`` (what ended an HTTP connection, see :meth:`Link.wait_ended`) is only connections the server
    refused (``httpx2.ConnectError``, alone or in a group): nothing sent then reached it."""
    import httpx2

    if isinstance(exc, BaseExceptionGroup):
        return all(refused(e) for e in exc.exceptions)
    return isinstance(exc, httpx2.ConnectError)


def transport_failure(exc: BaseException) -> bool:
    """Whether ``exc`` means the connection itself failed (anyio stream errors, HTTP transport errors, a pipe or
    socket error, alone or in an exception group)."""
    import anyio
    import httpx2

    if isinstance(exc, BaseExceptionGroup):
        return all(transport_failure(e) for e in exc.exceptions)
    closed = (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, httpx2.TransportError)
    return isinstance(exc, (*closed, OSError, EOFError))


class Link:
    """A started ``mcp.Client`` for ``spec`` on the running loop (see the module docstring)."""

    def __init__(
        self, spec: ServerSpec, back: BackChannel | None = None, on_tools_changed: Callable[[], None] | None = None
    ) -> None:
        self.spec = spec
        self.back = back or BackChannel(spec.name)
        self._on_tools_changed = on_tools_changed
        self.loop = asyncio.get_running_loop()
        self.client: Any = None
        self.ended: str | None = None  # why the connection is no longer usable (None while it is)
        self.end_error: BaseException | None = None  # what ended the connection's task, when something failed
        self.pending = 0  # requests in flight on it (see MCPConnection._request)
        self.unsent = False  # it ended refusing a request, which never reached the server
        self.garbage = 0  # how many of the server's messages were no MCP message (stray output on its stdout)
        self.last_garbage = ""  # the last of them, shortened, for messages
        self._garbage_seen = asyncio.Event()
        self._checking: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # the server's stderr, quoted when it fails; closed in close() (it outlives any one block of code)
        self._errlog = (
            tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115
            if spec.command is not None
            else None
        )

    @property
    def closed_here(self) -> bool:
        """Whether this process closed it (``close()``, ``close_all()``, a replaced connection)."""
        return self._closing.is_set()

    @property
    def usable(self) -> bool:
        """Connected, and neither closed nor seen to end."""
        return self.client is not None and self.ended is None and not self._closing.is_set()

    async def open(self) -> None:
        """Start the server (or reach the URL) and negotiate the protocol, within ``spec.timeout_s``.

        Raises:
            MCPError: ``mcp_connection``, saying what failed and what the server printed to stderr.
            UsageError: the ``mcp`` SDK is not installed (the message says how to install it).
        """
        from aether_nb.mcp import require_sdk

        require_sdk()
        ready: asyncio.Future[Any] = self.loop.create_future()
        self._task = self.loop.create_task(self._own(ready), name=f"aether_nb mcp {self.spec.name}")
        # whatever the handshake ends with is read here or below, never left as an unretrieved exception
        ready.add_done_callback(lambda f: f.cancelled() or f.exception())
        try:
            await asyncio.wait_for(asyncio.shield(ready), self.spec.timeout_s)
        except TimeoutError:
            tail = self.stderr_tail()
            # nothing to close gracefully (no session was made): stop it now, not after close()'s 10 s grace
            await self.close(timeout_s=0)
            stray = (
                f" It sent something that is no MCP message on its stdout ({self.last_garbage}): an MCP server over "
                "stdio may write only protocol messages there (its logs go to stderr), and text without its newline "
                "spoils the answer after it."
                if self.garbage
                else ""
            )
            raise MCPError(
                f"MCP server {shown(self.spec.name)} ({self.spec.describe()}) did not answer the protocol handshake "
                f"within {self.spec.timeout_s:g} s.{stray}{tail} Check that the command starts an MCP server "
                "speaking over stdio (or that the URL is its streamable HTTP endpoint), or raise timeout_s.",
                code="mcp_connection",
            ) from None
        except asyncio.CancelledError:
            await self.close()
            raise
        except Exception as exc:
            failed = exc
        else:
            return
        tail = self.stderr_tail()
        await self.close()
        # (raised outside the except block: an exception group as its __context__, suppressed or not, left the cell
        # without a reply, see plain_cause)
        raise MCPError(
            f"could not connect to MCP server {shown(self.spec.name)} ({self.spec.describe()}): "
            f"{describe_exception(failed)}.{tail}",
            code="mcp_connection",
        ) from plain_cause(failed)

    async def _own(self, ready: asyncio.Future[Any]) -> None:
        from mcp import Client
        from mcp_types import Implementation

        from aether_nb import __version__

        try:
            async with self._transport() as transport:
                back = self.back
                client = Client(
                    transport,
                    client_info=Implementation(name="aether_nb", version=__version__),
                    mode=PROTOCOL_MODE,
                    elicitation_callback=back.elicit,
                    sampling_callback=back.sample,
                    logging_callback=back.logged,
                    message_handler=self._on_message,
                    cache=None,  # listings are kept by the connection (and the store); notifications arrive unwrapped
                )
                async with client:
                    self.client = client
                    if not ready.done():
                        ready.set_result(client)
                    await self._closing.wait()
        except asyncio.CancelledError:
            self.ended = self.ended or "cancelled"
            if not ready.done():
                ready.cancel()
            raise
        except BaseException as exc:  # handed to the caller (open) or kept as the reason it ended
            self.ended = self.ended or describe_exception(exc)
            self.end_error = exc
            if not ready.done():
                ready.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            self.ended = self.ended or "closed"
            if not ready.done():
                ready.set_exception(ConnectionError("the connection ended before it was ready"))

    @contextlib.asynccontextmanager
    async def _transport(self) -> AsyncIterator[Any]:
        """The SDK transport for the spec, with its read stream watched for the server's end."""
        spec = self.spec
        if spec.command is not None:
            from mcp import StdioServerParameters, stdio_client

            params = StdioServerParameters(
                command=program(spec.command[0]),
                args=list(spec.command[1:]),
                env=dict(spec.env) or None,
                cwd=spec.cwd,
                # bytes that are no UTF-8 on its stdout spoil that one line (an unreadable message, see on_garbage);
                # with the SDK's "strict" they stopped its reader for good: every later answer was lost unseen
                encoding_error_handler="replace",
            )
            inner: Any = stdio_client(params, errlog=self._errlog)  # type: ignore[arg-type]
            async with inner as (read, write):
                yield _Transport(_Watched(read, self._on_end, self.on_garbage), write)
        else:
            import httpx2
            from mcp.client.streamable_http import streamable_http_client

            timeout = httpx2.Timeout(30.0, read=300.0)
            async with httpx2.AsyncClient(headers=dict(spec.headers), timeout=timeout) as http:
                assert spec.url is not None
                async with streamable_http_client(spec.url, http_client=http) as (read, write):
                    yield _Transport(_Watched(read, self._on_end, self.on_garbage), write)

    async def _on_message(self, message: Any) -> None:
        """Server notifications besides log lines: a changed tool list is listed again (by the connection)."""
        from mcp_types import ToolListChangedNotification

        if isinstance(message, ToolListChangedNotification) and self._on_tools_changed is not None:
            self._on_tools_changed()

    def _on_end(self) -> None:
        self.ended = self.ended or "the server closed the connection"

    async def wait_ended(self, timeout_s: float) -> BaseException | None:
        """Wait (at most ``timeout_s``) for the connection's task to end after its transport failed, and return
        what ended it (:attr:`end_error`), e.g. the HTTP transport's ``ConnectError`` for a server that is gone."""
        task = self._task
        if task is not None and not task.done() and asyncio.current_task() is not task:
            await asyncio.wait({task}, timeout=timeout_s)
        return self.end_error

    def mark_ended(self, reason: str) -> None:
        """A request failed in a way that means the connection is gone: the next call makes a new one."""
        self.ended = self.ended or reason

    def on_garbage(self, error: Exception) -> None:
        """The server sent something that is no MCP message (a stray line on a stdio server's stdout): the SDK
        drops it, and an answer glued to it is lost. Said in one line on the server's logger (the SDK's traceback
        is filtered out), and kept for the messages of requests that then go unanswered."""
        self.garbage += 1
        self.last_garbage = garbage_text(error)
        self._garbage_seen.set()
        self.back.log.warning(
            "MCP server %r (%s) sent something that is no MCP message; it was dropped (an MCP server over stdio "
            "may write only protocol messages to stdout, its logs go to stderr): %s",
            self.spec.name,
            self.spec.describe(),
            self.last_garbage,
        )

    def suspect(self) -> None:
        """A request went unanswered past its timeout: ping the stdio server, in the background, until it answers.

        Its answer may have been lost in stray output (a line without its newline swallows the next message),
        or its output may be broken for good. A ping lost the same way is sent again; a server that answers no
        ping within :data:`CHECK_S` (or ``timeout_s``) is broken: the link ends, and the next call (which waits
        for this check, see :meth:`checked`) starts the server again instead of failing in turn. An HTTP server's
        answers are separate responses, so one lost answer says nothing about the next: it is not checked.
        """
        if self.spec.command is None or not self.usable:
            return
        if self._checking is None or self._checking.done():
            self._checking = self.loop.create_task(self._check(), name=f"aether_nb mcp check {self.spec.name}")

    async def checked(self) -> None:
        """Return once a check started by :meth:`suspect` is over (at once when none runs)."""
        task = self._checking
        if task is not None and not task.done() and asyncio.current_task() is not task:
            await asyncio.wait({task})

    async def _check(self) -> None:
        from mcp import MCPError as SDKError
        from mcp_types import CONNECTION_CLOSED

        loop, garbage, limit = self.loop, self.garbage, min(self.spec.timeout_s, CHECK_S)
        deadline = loop.time() + limit
        for _ in range(_PINGS):
            if not self.usable or loop.time() >= deadline:
                break
            self._garbage_seen.clear()
            ping = loop.create_task(self.client.session.send_ping())
            seen = loop.create_task(self._garbage_seen.wait())
            try:
                done, _ = await asyncio.wait(
                    {ping, seen}, timeout=deadline - loop.time(), return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for task in (ping, seen):
                    task.cancel()
                await asyncio.wait({ping, seen})
            if ping in done and not ping.cancelled():
                failed = ping.exception()
                if isinstance(failed, SDKError) and failed.code == CONNECTION_CLOSED:
                    self.mark_ended("connection closed")
                return  # answered (an error is an answer too): the connection works
            # else stray output came first: the ping's answer may be lost in it, so ping again
        if not self.usable:
            return
        why = "its output is broken" if self.garbage > garbage else "it is stuck"
        self.mark_ended(f"it answered no ping within {limit:g} s after a request went unanswered ({why})")
        self.back.log.warning(
            "MCP server %r (%s) answered no ping after a request went unanswered (%s%s): the next call starts it again",
            self.spec.name,
            self.spec.describe(),
            why,
            f"; the last thing it sent that is no MCP message: {self.last_garbage}" if self.garbage else "",
        )

    async def close(self, timeout_s: float = 10.0) -> None:
        """Leave the SDK client (the server process is asked to exit, then terminated, then killed)."""
        self._closing.set()
        task = self._task
        try:
            if task is None or task.done() or asyncio.current_task() is task:
                return
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout_s)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):  # the cancellation we just asked for
                    await task
        finally:
            if self._errlog is not None and (task is None or task.done()):
                self._errlog.close()

    def abandon(self) -> None:
        """Forget a link of another event loop: that loop cancelled (or will) its owner task, which stops the
        server; only the stderr file is left to close."""
        if self._errlog is not None and self.loop.is_closed():
            self._errlog.close()

    def stderr_mark(self) -> int:
        """How much the server has written to its stderr so far (0 for a server that is no process): a request's
        error quotes only what came after its mark (see :meth:`stderr_tail`)."""
        log = self._errlog
        if log is None or log.closed:
            return 0
        try:
            return os.fstat(log.fileno()).st_size
        except (OSError, ValueError):
            return 0

    def stderr_tail(self, since: int = 0) -> str:
        """`` The server's stderr ended with: ...`` (stdio servers), or ``""``.

        ``since``: a :meth:`stderr_mark` taken when a request was sent. Only what the server wrote after it is
        quoted: an earlier call's traceback (a tool error the server logged and answered) is no cause of this
        request's failure, and quoted as the last thing the server said it read as one. ``""`` when it wrote
        nothing since.
        """
        log = self._errlog
        if log is None or log.closed:
            return ""
        try:
            log.flush()
            size = log.seek(0, os.SEEK_END)
            log.seek(max(0, since, size - _STDERR_TAIL))
            text = log.read().strip()
            log.seek(0, os.SEEK_END)
        except (OSError, ValueError) as exc:
            return f" (its stderr could not be read: {exc})"
        return f" The server's stderr ended with:\n{text}\n" if text else ""


def program(name: str) -> str:
    """The program to start: a bare ``python`` / ``python3`` is this process's interpreter (``sys.executable``).

    In a notebook ``python`` on ``PATH`` is often not the kernel's Python (a venv's kernel is started by path,
    without activating the venv), so a server written against the packages installed here would not find them;
    IPython's ``%pip`` resolves ``pip`` the same way, for the same reason.
    """
    return sys.executable if name in ("python", "python3") and sys.executable else name


class _Transport:
    """An SDK ``Transport``: an async context manager giving ``(read, write)``, already opened by the link."""

    def __init__(self, read: Any, write: Any) -> None:
        self._streams = (read, write)

    async def __aenter__(self) -> tuple[Any, Any]:
        return self._streams

    async def __aexit__(self, *exc: object) -> None:
        return None


class _Watched:
    """A read stream that calls ``on_end`` when it ends (EOF, or closed under the reader), and ``on_garbage`` for
    what the transport could not read as a message (it hands the reader the parse error instead)."""

    def __init__(self, inner: Any, on_end: Any, on_garbage: Callable[[Exception], None]) -> None:
        self._inner = inner
        self._on_end = on_end
        self._on_garbage = on_garbage

    def _seen(self, item: Any) -> Any:
        if isinstance(item, Exception):
            self._on_garbage(item)
        return item

    @property
    def last_context(self) -> Any:
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> Any:
        import anyio

        try:
            return self._seen(await self._inner.receive())
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._on_end()
            raise

    def __aiter__(self) -> _Watched:
        return self

    async def __anext__(self) -> Any:
        import anyio

        try:
            return self._seen(await self._inner.__anext__())
        except (StopAsyncIteration, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._on_end()
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> _Watched:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> Any:
        return await self._inner.__aexit__(*exc)


def plain_cause(exc: BaseException) -> BaseException:
    """What an MCPError is raised ``from``: ``exc``, or for an exception group (anyio task groups wrap what failed)
    the first error in it. Why: IPython cannot draw a group in an error's chain (its cause or its context), and
    ipykernel 7.4 then sends no reply to the cell at all (it ran "forever") when the extension is not loaded; the
    message says all it held."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def detached(exc: BaseException) -> BaseException:
    """:func:`plain_cause` of ``exc``, with no exception group anywhere in its own chain either: each cause or
    context that is a group is replaced by its first error. What a request's :class:`MCPError` is raised ``from``
    (outside the ``except`` block, so nothing else hangs on as its context): a group anywhere in a cell's error
    chain left ipykernel without a reply, see :func:`plain_cause`."""
    top = plain_cause(exc)
    seen: set[int] = set()
    todo = [top]
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node.__cause__, BaseExceptionGroup):
            suppressed = node.__suppress_context__  # (setting __cause__ sets it)
            node.__cause__, node.__suppress_context__ = plain_cause(node.__cause__), suppressed
        if isinstance(node.__context__, BaseExceptionGroup):
            node.__context__ = plain_cause(node.__context__)
        todo.extend(e for e in (node.__cause__, node.__context__) if e is not None)
    return top


def garbage_text(error: Exception) -> str:
    """What the server sent that was no MCP message, from the transport's parse error: ``'the text...'`` (shortened)
    when the error holds it, else the error's own first line."""
    errors = getattr(error, "errors", None)
    if callable(errors):
        try:
            found = [e.get("input") for e in errors() if isinstance(e, dict)]
        except Exception:  # (only a nicer message is lost)
            found = []
        if found and isinstance(found[0], (str, bytes)):
            text = found[0].decode(errors="replace") if isinstance(found[0], bytes) else found[0]
            return repr(text if len(text) <= 120 else text[:117] + "...")
    return (str(error).splitlines() or [type(error).__name__])[0][:200]


def describe_exception(exc: BaseException) -> str:
    """One line for an exception, looking inside exception groups (anyio task groups wrap what failed)."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe_exception(e) for e in exc.exceptions)
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
