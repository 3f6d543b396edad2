"""What an MCP server asks of aether_nb *during* a tool call: questions, model calls, log lines and progress.

The SDK calls its callbacks (elicitation, sampling, logging, progress) from its own reader task, which knows
nothing of the run. A 2025-era request carries no reference to the call it belongs to, so each connection keeps
the calls it has in flight (:class:`InFlight`), and a callback hands its request to one of them: the only one in
flight, or the oldest when several are (the spec gives no way to tell them apart). The call's own task, the
node's, then does the work, so what it does lands on the node: a question is a wait of the node (the in-cell
chat asks it and the answer is journaled), a sampling request is a journaled ``llm`` call of ``context.llm()``,
a log line goes to ``context.logger()``.

A question or model call remembers the calls that were in flight when it came (its possible *owners*). The call
handling it may end first (it got its own answer, or its run stopped): the request then moves to the oldest owner
still open, which handles it under its own node (see :func:`handle_while_open`); it is refused only when no owner
is left. A request the server withdraws (``notifications/cancelled``) closes at once.

Outside a run there is nobody to ask and no journal: questions and sampling requests are refused (the server
sees an error and usually fails the call) and log lines go to the ``aether_nb.mcp.<server>`` Python logger.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aether_nb.errors import MCPError, shown
from aether_nb.mcp.questions import Form, ask, sample
from aether_nb.runtime.binding import unordered
from aether_nb.runtime.step_cancels import MOVED

if TYPE_CHECKING:
    from aether_nb.runtime.context import NodeContext

_LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "notice": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "alert": logging.CRITICAL,
    "emergency": logging.CRITICAL,
}
RUN_STOPPED = "the run that was asking it stopped before it was answered"
CALL_ENDED = "the call it was asked during has ended"


@dataclass(eq=False)
class Request:
    """One thing the server sent during a call, to be handled by a call's task (``future``: its answer).

    ``owners`` are the calls of a run in flight when it came (one of them asked it); ``form`` how far a question
    has got (the fields answered stay answered when it moves to another owner, the one open is asked there as
    still open).
    """

    kind: str  # "elicit", "sample", "log" or "progress"
    params: Any
    future: asyncio.Future[Any] | None = None
    owners: list[InFlight] = field(default_factory=list)
    form: Form = field(default_factory=Form)


@dataclass(eq=False)
class InFlight:
    """A tool call in progress on a connection: what its task must handle besides the server's answer."""

    tool: str
    context: NodeContext | None
    queue: asyncio.Queue[Request] = field(default_factory=asyncio.Queue)
    ended: bool = False  # answered (or failed): nothing more is handed to it
    request: asyncio.Future[Any] | None = None  # the SDK's call, once sent: its end is the server's answer
    busy: str = ""  # what its task handles now ("elicit", "sample"): a model call goes to an owner that is idle


