"""What an MCP server asks of aether_nb *during* a tool call: questions, model calls, log lines and progress.

The SDK calls its callbacks (elicitation, sampling, logging, progress) from its own reader task, which knows
nothing of the run. A 2025-era request carries no reference to the call it belongs to, so each connection keeps
the calls it has in flight (:class:`InFlight`), and a callback hands its request to one of them: the only one in
flight, or the oldest when several are (the spec gives no way to tell them apart). The call's own task, the
node's, then does the work, so what it does lands on the node: a question is a wait of the node (the in-cell
chat asks it and the answer is journaled), a sampling request is a journaled ``llm`` call of ``context.llm()``,
a log line goes to ``context.logger()``.

Outside a run there is nobody to ask and no journal: questions and sampling requests are refused (the server
sees an error and usually fails the call) and log lines go to the ``aether_nb.mcp.<server>`` Python logger.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aether_nb.errors import MCPError, shown

if TYPE_CHECKING:
    from aether_nb.runtime.context import NodeContext

ASK_TRIES = 3
"""How many times a field whose answer does not fit (``"three"`` for a number) is asked before declining."""

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
_YES_NO = ("Yes", "No")


@dataclass
class Request:
    """One thing the server sent during a call, to be handled by the call's task (``future``: its answer)."""

    kind: str  # "elicit", "sample", "log" or "progress"
    params: Any
    future: asyncio.Future[Any] | None = None


@dataclass
class InFlight:
    """A tool call in progress on a connection: what its task must handle besides the server's answer."""

    tool: str
    context: NodeContext | None
    queue: asyncio.Queue[Request] = field(default_factory=asyncio.Queue)
    ended: bool = False  # answered (or failed): nothing more is handed to it
    request: asyncio.Future[Any] | None = None  # the SDK's call, once sent: its end is the server's answer


class BackChannel:
    """The callbacks of one connection's SDK client, and the calls they serve (see the module docstring)."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.calls: list[InFlight] = []
        self.log = logging.getLogger(f"aether_nb.mcp.{server}")

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
        return await self._hand(call, "elicit", params)

    async def sample(self, context: Any, params: Any) -> Any:
        from mcp_types import INVALID_REQUEST, ErrorData

        call = self._target()
        if call is None or call.context is None:
            return ErrorData(
                code=INVALID_REQUEST,
                message="aether_nb serves an MCP server's sampling requests only inside a run (with the run's "
                "context.llm()): call the tool from a @graph_fn",
            )
        return await self._hand(call, "sample", params)

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

    def pass_on(self, request: Request, ended: InFlight) -> None:
        """A question or model call handed to a call that got its answer first: it was another call's, so it goes
        to the oldest call still in flight (or is refused when none is left)."""
        assert request.future is not None
        others = [c for c in self.calls if c is not ended and not c.ended and c.context is not None]
        if others:
            others[0].queue.put_nowait(request)
        else:
            request.future.set_result(refusal("the call it belongs to has ended"))

    def _target(self) -> InFlight | None:
        running = [c for c in self.calls if not c.ended]
        in_run = [c for c in running if c.context is not None]
        if in_run:
            return in_run[0]
        return running[0] if running else None

    async def _hand(self, call: InFlight, kind: str, params: Any) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        call.queue.put_nowait(Request(kind, params, future))
        return await future


async def handle(request: Request, call: InFlight, server: str) -> None:
    """Do what ``request`` asks, in the call's (the node's) task; settle its future with the SDK result."""
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
        if request.kind == "elicit":
            result: Any = await ask(ctx, server, request.params)
        else:
            result = await sample(ctx, server, request.params)
    except MCPError as exc:
        result = ErrorData(code=INTERNAL_ERROR, message=str(exc))
    except BaseException as exc:
        # The run is stopping or pausing (or the question failed): the server's request ends with the call.
        if not future.done():
            if isinstance(exc, Exception):
                future.set_exception(exc)  # the server is told why (its request fails with this message)
            else:
                future.set_result(refusal("the run stopped before the question was answered"))
        raise
    if not future.done():
        future.set_result(result)


async def handle_while_open(item: Request, call: InFlight, back: BackChannel) -> None:
    """Handle what the server asked during the call, in the call's (the node's) task, for as long as a call that
    may have asked it is open.

    A question waits for a person, maybe for hours. When every call in flight on the connection has ended meanwhile
    (the server died, or gave up on its question and answered), the answer can go nowhere: the question is closed at
    once (its wait step ends cancelled, so the widget and ``run.waits`` drop it), and the call's own end, its error
    for a server that went away, fails the node, instead of a run left waiting for an answer no server can take.
    While another call is still open the question stays: it was handed to the oldest call in flight, but it may be
    the other call's (a 2025-era request does not say), and cutting it would fail that call.
    """
    task = asyncio.current_task()
    assert task is not None and call.request is not None
    handling, cut = True, False
    watched: list[asyncio.Future[Any]] = []

    def a_call_ended(_: object = None) -> None:
        nonlocal cut
        if not handling or cut:
            return
        still_open = [
            c.request for c in back.calls if c.context is not None and c.request is not None and not c.request.done()
        ]
        if still_open:
            for other in still_open:
                if other not in watched:
                    watched.append(other)
                    other.add_done_callback(a_call_ended)
            return
        cut = True
        task.cancel()

    watched.append(call.request)
    call.request.add_done_callback(a_call_ended)
    try:
        await handle(item, call, back.server)
    except asyncio.CancelledError:
        if not cut or task.uncancel() > 0:  # (cancelled from elsewhere too: the run stops)
            raise
    finally:
        handling = False
        for future in watched:
            future.remove_done_callback(a_call_ended)


def refusal(why: str) -> Any:
    """The error a server's request gets when aether_nb cannot serve it."""
    from mcp_types import INVALID_REQUEST, ErrorData

    return ErrorData(code=INVALID_REQUEST, message=why)


