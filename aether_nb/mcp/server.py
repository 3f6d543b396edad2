"""Serving a module's ``@tool``, ``DualStageTool`` and ``@graph_fn`` objects over MCP (stdio).

``python -m aether_nb.mcp serve mymodule --store agents.duckdb``. Each MCP call is a run in that store (the
kernel's store is locked by the kernel, so a served module has a file of its own): its history, journal and
waits are there to inspect afterwards, and a run survives a restart of the server like any run.

Schemas come from the signatures, exactly as models see them in ``run_tools`` (type hints, ``Args:`` docs; the
context parameter left out). Outputs are the structured content of the result; their JSON (and what the agent
said with ``send_text``/``send_markdown``) is its text content. A failed run is a result with ``isError``.

A question the run asks (``ask_text``, ``ask_choices``, ``ask_approval``, a wait with a flat schema) becomes an
MCP *elicitation* when the client declared it can answer one: on a 2025-era connection the server sends
``elicitation/create`` and the run goes on in the same call; on a 2026-07-28 connection the call returns the
question (``InputRequiredResult``) and the client's retry carries the answer, with ``requestState`` naming the run
and the waits (their tokens are unguessable, so only the client that was asked can answer). A client that cannot
answer gets an ``isError`` result saying so, and the run is cancelled.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib
import importlib.util
import inspect
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from aether_nb.errors import InvalidAnswer, StorageError, UsageError, shown
from aether_nb.mcp.elicit import CannotAsk, form_for, payload_of
from aether_nb.mcp.stdio_ends import client_went_away, store_held
from aether_nb.runtime.codec import fingerprint
from aether_nb.runtime.graph_fn import GraphFn
from aether_nb.runtime.launch import start_run
from aether_nb.runtime.registry import register
from aether_nb.runtime.run import Run
from aether_nb.runtime.schema_tool import SchemaTool
from aether_nb.runtime.session import Session
from aether_nb.runtime.tools import DualStageTool, Tool, find_context_param
from aether_nb.runtime.waits import Wait
from aether_nb.store.records import FINISHED_RUN_STATUSES

log = logging.getLogger("aether_nb.mcp")
RUN_ID_META = "aether_nb/run_id"
"""The ``_meta`` key of a served result naming the run the call was."""
_MAX_TRIES = 3  # answers a client may give to one question before the call fails


@dataclass
class Served:
    """One served callable: how MCP clients see it and what a call runs."""

    name: str
    target: Any  # a Runnable: GraphFn, or _ToolCall around a tool
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    validate: Callable[[dict[str, Any]], dict[str, Any]]
    kind: str = "graph_fn"


class _ToolCall:
    """A served tool as a run target: the run's one node is the tool call (so tools get a context and waits)."""

    kind = "mcp_tool_call"

    def __init__(self, tool: Any, name: str) -> None:
        self.tool = tool
        self.name = name
        register(self)  # a run of it resumes after a server restart

    async def run_root(self, scope: Any, inputs: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = await self.tool(**inputs)
        return out


def describe(obj: Any) -> Served:
    """How ``obj`` (a ``@tool``, a ``DualStageTool`` class or a ``@graph_fn``) is served.

    Raises:
        UsageError: its signature cannot be described as a JSON schema (``*args``, ``**kwargs``, ...).
    """
    from aether_nb.services.llm_schema import parameters_schema, parse_docstring

    target: Any
    if isinstance(obj, GraphFn):
        name, fn, sig, ctx = obj.name, obj.fn, obj.signature, obj.context_param
        description, outputs, target, kind = obj.description or "", obj.outputs, obj, "graph_fn"
    elif isinstance(obj, Tool) and not isinstance(obj, SchemaTool):
        name, fn, sig, ctx = obj.name, obj.fn, obj.signature, obj.context_param
        description, outputs, kind = inspect.getdoc(obj.fn) or "", obj.outputs, "tool"
        target = _ToolCall(obj, name)
    elif isinstance(obj, type) and issubclass(obj, DualStageTool) and obj is not DualStageTool:
        name, fn = obj.tool_name, obj.setup
        sig, ctx = inspect.signature(fn), find_context_param(fn, obj.tool_name)
        description, outputs, kind = inspect.getdoc(obj) or "", obj.tool_outputs, "tool"
        target = _ToolCall(obj, name)
    else:
        raise UsageError(
            f"cannot serve {shown(obj)}: serve @tool functions, DualStageTool classes and @graph_fn agents"
        )
    schema, validate = parameters_schema(f"{kind} {name}", fn, sig, skip=ctx)
    summary, _ = parse_docstring(description)
    output_schema = None
    if outputs:
        output_schema = {"type": "object", "properties": {o: {} for o in outputs}, "required": list(outputs)}
    return Served(name, target, summary or name, schema, output_schema, validate, kind)


def collect(module: ModuleType) -> tuple[list[Served], list[str]]:
    """What ``module`` serves (its public tools and agents, by name) and the problems of the ones left out."""
    served: dict[str, Served] = {}
    problems: list[str] = []
    seen: set[int] = set()
    for attr, obj in vars(module).items():
        if attr.startswith("_") or id(obj) in seen:
            continue
        servable = isinstance(obj, (GraphFn, Tool)) and not isinstance(obj, SchemaTool)
        servable = servable or (isinstance(obj, type) and issubclass(obj, DualStageTool) and obj is not DualStageTool)
        if not servable:
            continue
        seen.add(id(obj))
        try:
            item = describe(obj)
        except UsageError as exc:
            problems.append(f"{attr}: not served: {exc.message}")
            continue
        if item.name in served:
            problems.append(f"{attr}: not served: another object is served as {item.name!r}")
            continue
        served[item.name] = item
    return list(served.values()), problems


def load_module(ref: str) -> ModuleType:
    """Import ``ref``: a module name (found from the working directory too) or the path of a ``.py`` file.

    Whatever the module prints while importing goes to stderr: over stdio, stdout is the MCP wire.
    """
    path = Path(ref)
    try:
        is_file = path.is_file()
    except OSError:  # a name the file system refuses (too long): not a file, maybe a module name
        is_file = False
    with contextlib.redirect_stdout(sys.stderr):
        if ref.endswith(".py") or is_file:
            if not is_file:
                raise UsageError(
                    f"no such file: {shown(ref)}; give the path of a .py file or a module name", code="no_module"
                )
            spec = importlib.util.spec_from_file_location(path.stem, path)
            if spec is None or spec.loader is None:
                raise UsageError(f"cannot import {ref} as a Python module")
            module = importlib.util.module_from_spec(spec)
            sys.modules[path.stem] = module
            spec.loader.exec_module(module)
            return module
        if "" not in sys.path and str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))
        try:
            return importlib.import_module(ref)
        except ModuleNotFoundError as exc:
            if exc.name is None or not (ref == exc.name or ref.startswith(exc.name + ".")):
                raise  # the module was found, and an import inside it failed: its traceback shows where
            raise UsageError(
                f"no module named {shown(ref)} importable from {Path.cwd()}: give a module name importable there "
                "(check its spelling, or run from the folder that holds it) or the path of a .py file",
                code="no_module",
            ) from None