class BackChannel:
    """The callbacks of one connection's SDK client, and the calls they serve (see the module docstring)."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.calls: list[InFlight] = []
        self.log = logging.getLogger(f"aether_nb.mcp.{server}")
        self._open: set[asyncio.Future[Any]] = set()  # questions and model calls handed out, not answered yet
        self._changed: asyncio.Future[None] | None = None

    # -- SDK callbacks (run in the SDK's reader task) ---------------------------------------------------------------
    async def elicit(self, context: Any, params: Any) -> Any:
        from mcp_types import INVALID_REQUEST, ErrorData

        call = self._target()
        mode = getattr(params, "mode", "form")
        if call is None or call.context is None:
            return ErrorData(
                code=INVALID_REQUEST,
                message="aether_nb answers an MCP server's questions only inside a run, where the run's chat asks "
                "them: call the tool from a @graph_fn",
            )
        if mode != "form":
            return ErrorData(
                code=INVALID_REQUEST,
                message=f"aether_nb does not open URLs for an MCP server (URL elicitation of {params.url!r}); "
                "only form questions are asked in the run's chat",
            )
        return await self._hand("elicit", params)

    async def sample(self, context: Any, params: Any) -> Any:
        from mcp_types import INVALID_REQUEST, ErrorData

        call = self._target()
        if call is None or call.context is None:
            return ErrorData(
                code=INVALID_REQUEST,
                message="aether_nb serves an MCP server's sampling requests only inside a run (with the run's "
                "context.llm()): call the tool from a @graph_fn",
            )
        return await self._hand("sample", params)

    async def logged(self, params: Any) -> None:
        call = self._target()
        if call is None or call.context is None:
            level = _LOG_LEVELS.get(str(params.level), logging.INFO)
            self.log.log(level, "%s", log_text(params))
            return
        call.queue.put_nowait(Request("log", params))

    def progress_for(self, call: InFlight) -> Callable[[float, float | None, str | None], Awaitable[None]]:
        """The SDK ``progress_callback`` of one call (progress is tied to its request, so no guessing here)."""

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            call.queue.put_nowait(Request("progress", (progress, total, message)))  # also restarts the call's timeout

        return on_progress

    # -- what the calls' tasks ask ----------------------------------------------------------------------------------
    @property
    def waiting_on_client(self) -> bool:
        """Whether a question or model call of the server is open or queued: no call's ``call_timeout_s`` runs
        meanwhile (the server waits for aether_nb, and any call in flight may be the one that asked)."""
        return bool(self._open)

    def changed(self) -> asyncio.Future[None]:
        """A future done when :attr:`waiting_on_client` next changes (a call's timer stops or runs again)."""
        if self._changed is None or self._changed.done():
            self._changed = asyncio.get_running_loop().create_future()
        return self._changed

    def pass_on(self, request: Request, ended: InFlight, why: str) -> None:
        """A question or model call whose handling call ended (``why``) before it was answered: it may be another
        call's, so it goes to the oldest of its owners still open, or is refused when none is left."""
        future = request.future
        if future is None or future.done():
            return
        others = [c for c in request.owners if c is not ended and not c.ended]
        if others:
            _pick(others, request.kind).queue.put_nowait(request)
        else:
            future.set_result(refusal(self.server, request.kind, why))

    def _target(self) -> InFlight | None:
        running = [c for c in self.calls if not c.ended]
        in_run = [c for c in running if c.context is not None]
        if in_run:
            return in_run[0]
        return running[0] if running else None

    async def _hand(self, kind: str, params: Any) -> Any:
        owners = [c for c in self.calls if not c.ended and c.context is not None]
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        request = Request(kind, params, future, owners)
        self._open.add(future)
        if len(self._open) == 1:
            self._notify()
        future.add_done_callback(self._closed)
        _pick(owners, kind).queue.put_nowait(request)
        # Cancelled (the server withdrew its request with notifications/cancelled, so the SDK cancels this
        # callback; or the connection ended): the future is cancelled with it, and the task handling the request
        # closes its question at once (see handle_while_open).
        return await future

    def _closed(self, future: asyncio.Future[Any]) -> None:
        self._open.discard(future)
        if not self._open:
            self._notify()

    def _notify(self) -> None:
        if self._changed is not None and not self._changed.done():
            self._changed.set_result(None)


def _pick(owners: list[InFlight], kind: str) -> InFlight:
    """The owner that handles a request: the oldest; for a model call the oldest idle one (else the oldest not
    asking a person something), so it does not wait behind a question or model call it has nothing to do with."""
    if kind == "sample":
        for free in ([c for c in owners if not c.busy], [c for c in owners if c.busy != "elicit"]):
            if free:
                return free[0]
    return owners[0]


async def handle(request: Request, call: InFlight, server: str) -> None:
    """Do what ``request`` asks, in the call's (the node's) task; settle its future with the SDK result.

    Cancelled, it leaves the future alone: the caller moves the request on or refuses it (:func:`handle_while_open`).
    """
    from mcp_types import INTERNAL_ERROR, ErrorData

    ctx = call.context
    if request.kind == "progress":
        progress, total, message = request.params
        done = f"{progress:g}/{total:g}" if total else f"{progress:g}"
        logger = ctx.logger() if ctx is not None else logging.getLogger(f"aether_nb.mcp.{server}")
        logger.info("%s.%s progress %s%s", server, call.tool, done, f": {message}" if message else "")
        return
    assert ctx is not None  # questions, model calls and log lines are handed only to calls inside a run
    if request.kind == "log":
        params = request.params
        ctx.logger().log(_LOG_LEVELS.get(str(params.level), logging.INFO), "%s: %s", server, log_text(params))
        return
    future = request.future
    assert future is not None
    try:
        # In the order the server asks, not the body's: concurrent calls' questions come in another order after a
        # restart, so each chat turn, question and model call finds its own journal entry by what it says.
        with unordered():
            if request.kind == "elicit":
                result: Any = await ask(ctx, server, request.params, request.form)
            else:
                result = await sample(ctx, server, request.params)
    except MCPError as exc:
        result = ErrorData(code=INTERNAL_ERROR, message=str(exc))
    except Exception as exc:
        if not future.done():
            future.set_exception(exc)  # the server is told why (its request fails with this message)
        raise
    if not future.done():
        future.set_result(result)


async def handle_while_open(item: Request, call: InFlight, back: BackChannel) -> None:
    """Handle what the server asked during the call, in the call's (the node's) task, while the call is open.

    A question waits for a person, maybe for hours, and a 2025-era request does not say which call asked it. So:

    * the call's own answer comes first: the call must end now (its node done and journaled, so a restart never
      repeats it), and the question was not its own (the tool answered without it). Its wait here closes (the wait
      step ends cancelled, so the widget and ``run.waits`` drop it) and it moves to the oldest other call in flight
      when it came, which asks it under its own node (fields already answered stay answered). A model call being
      made is not cut so: it is paid for and takes seconds, not a person's hours; the call ends when it is done;
    * the call's run stops (or pauses): the question may be another run's call's, which goes on, so it moves the
      same way; refused only when no call is left that could have asked it;
    * the server withdraws it (``notifications/cancelled``): it closes at once, and the next question is shown.
    """
    future = item.future
    if future is None:
        await handle(item, call, back.server)
        return
    if future.done():
        return  # withdrawn while it waited in the queue
    task = asyncio.current_task()
    assert task is not None and call.request is not None
    request = call.request
    handling, cut = True, ""

    def stop(reason: str, message: str | None = None) -> None:
        nonlocal cut
        if handling and not cut:
            cut = reason
            task.cancel(message)

    def answered(_: asyncio.Future[Any]) -> None:
        if item.kind == "elicit":
            # moved when another call may own it (its wait here ends skipped, the chat shows it once), else closed
            elsewhere = any(c is not call and not c.ended for c in item.owners)
            stop("answered", MOVED if elsewhere else None)

    def withdrawn(done: asyncio.Future[Any]) -> None:
        if done.cancelled():
            stop("withdrawn")

    request.add_done_callback(answered)
    future.add_done_callback(withdrawn)
    call.busy = item.kind
    try:
        await handle(item, call, back.server)
    except asyncio.CancelledError:
        if cut and task.uncancel() == 0:
            if cut == "answered":
                back.pass_on(item, call, CALL_ENDED)
            return
        back.pass_on(item, call, RUN_STOPPED)
        raise
    finally:
        handling, call.busy = False, ""
        request.remove_done_callback(answered)
        future.remove_done_callback(withdrawn)


def refusal(server: str, kind: str, why: str) -> Any:
    """The error a server's request gets when aether_nb cannot serve it (what the server's tool then reports)."""
    from mcp_types import INVALID_REQUEST, ErrorData

    what = "question (elicitation)" if kind == "elicit" else "model call (sampling request)"
    return ErrorData(
        code=INVALID_REQUEST, message=f"aether_nb did not answer this {what} of MCP server {shown(server)}: {why}"
    )


def log_text(params: Any) -> str:
    data = params.data
    text = data if isinstance(data, str) else repr(data)
    return f"[{params.logger}] {text}" if params.logger else text