def log_text(params: Any) -> str:
    data = params.data
    text = data if isinstance(data, str) else repr(data)
    return f"[{params.logger}] {text}" if params.logger else text


# -- questions ------------------------------------------------------------------------------------------------------
async def ask(ctx: NodeContext, server: str, params: Any) -> Any:
    """An elicitation as the node's questions in the run's chat: one question per field of the requested form.

    A field with an ``enum`` (or ``oneOf`` consts) is a choice, a boolean a Yes/No choice, anything else a text
    answer (numbers are parsed; an optional field answered with an empty text is left out). Each question is a
    wait of the node, journaled like any ``ask_*``.
    """
    from mcp_types import ElicitResult

    schema = params.requested_schema if isinstance(params.requested_schema, dict) else {}
    props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    required = set(schema.get("required") or [])
    channel = ctx.channel()
    message = f"{server} asks: {params.message}"
    if not props:
        answer = await channel.ask_choices(message, ["Continue", "Decline"])
        return ElicitResult(action="accept" if answer.index == 0 else "decline", content={})
    content: dict[str, Any] = {}
    for name, prop in props.items():
        prop = prop if isinstance(prop, dict) else {}
        label = str(prop.get("description") or prop.get("title") or name)
        prompt = message if len(props) == 1 else f"{message}\n{label}"
        value = await ask_field(channel, prompt, prop, optional=name not in required)
        if value is _DECLINED:
            return ElicitResult(action="decline")
        if value is not _LEFT_OUT:
            content[name] = value
    return ElicitResult(action="accept", content=content)


_DECLINED = object()
_LEFT_OUT = object()


def _options(prop: dict[str, Any]) -> tuple[list[str], list[Any]] | None:
    """``(labels, values)`` of a field with a fixed set of answers (``enum`` or ``oneOf``/``anyOf`` consts)."""
    if isinstance(prop.get("enum"), list) and prop["enum"]:
        values = list(prop["enum"])
        names = prop.get("enumNames")
        labels = [str(n) for n in names] if isinstance(names, list) and len(names) == len(values) else None
        return labels or [str(v) for v in values], values
    for key in ("oneOf", "anyOf"):
        items = prop.get(key)
        if isinstance(items, list) and items and all(isinstance(i, dict) and "const" in i for i in items):
            return [str(i.get("title") or i["const"]) for i in items], [i["const"] for i in items]
    items = prop.get("items")
    if prop.get("type") == "array" and isinstance(items, dict):
        return _options(items)
    return None