@dataclass
class MCPChannel:
    """The channel adapter of a served session: what agents say is kept for the result of their call; questions
    are asked by the call handler (as elicitations), so presenting them does nothing here."""

    said: dict[str, list[str]] = field(default_factory=dict)

    def deliver(self, message: Any) -> None:
        if not message.final or message.type not in ("text", "markdown", "stream"):
            return
        if "turn" in message.content:  # the question / answer echoes of an ask
            return
        self.said.setdefault(message.run_id, []).append(str(message.content.get("text", "")))

    async def present(self, wait: Wait, respond: Any) -> None:
        return None

    def take(self, run_id: str) -> list[str]:
        return self.said.pop(run_id, [])


class AgentServer:
    """The served objects of a module behind an MCP low-level ``Server`` (see the module docstring)."""

    def __init__(self, served: list[Served], session: Session, channel: MCPChannel, *, name: str) -> None:
        self.served = {s.name: s for s in served}
        self.session = session
        self.channel = channel
        self.name = name
        self.calls: set[Run] = set()
        """The runs of the calls in progress (each call drives its run until it answers)."""
        self._stopping: set[Run] = set()
        self.lowlevel = self._build()

    def _stop(self, run: Run) -> None:
        if not run.done:
            run.cancel()
            self._stopping.add(run)

    async def end_session(self, timeout_s: float = 5.0) -> None:
        """The connection ended: cancel the runs of the calls still in progress (as :meth:`_call_tool` does for
        a call that ends unanswered), and wait until they, and the ones cancelled before, are recorded as
        cancelled in the store, so the process can exit (the client stops it soon after closing its stdin)."""
        for run in list(self.calls):
            self._stop(run)
        stopping = [r for r in self._stopping if not r.done]
        self._stopping.clear()
        if stopping:
            waits = [r.wait_for(*FINISHED_RUN_STATUSES, timeout=timeout_s) for r in stopping]
            for run, outcome in zip(stopping, await asyncio.gather(*waits, return_exceptions=True), strict=True):
                if isinstance(outcome, BaseException):
                    log.warning("run %s did not stop after its call ended: %r", run.id, outcome)
        self.session.flush()

    def _build(self) -> Any:
        from mcp.server import Server

        from aether_nb import __version__

        return Server(self.name, version=__version__, on_list_tools=self._list_tools, on_call_tool=self._call_tool)

    async def _list_tools(self, ctx: Any, params: Any) -> Any:
        import mcp_types as types

        tools = [
            types.Tool(
                name=s.name,
                description=s.description,
                input_schema=s.input_schema,
                output_schema=s.output_schema,
            )
            for s in self.served.values()
        ]
        return types.ListToolsResult(tools=tools)

    async def _call_tool(self, ctx: Any, params: Any) -> Any:
        served = self.served.get(params.name)
        if served is None:
            return error_result(f"no tool named {params.name!r}; the tools are {sorted(self.served)}")
        try:
            inputs = served.validate(dict(params.arguments or {}))
        except Exception as exc:
            from aether_nb.services.llm_schema import describe_validation_error

            return error_result(f"invalid arguments for {served.name}: " + "; ".join(describe_validation_error(exc)))
        notes: dict[str, str] = {}
        try:
            if params.request_state:
                found, failure = self._resume(served, inputs, params.request_state, params.input_responses or {}, notes)
                if found is None:
                    return error_result(failure or "requestState could not be used")
                if failure is not None:
                    return await self._give_up(found, failure)
                run = found
            else:
                run = start_run(served.target, inputs, run_id=None, session=self.session, hint="an MCP call")
        except UsageError as exc:
            return error_result(exc.message)
        self.calls.add(run)
        try:
            return await self._drive(ctx, served, run, notes)
        except BaseException:
            # The call ends without an answer: the client gave up on it (cancelled it), or the connection ended
            # under it (the client closed it, or its process died, mid-question). Nobody can answer the run now:
            # a 2025-era question goes out on this connection only, and no requestState names the run. The run
            # goes with the call, rather than wait forever while the client's retry starts another one.
            self._stop(run)
            raise
        finally:
            self.calls.discard(run)
            self.session.flush()

    # -- one call ---------------------------------------------------------------------------------------------------
    async def _drive(self, ctx: Any, served: Served, run: Run, notes: dict[str, str]) -> Any:
        from mcp_types.version import MODERN_PROTOCOL_VERSIONS

        statuses = ("waiting", *FINISHED_RUN_STATUSES)
        while True:
            status = await run.wait_for(*statuses, timeout=None)
            if status != "waiting":
                return self._final(served, run)
            waits = run.waits
            if not waits:  # the stored status of a run resuming, or an answer being delivered: look again soon
                await _next_event(run, timeout_s=0.5)
                continue
            if not _can_elicit(ctx):
                asked = waits[0].prompt or waits[0].kind
                return await self._give_up(
                    run,
                    f"{served.name} asks {asked!r}, but this MCP client cannot answer questions (it did not declare "
                    "the elicitation capability)",
                )
            try:
                forms = {w.token: form_for(w) for w in waits}
            except CannotAsk as exc:
                why = f"{served.name} asks a question that cannot be put to an MCP client: {exc}"
                return await self._give_up(run, why)
            if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
                return _input_required(run, waits, forms, notes)
            for wait in waits:
                failure = await self._elicit(ctx, served, run, wait, forms[wait.token])
                if failure is not None:
                    return await self._give_up(run, failure)

    async def _elicit(self, ctx: Any, served: Served, run: Run, wait: Wait, form: Any) -> str | None:
        """Ask one question over the back channel (2025-era connections); None once it is answered."""
        message, schema, wrapped = form
        note = ""
        for _ in range(_MAX_TRIES):
            result = await ctx.session.elicit_form(wire_text(note + message), schema, related_request_id=ctx.request_id)
            answered, payload = payload_of(wait, result.action, result.content, wrapped)
            if not answered:
                return f"the question {message!r} of {served.name} was not answered ({result.action})"
            try:
                self.session.answer(wait.token, payload)
            except InvalidAnswer as exc:
                note = f"{exc.message}\n"
                continue
            except UsageError as exc:
                log.info("wait %s closed before its answer arrived: %s", wait.node_id, exc.message)
            return None
        return f"the question {message!r} of {served.name} got {_MAX_TRIES} answers that do not fit it"

    def _resume(
        self, served: Served, inputs: dict[str, Any], state: str, responses: Any, notes: dict[str, str]
    ) -> tuple[Run | None, str | None]:
        """A retry of a call that asked questions (2026-07-28): answer the waits, resume the run if it stopped.

        Returns the run and None, or the run and why the call ends here (a question was declined), or None and why
        the request state is refused.
        """
        import mcp_types as types

        try:
            data = json.loads(state)
            run_id, tokens = str(data["run"]), [str(t) for t in data["waits"]]
        except (ValueError, KeyError, TypeError):
            return None, "requestState is not one this server issued; call the tool again without it"
        record = self.session.store.get_run(run_id)
        if record is None or record.graph != served.name or record.inputs_fingerprint != fingerprint(inputs):
            return None, "requestState does not belong to this tool and these arguments; call the tool again without it"
        waits = {}
        for token in tokens:
            rec = self.session.store.get_wait(token)
            if rec is None or rec.run_id != run_id:
                return None, "requestState names a question this server never asked; call the tool again without it"
            waits[token] = Wait.from_record(rec)
        declined: str | None = None
        for token, response in responses.items():
            wait = waits.get(token)
            if wait is None or not isinstance(response, types.ElicitResult) or wait.token not in tokens:
                continue
            try:
                _, _, wrapped = form_for(wait)
            except CannotAsk as exc:
                declined = f"{served.name}: {exc}"
                break
            answered, payload = payload_of(wait, response.action, response.content, wrapped)
            if not answered:
                declined = f"the question {wait.prompt!r} of {served.name} was not answered ({response.action})"
                break
            try:
                self.session.answer(token, payload)
            except InvalidAnswer as exc:
                notes[token] = exc.message
            except UsageError as exc:
                log.info("wait %s closed before its answer arrived: %s", wait.node_id, exc.message)
        if declined is not None:
            return self.session.get_run(run_id), declined
        return start_run(served.target, inputs, run_id=run_id, session=self.session, hint="an MCP call"), None

    async def _give_up(self, run: Run, reason: str) -> Any:
        if not run.done:
            run.cancel()
            try:
                await run.wait_for(*FINISHED_RUN_STATUSES, timeout=10)
            except (TimeoutError, UsageError) as exc:
                log.warning("run %s did not stop after being cancelled: %r", run.id, exc)
        self.channel.take(run.id)
        return error_result(f"{reason}. Run {run.id} was cancelled.", run_id=run.id)

    def _final(self, served: Served, run: Run) -> Any:
        import mcp_types as types

        said = self.channel.take(run.id)
        meta = {RUN_ID_META: run.id}
        if run.status != "succeeded":
            why = run.error or run.status
            return error_result(f"{served.name} {run.status}: {why} (run {run.id})", run_id=run.id, said=said)
        outputs = jsonable(run.outputs or {})
        if set(outputs) == {"result"} and isinstance(outputs["result"], str):
            text = outputs["result"]
        else:
            text = json.dumps(outputs, ensure_ascii=False)
        blocks: list[Any] = [types.TextContent(type="text", text=wire_text(t)) for t in [*said, text] if t]
        return types.CallToolResult(content=blocks, structured_content=outputs, is_error=False, _meta=meta)


