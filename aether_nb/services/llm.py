"""``context.llm()``: chat, structured output, a tool-calling loop and embeddings over any OpenAI-compatible endpoint.

Every model call is a journaled step and a DAG node of kind ``llm`` whose journaled value is
``{"text", "usage", "tool_calls", "finish_reason"}``: a resumed run replays it and never pays for it twice. Token
usage and cost (from a price table per 1M tokens) go on the node; :func:`run_usage` sums them for a run.

Configuration is a named :class:`LLMProfile` (see ``llm_config``): from ``ag.configure(llm=...)``,
``%aether llm ...`` or ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` / ``OPENAI_MODEL``. An endpoint with no key (a local
server) is fine. The key is registered as a secret, so it never reaches the store, and is never in a repr.
Tool schemas and structured-output validation live in ``llm_schema``; the HTTP request itself, its retries and
what its failures mean, in ``llm_call``; usage and cost in ``llm_usage``.

``openai`` costs ~0.5 s to import, so it is imported on the first call, not with ``aether_nb``.

An opt-in response cache (``cache=True`` per call or per profile) keys each request by its endpoint (``base_url``)
and canonical JSON, and keeps the reply in the store's KV (scope ``llm-cache``): re-running a cell is then free and
deterministic, across kernel restarts too.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import difflib
import functools
import hashlib
import inspect
import json
import weakref
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aether_nb.errors import LLMError, LLMOutputError, UsageError, shown
from aether_nb.runtime.checks import check_depth, utf8_safe
from aether_nb.runtime.effects import ServiceCall
from aether_nb.runtime.events import RunWarning
from aether_nb.runtime.execution import Scope, current_scope
from aether_nb.runtime.session import default_session
from aether_nb.services.channel import Channel
from aether_nb.services.llm_call import TRUNCATED, call_model
from aether_nb.services.llm_config import (
    CACHE_SCOPE,
    DEFAULT_PRICES,
    LLMProfile,
    client_key,
    configure_llm,
    endpoint_url,
    new_client,
    openai_imported,
    resolve_profile,
)
from aether_nb.services.llm_schema import (
    output_format,
    tool_definitions,
    tool_spec,
)
from aether_nb.services.llm_tool_calls import run_calls
from aether_nb.services.llm_tool_calls import tool_result_text as tool_result_text  # (re-exported)
from aether_nb.services.llm_usage import RunToolsResult, Usage, run_usage
from aether_nb.store import redact
from aether_nb.store.redact import contains_secret, redact_text

if TYPE_CHECKING:
    from aether_nb.runtime.context import NodeContext
    from aether_nb.runtime.session import Session

__all__ = [
    "CACHE_SCOPE",
    "DEFAULT_PRICES",
    "LLM",
    "LLMError",
    "LLMOutputError",
    "LLMProfile",
    "RunToolsResult",
    "Usage",
    "configure_llm",
    "install_llm",
    "resolve_profile",
    "run_usage",
]


# -- the service ----------------------------------------------------------------------------------------------------
def request_key(request: Mapping[str, Any]) -> str:
    """sha256 of a request's canonical JSON: the journal fingerprint of a call (with the endpoint, its cache key)."""
    blob = json.dumps(request, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(blob.encode()).hexdigest()


def _messages(messages: Any) -> list[dict[str, Any]]:
    """The messages of a request, checked, with each lone surrogate (a file name a tool decoded with
    ``surrogateescape``) as its escape: the API takes UTF-8 only, and one odd string must not fail the whole
    conversation (one string, the user's message, included: it failed with UnicodeEncodeError)."""
    if isinstance(messages, str):
        return [{"role": "user", "content": utf8_safe(messages)}]
    if not isinstance(messages, Sequence) or not all(isinstance(m, Mapping) and "role" in m for m in messages):
        raise UsageError(
            "messages must be a list of {'role': ..., 'content': ...} dicts (or one string for a user message), "
            f"got {type(messages).__name__}"
        )
    # (before the walks below, which recurse: a message that holds itself was a RecursionError)
    check_depth(list(messages), "messages")
    out = [utf8_safe(dict(m)) for m in messages]
    try:  # what the client sends is JSON: a NaN or an object failed deep inside it, with its own error
        json.dumps(out, allow_nan=False, default=_client_model)
    except (TypeError, ValueError, RecursionError) as exc:
        raise UsageError(
            f"messages must hold JSON values only (strings, numbers, lists, dicts): {exc}; turn the value into "
            "text (str(...), json.dumps(...)) before putting it in a message"
        ) from None
    return out


def check_create_arguments(kw: dict[str, Any], call: str = "chat()") -> None:
    """The extra arguments of a chat call (``temperature=``, ``seed=``...) checked before any request: a name
    ``chat.completions.create`` does not take, or a value that is not JSON, raised the client's own TypeError or
    ValueError (``Out of range float values are not JSON compliant``), naming no argument."""
    known = _create_parameters()
    for name, value in kw.items():
        if known and name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise UsageError(
                f"{call}: unknown argument {name!r}: {hint}the client's chat.completions.create does not take it; "
                "pass what only your endpoint knows in extra_body={...}",
                code="bad_arguments",
            )
        if name == "timeout":
            continue  # (a number, or the client's own ``httpx.Timeout``: how long to wait, not what is asked)
        check_depth(value, f"{call}: {name}=")  # (it is among the node's inputs, and walked by utf8_safe)
        try:
            json.dumps(value, allow_nan=False, default=_client_model)
        except (TypeError, ValueError, RecursionError) as exc:
            raise UsageError(
                f"{call}: {name}= must be a JSON value (a finite number, a string, a list or dict of them): {exc}",
                code="bad_arguments",
            ) from None


_TRANSPORT = frozenset({"timeout", "extra_headers", "extra_query"})
"""Arguments of a chat call about how it is sent, not what is asked: not shown among its node's inputs."""


@functools.cache
def _create_parameters() -> frozenset[str]:
    """The keyword arguments the installed ``openai`` client's ``chat.completions.create`` takes (empty: unknown,
    then nothing is refused by name)."""
    try:
        from openai.resources.chat.completions import AsyncCompletions

        params = inspect.signature(AsyncCompletions.create).parameters.values()
    except (ImportError, AttributeError, TypeError, ValueError):  # pragma: no cover - another client layout
        return frozenset()
    return frozenset(p.name for p in params if p.kind is p.KEYWORD_ONLY)


_log = redact.logger("aether_nb")


def _close_with(loop: asyncio.AbstractEventLoop, clients: dict[Any, Any]) -> None:
    """Close ``clients`` on ``loop`` when it shuts down (``asyncio.run`` ends).

    Why: an ``AsyncOpenAI`` client left open is closed by its ``__del__``, which schedules the close on whatever loop
    runs when the garbage collector gets to it: in a script that calls ``asyncio.run`` twice (and in a test suite)
    that is another loop, whose close of the first loop's sockets fails ("Event loop is closed"). ``asyncio.run``
    closes every async generator of its loop before closing it, so a parked one closes the clients in time, on
    their own loop. (The kernel's loop never shuts down: its clients live as long as the kernel.)"""

    async def closer() -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            for key, client in list(clients.items()):
                if key != _CLOSER:
                    try:
                        await client.close()
                    except Exception as exc:  # (dropped all the same: the loop is going away) said, not raised
                        _log.warning("aether_nb: an LLM client did not close with its event loop: %s", exc)
            clients.clear()

    gen = closer()
    with contextlib.suppress(StopIteration):  # (it runs to its yield at once; the loop knows it from its first step)
        gen.asend(None).send(None)
    clients[_CLOSER] = gen  # (the loop keeps its generators weakly)


_CLOSER = ("aether_nb", "closer")
"""The key under which a loop's client table keeps its closer (see :func:`_close_with`)."""


def _client_model(value: Any) -> Any:
    """A value the client serialises itself (its own pydantic models: a reply's message, its tool calls), as JSON."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def assistant_message(value: dict[str, Any]) -> dict[str, Any]:
    """A model call's value as the assistant message that goes back into the conversation (``run_tools``) or the
    state (``message``): its text, and its tool calls in OpenAI's form."""
    reply: dict[str, Any] = {"role": "assistant", "content": value["text"] or None}
    if value["tool_calls"]:
        reply["tool_calls"] = [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for c in value["tool_calls"]
        ]
    return reply


def check_call_settings(where: str, model: Any, stream_to: Any, cache: Any) -> None:
    """The per-call settings of ``chat`` / ``run_tools``, checked before the call becomes a step."""
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise UsageError(
            f"{where}(): model= takes a model name (a string), or None for the profile's; got {shown(model)}"
        )
    if stream_to is not None and not callable(getattr(stream_to, "stream", None)):
        raise UsageError(
            f"{where}(): stream_to= takes a channel (stream_to=context.channel()), or None; got {shown(stream_to)}"
        )
    if cache is not None and not isinstance(cache, bool):
        raise UsageError(f"{where}(): cache= takes True, False or None (the profile's setting); got {shown(cache)}")


class LLM:
    """``context.llm(profile=None)``: the LLM client of one node. See the module docstring.

    Args:
        profile: how to reach the model.
        context: the node using it (its run journals the calls); None for direct use outside a run.
        session: where the response cache and the shared HTTP clients live (defaults to the context's).
    """

    def __init__(
        self, profile: LLMProfile, *, context: NodeContext | None = None, session: Session | None = None
    ) -> None:
        self.profile = profile
        self._ctx = context
        self._session = session if session is not None else (context.session if context is not None else None)

    def __repr__(self) -> str:
        url = self.profile.base_url
        shown_url = redact_text(url) if isinstance(url, str) else url  # (a password in the URL is masked)
        return f"<LLM profile={self.profile.name!r} model={self.profile.model!r} base_url={shown_url!r}>"

    @property
    def client(self) -> Any:
        """The ``openai.AsyncOpenAI`` client: one per session, endpoint and event loop, so connections are reused
        (a client's connection pool belongs to the loop that opened it)."""
        try:
            loop: Any = asyncio.get_running_loop()
        except RuntimeError:
            return new_client(self.profile)
        owner = self._session.config if self._session is not None else self.__dict__
        clients: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], Any]] = owner.setdefault(
            "_llm_clients", weakref.WeakKeyDictionary()
        )
        per_loop = clients.get(loop)
        if per_loop is None:
            per_loop = clients[loop] = {}
            _close_with(loop, per_loop)
        key = client_key(self.profile)
        if key not in per_loop:
            per_loop[key] = new_client(self.profile)
        return per_loop[key]

    def _session_or_default(self) -> Session:
        """The session whose executor and cap a sync tool that ``run_tools`` calls outside a run uses: this client's,
        else the process's default one (the session ``ag.configure(max_concurrency=..., executor=...)`` sets up)."""
        return self._session if self._session is not None else default_session()

    def _scope(self) -> Scope | None:
        scope = current_scope()
        if scope is None and self._ctx is not None:
            scope = self._ctx.scope
        return scope

    # -- chat ------------------------------------------------------------------------------------------------------
    async def chat(
        self,
        messages: Any,
        *,
        model: str | None = None,
        stream_to: Any = None,
        response_format: Any = None,
        cache: bool | None = None,
        **kw: Any,
    ) -> tuple[Any, Usage]:
        """One chat completion: ``(text, usage)``, or ``(parsed, usage)`` with ``response_format``.

        Args:
            messages: OpenAI-style messages (or one string, sent as the user's message).
            model: overrides the profile's model.
            stream_to: a ``context.channel()``: tokens stream live into one chat bubble (on this call's node).
            response_format: a pydantic model class (returns an instance) or a JSON schema dict (returns the
                parsed JSON); the reply is validated and :class:`LLMOutputError` says what did not match.
            cache: use the response cache for this call (default: the profile's ``cache``).
            **kw: passed to ``chat.completions.create`` (``temperature``, ``max_tokens``, ``seed``...).
        """
        check_call_settings("chat", model, stream_to, cache)
        fmt = output_format(response_format) if response_format is not None else None
        value = await self._complete(self._scope(), messages, model, stream_to, fmt, cache, None, kw)
        usage = Usage.from_node(value["usage"])
        return (fmt.parse(value["text"]) if fmt is not None else value["text"]), usage

    async def message(
        self,
        messages: Any,
        *,
        tools: Any = None,
        model: str | None = None,
        stream_to: Any = None,
        cache: bool | None = None,
        **kw: Any,
    ) -> dict[str, Any]:
        """The model's next message, as a state graph keeps it: ``{"role": "assistant", "content": text}``, with
        ``"tool_calls"`` (OpenAI's form) when the model asks for tools. One journaled ``llm`` node, as ``chat``'s.

        Why: a LangGraph-style agent (a model node, then ``ToolNode`` and ``tools_condition``: LangGraph's
        ``model.bind_tools(tools).invoke(messages)``) needs the model's tool calls as a message; ``chat`` returns its
        text and ``run_tools`` runs the tools itself. A resumed run replays the call, so the model is not asked again.

        Args:
            tools: what the model may call: ``@ag.tool`` functions, graph_fns, DualStageTools, MCP tools, a
                ``ToolNode`` (the tools it runs), or OpenAI tool definitions; None: no tools.
            stream_to, cache, model, **kw: as for :meth:`chat`.
        """
        check_call_settings("message", model, stream_to, cache)
        schemas = None if tools is None else tool_definitions(tools, "message()")
        value = await self._complete(self._scope(), messages, model, stream_to, None, cache, schemas or None, kw)
        return assistant_message(value)

    async def _complete(
        self,
        scope: Scope | None,
        messages: Any,
        model: str | None,
        stream_to: Any,
        fmt: Any,
        cache: bool | None,
        tools: list[dict[str, Any]] | None,
        kw: dict[str, Any],
    ) -> dict[str, Any]:
        """One model call as a journaled ``llm`` node; returns ``{"text", "usage", "tool_calls"}``."""
        await openai_imported()  # (off the loop: see there)
        for reserved in ("stream", "stream_options", "messages"):
            if reserved in kw:
                raise UsageError(f"chat(): {reserved}= is managed by aether_nb; use stream_to=context.channel()")
        check_create_arguments(kw)
        # (every string as UTF-8 can send it: a lone surrogate in user=..., the model's name or a tool's
        # description goes as its escape, as in the messages)
        asked: dict[str, Any] = utf8_safe({k: v for k, v in kw.items() if k != "timeout"})
        request: dict[str, Any] = {"model": utf8_safe(model or self.profile.model), "messages": _messages(messages)}
        request.update(asked)
        if "timeout" in kw:
            request["timeout"] = kw["timeout"]
        if tools:
            request["tools"] = utf8_safe(tools)
        if fmt is not None:
            request["response_format"] = fmt.request
        key = request_key(request)
        # the same request to another endpoint (a local server, another proxy) is another reply
        cached_as = request_key({"endpoint": endpoint_url(self.profile), "request": request})
        use_cache = self.profile.cache if cache is None else bool(cache)

        async def execute(child: Scope | None) -> dict[str, Any]:
            channel = stream_to
            if isinstance(stream_to, Channel) and child is not None:
                # the bubble belongs to this call's node: its tokens show on the DAG node too
                channel = Channel(child.context, stream_to.adapter, stream_to.key)
            value = self._cache_get(cached_as) if use_cache else None
            if value is not None:
                if channel is not None and value["text"]:
                    async with channel.stream() as s:
                        await s.delta(value["text"])
            else:
                value = await call_model(self.client, self.profile, request, channel)
                if fmt is not None:
                    fmt.parse(value["text"])  # an invalid reply fails the node and is neither journaled nor cached
                if use_cache:
                    self._cache_put(cached_as, value)
            if child is not None:
                child.usage = value["usage"]
                if value["usage"].get("truncated"):
                    message = TRUNCATED.format(model=request["model"])
                    child.run.emit(RunWarning, node_id=child.node_id, code="llm_truncated", message=message)
            return value

        if scope is None:
            return await execute(None)
        # (the other arguments too: a resume whose temperature changed was a ReplayMismatch that named none)
        shown_kw = {k: v for k, v in asked.items() if k not in _TRANSPORT}
        inputs: dict[str, Any] = {**shown_kw, "model": request["model"], "messages": request["messages"]}
        if tools:
            inputs["tools"] = [t["function"]["name"] for t in tools]
        result: dict[str, Any] = await scope.run_step(scope.next_key("llm"), "llm", "llm", inputs, execute, fp=key[:16])
        return result

    # -- cache -------------------------------------------------------------------------------------------------------
    def _cache_get(self, key: str) -> dict[str, Any] | None:
        if self._session is None:
            return None
        hit = self._session.store.kv_get(CACHE_SCOPE, key)
        if hit is None or not isinstance(hit[0], dict):
            return None
        value = dict(hit[0])
        value["usage"] = {**value.get("usage", {}), "cost_usd": 0.0, "cached": True}
        return value

    def _cache_put(self, key: str, value: dict[str, Any]) -> None:
        if self._session is None or contains_secret(json.dumps(value)):
            return  # a reply that contains a secret is not kept
        self._session.store.kv_set(CACHE_SCOPE, key, value, None)

    # -- tools -----------------------------------------------------------------------------------------------------
    async def run_tools(
        self,
        messages: Any,
        tools: Sequence[Any],
        *,
        max_steps: int = 8,
        model: str | None = None,
        stream_to: Any = None,
        cache: bool | None = None,
        **kw: Any,
    ) -> RunToolsResult:
        """The tool-calling loop: call the model, run the tools it asks for, repeat until it answers in text.

        Tool schemas come from the ``@tool`` (or ``@graph_fn``, run as a nested agent) signatures and docstrings.
        The calls of one model turn run concurrently, each as a DAG node. A failing tool or malformed arguments go
        back to the model as the tool's result, so it can correct itself. Inside a run the whole loop is one
        ``run_tools`` node.

        Raises:
            LLMError: the model still asked for tools after ``max_steps`` turns (code ``llm_max_steps``).
        """
        if not isinstance(max_steps, int) or max_steps < 1:
            raise UsageError(f"max_steps must be a positive int, got {shown(max_steps)}")
        check_call_settings("run_tools", model, stream_to, cache)
        if isinstance(tools, (str, bytes)) or not isinstance(tools, Sequence):
            raise UsageError(
                f"run_tools: tools= takes a list of @ag.tool functions (or graph_fns, schema tools), got {shown(tools)}"
            )
        specs = [tool_spec(t) for t in tools]
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise UsageError(f"run_tools: tool names must be unique, got {names}")
        by_name = {s.name: s for s in specs}
        schemas = [s.schema for s in specs]
        start = _messages(messages)
        await openai_imported()
        check_create_arguments(kw, "run_tools()")  # (a misspelt temprature= was said to be chat()'s)

        async def loop(child: Scope | None) -> dict[str, Any]:
            msgs = list(start)
            total = Usage()
            for step in range(1, max_steps + 1):
                value = await self._complete(child, msgs, model, stream_to, None, cache, schemas, kw)
                total += Usage.from_node(value["usage"])
                calls = value["tool_calls"]
                msgs.append(assistant_message(value))
                if not calls:
                    return {"text": value["text"], "messages": msgs, "steps": step, "usage": dataclasses.asdict(total)}
                msgs.extend(await run_calls(by_name, calls, self._session_or_default))
            raise LLMError(
                f"run_tools stopped after max_steps={max_steps} model turns: the model still asked for tools "
                f"({', '.join(c['name'] for c in calls)}). Raise max_steps, or tell the model when to stop.",
                code="llm_max_steps",
            )

        scope = self._scope()
        if scope is None:
            out = await loop(None)
        else:
            inputs = {"messages": start, "tools": names, "max_steps": max_steps}
            out = await scope.run_step(scope.next_key("run_tools"), "run_tools", "step", inputs, loop)
        return RunToolsResult(out["text"], out["messages"], out["steps"], Usage(**out["usage"]))

    # -- embeddings ------------------------------------------------------------------------------------------------
    async def embed(self, texts: str | Sequence[str], *, model: str | None = None) -> list[list[float]]:
        """Embedding vectors for ``texts`` (one string or several), with the profile's ``embed_model``.

        Inside a run the call is a journaled step (``llm.embed``): a resumed run gets the same vectors back
        without calling the endpoint again.
        """
        if isinstance(texts, str):
            items = [texts]
        elif isinstance(texts, Sequence) and all(isinstance(t, str) for t in texts):
            items = list(texts)
        else:
            raise UsageError(f"embed() takes a string or a list of strings, got {type(texts).__name__}")
        if model is not None and not isinstance(model, str):
            raise UsageError(f"model must be a model name, got {type(model).__name__}")
        if not items:
            return []
        items = [utf8_safe(t) for t in items]  # (a lone surrogate goes as its escape, as in chat's messages)
        name = utf8_safe(model or self.profile.embed_model)

        async def body(_: Any) -> list[list[float]]:
            await openai_imported()
            resp = await self.client.embeddings.create(model=name, input=items)
            return [list(d.embedding) for d in sorted(resp.data, key=lambda d: d.index)]

        scope = self._scope()
        if scope is None:
            return await body(None)
        result: list[list[float]] = await ServiceCall(scope, "llm", "embed", {"texts": items, "model": name}, body)
        return result


# -- wiring -----------------------------------------------------------------------------------------------------
def install_llm(session: Session) -> None:
    """Put the ``llm`` factory on ``session``: ``context.llm(profile=None)``."""

    def factory(ctx: NodeContext, profile: str | None = None) -> LLM:
        if profile is not None and not isinstance(profile, str):  # (a list was a TypeError: unhashable type)
            raise UsageError(
                f"context.llm(profile): profile takes a profile's name (a string), or None for the default one; "
                f"got {shown(profile)}",
                code="no_llm_profile",
            )
        return LLM(resolve_profile(ctx.session, profile), context=ctx)

    session.service_factories["llm"] = factory