async def ask_field(channel: Any, prompt: str, prop: dict[str, Any], *, optional: bool) -> Any:
    """One field's answer, converted to its JSON type (``_LEFT_OUT`` for an optional field left empty)."""
    options = _options(prop)
    kind = prop.get("type")
    if options is not None:
        labels, values = options
        if optional:
            labels, values = [*labels, "(leave out)"], [*values, _LEFT_OUT]
        index = (await channel.ask_choices(prompt, labels)).index
        value = values[index]
        return [value] if kind == "array" and value is not _LEFT_OUT else value
    if kind == "boolean":
        labels = [*_YES_NO, "(leave out)"] if optional else list(_YES_NO)
        index = (await channel.ask_choices(prompt, labels)).index
        return _LEFT_OUT if index == 2 else index == 0
    default = prop.get("default")
    hint = f" (empty: {default!r})" if default is not None else (" (empty: leave out)" if optional else "")
    question = prompt + hint
    for _ in range(ASK_TRIES):
        text = (await channel.ask_text(question)).strip()
        if not text and (optional or default is not None):
            return _LEFT_OUT
        value, problem = _parse(text, kind)
        if problem is None:
            problem = _violation(value, prop)
        if problem is None:
            return value
        question = f"{prompt}{hint}\n{shown(text)} does not fit: {problem}"
    return _DECLINED


def _parse(text: str, kind: Any) -> tuple[Any, str | None]:
    if kind == "integer":
        try:
            return int(text), None
        except ValueError:
            return None, "answer with a whole number"
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            return None, "answer with a number"
        return (number, None) if math.isfinite(number) else (None, "answer with a finite number")
    if not text:
        return None, "an answer is required"
    return text, None


def _violation(value: Any, prop: dict[str, Any]) -> str | None:
    """What is wrong with ``value`` for the field's schema (``minimum``, ``maxLength``, ``format``...), or None."""
    import jsonschema

    checks = {k: v for k, v in prop.items() if k not in ("title", "description", "default")}
    try:
        cls = jsonschema.validators.validator_for(checks, default=jsonschema.Draft202012Validator)
        error = next(iter(cls(checks, format_checker=cls.FORMAT_CHECKER).iter_errors(value)), None)
    except jsonschema.exceptions.SchemaError:
        return None  # a schema the server got wrong: the server checks the answer itself
    return None if error is None else error.message


# -- sampling -------------------------------------------------------------------------------------------------------
async def sample(ctx: NodeContext, server: str, params: Any) -> Any:
    """A ``sampling/createMessage`` as one journaled ``context.llm().chat(...)`` call of the node (text only)."""
    from mcp_types import CreateMessageResult, TextContent

    messages: list[dict[str, str]] = []
    if params.system_prompt:
        messages.append({"role": "system", "content": params.system_prompt})
    for m in params.messages:
        blocks = m.content if isinstance(m.content, list) else [m.content]
        texts = [b.text for b in blocks if isinstance(b, TextContent)]
        if len(texts) != len(blocks):
            raise MCPError(
                f"MCP server {shown(server)} asked for a model call with non-text content; aether_nb's sampling "
                "passes text messages only",
                code="mcp_sampling",
            )
        messages.append({"role": m.role, "content": "\n".join(texts)})
    if params.tools:
        raise MCPError(
            f"MCP server {shown(server)} asked for a model call with tools; aether_nb's sampling does not offer "
            "tools to the model",
            code="mcp_sampling",
        )
    kw: dict[str, Any] = {"max_tokens": params.max_tokens}
    if params.temperature is not None:
        kw["temperature"] = params.temperature
    if params.stop_sequences:
        kw["stop"] = list(params.stop_sequences)
    llm = ctx.llm()
    text, _usage = await llm.chat(messages, **kw)
    model = str(getattr(getattr(llm, "profile", None), "model", None) or "aether_nb")
    return CreateMessageResult(
        role="assistant", content=TextContent(type="text", text=str(text)), model=model, stop_reason="endTurn"
    )