async def _next_event(run: Run, *, timeout_s: float) -> None:
    """Return at the run's next event, or after ``timeout_s``."""
    happened = asyncio.Event()
    unsubscribe = run.subscribe(lambda _: happened.set())
    waiter = asyncio.ensure_future(happened.wait())
    try:
        await asyncio.wait({waiter}, timeout=timeout_s)
    finally:
        waiter.cancel()
        unsubscribe()


def _can_elicit(ctx: Any) -> bool:
    caps = ctx.session.client_capabilities
    elicitation = getattr(caps, "elicitation", None)
    if elicitation is None:
        return False
    # an empty elicitation capability (2025-06 clients) means form mode
    return elicitation.form is not None or elicitation.url is None


def _input_required(run: Run, waits: list[Wait], forms: dict[str, Any], notes: dict[str, str]) -> Any:
    import mcp_types as types

    requests: dict[str, Any] = {}
    for wait in waits:
        message, schema, _ = forms[wait.token]
        note = notes.get(wait.token)
        text = f"{note}\n{message}" if note else message
        requests[wait.token] = types.ElicitRequest(
            params=types.ElicitRequestFormParams(message=wire_text(text), requested_schema=schema)
        )
    state = json.dumps({"run": run.id, "waits": [w.token for w in waits]})
    return types.InputRequiredResult(input_requests=requests, request_state=state)


def error_result(text: str, *, run_id: str | None = None, said: list[str] | None = None) -> Any:
    """A ``CallToolResult`` with ``isError``: the text is what the client (and its model) reads."""
    import mcp_types as types

    blocks: list[Any] = [types.TextContent(type="text", text=wire_text(t)) for t in [*(said or []), text] if t]
    meta = {RUN_ID_META: run_id} if run_id else None
    return types.CallToolResult(content=blocks, is_error=True, _meta=meta)


def jsonable(value: Any) -> Any:
    """``value`` as JSON data (dates, tuples, sets, pydantic models, dataclasses...; bytes as URL-safe base64;
    anything else as text).

    It runs after the run succeeded, so it must not fail: the effect happened, and a client given an error would
    call again. Bytes that are not UTF-8 (a digest, an image) failed the whole answer with a decode error; they are
    base64 now, all bytes alike (a client decodes them one way). An output that still cannot be converted (a
    cycle, a ``__str__`` that raises) is sent as its short repr, and the others as they are.
    """
    if isinstance(value, dict):
        return {wire_text(str(k)): _jsonable(v) for k, v in value.items()}
    return _jsonable(value)


def _jsonable(value: Any) -> Any:
    from pydantic_core import to_jsonable_python

    try:
        return _wire(to_jsonable_python(_texts_sendable(value, ()), fallback=_as_text, bytes_mode="base64"))
    except Exception as exc:  # a value pydantic cannot walk (see jsonable); the run's own outputs keep it
        log.warning("an output of type %s is sent as its repr: %s: %s", type(value).__name__, type(exc).__name__, exc)
        return wire_text(shown(value, 2000))


def _texts_sendable(value: Any, path: tuple[int, ...]) -> Any:
    """``value`` with the texts of its dicts, lists and tuples (keys too) made sendable (pydantic refuses a lone
    surrogate in a key); a container met again on its own path (a cycle) is left for pydantic to report."""
    if isinstance(value, str):
        return wire_text(value)
    if not isinstance(value, (dict, list, tuple)) or id(value) in path:
        return value
    inner = (*path, id(value))
    if isinstance(value, dict):
        return {_texts_sendable(k, inner): _texts_sendable(v, inner) for k, v in value.items()}
    items = [_texts_sendable(v, inner) for v in value]
    return items if isinstance(value, list) else tuple(items)


def _wire(data: Any) -> Any:
    """JSON data with every text made sendable (see :func:`wire_text`)."""
    if isinstance(data, str):
        return wire_text(data)
    if isinstance(data, list):
        return [_wire(v) for v in data]
    if isinstance(data, dict):
        return {wire_text(str(k)): _wire(v) for k, v in data.items()}
    return data


def wire_text(text: str) -> str:
    """``text`` as UTF-8 can carry it: a lone surrogate (half of a UTF-16 pair, e.g. from a bad decode) becomes
    U+FFFD. The SDK's writer cannot encode one, and a server whose answer it cannot write never answers: the call
    hung until the client's timeout, the run done."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _as_text(value: Any) -> Any:
    """What pydantic cannot convert: a memoryview's bytes as base64 (as bytes are), anything else as its text."""
    if isinstance(value, memoryview):
        return base64.urlsafe_b64encode(value.tobytes()).decode("ascii")
    try:
        return str(value)
    except Exception:
        return shown(value)


async def serve_stdio(module: ModuleType | str, *, store: str, name: str | None = None) -> int | None:
    """Serve ``module`` over stdio until the client closes the connection, or SIGTERM / SIGINT stops it (see the
    module docstring and :mod:`~aether_nb.mcp.stopping`); returns the signal that stopped it, if one did."""
    from mcp.server.stdio import stdio_server

    from aether_nb import config
    from aether_nb.mcp.stopping import SignalStop

    mod = load_module(module) if isinstance(module, str) else module
    served, problems = collect(mod)
    for problem in problems:
        print(f"aether_nb.mcp: {problem}", file=sys.stderr)
    if not served:
        raise UsageError(f"module {mod.__name__} has no @tool, DualStageTool or @graph_fn to serve")
    channel = MCPChannel()
    try:
        config.configure(store=store, channel=channel)
    except StorageError as exc:
        if exc.code != "locked":
            raise
        raise store_held(store, exc) from exc
    session = config.session()
    server = AgentServer(served, session, channel, name=name or mod.__name__)
    serving = asyncio.current_task()
    assert serving is not None  # (a coroutine run by asyncio)
    stop = SignalStop(server.end_session, serving)
    stop.install()
    try:
        try:
            async with stdio_server() as (read, write):
                await server.lowlevel.run(read, write, server.lowlevel.create_initialization_options())
        except BaseExceptionGroup as group:
            if not client_went_away(group):
                raise
            print("aether_nb.mcp: the client went away (its connection closed); stopping", file=sys.stderr)
    except asyncio.CancelledError:
        if stop.received is None:
            raise
        serving.uncancel()  # stopped by the signal, on purpose
    finally:
        stop.remove()
        await server.end_session()
    return stop.received
