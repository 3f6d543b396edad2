"""One chat-completion request over HTTP, and what its failures mean for the user.

The ``openai`` client does the wire work and retries 429 / 5xx / connection errors itself (``max_retries``, bounded
exponential backoff honouring ``retry-after``). What it cannot see is a streamed reply that stops half-way: the
connection closes, the SSE stream simply ends, and the client hands back what came. Taken as the answer, that
fragment would be journaled (a resumed run would replay it forever) and cached. So a stream counts as complete only
when a chunk carried a ``finish_reason``; a cut one is an :class:`~aether_nb.errors.LLMError`
(``llm_stream_incomplete``) and is requested again, up to ``max_retries`` times, with the same bounded backoff.

This module turns the client's answers into the ``{"text", "tool_calls", "usage", "finish_reason"}`` value an
``llm`` node journals, and its failures into messages that name the endpoint and say what to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aether_nb.errors import LLMError
from aether_nb.services.llm_config import LLMProfile
from aether_nb.store.redact import redact_text

TRUNCATED = (
    "the reply of {model} stopped at the token limit (finish_reason 'length'), so it is cut short; it is kept as "
    "the model sent it (usage.truncated_calls counts such replies). Raise max_tokens / max_completion_tokens, or "
    "ask for a shorter answer."
)

INCOMPLETE = "llm_stream_incomplete"
BACKOFF_S = 0.25
"""First pause before a cut stream is requested again; it doubles each time, up to :data:`MAX_BACKOFF_S`."""
MAX_BACKOFF_S = 4.0


QUOTE_CHARS = 160
"""How much of a body that is not a chat completion an error message quotes (whitespace collapsed, redacted)."""


def endpoint(profile: LLMProfile) -> str:
    """The endpoint as messages name it (redacted: a ``base_url`` may carry a password or a key in its query)."""
    return redact_text(profile.base_url) if profile.base_url else "the OpenAI API"


async def call_model(client: Any, profile: LLMProfile, request: dict[str, Any], channel: Any) -> dict[str, Any]:
    """Send one chat request (streamed into ``channel`` when given) and return the value its node journals.

    A streamed reply that was cut is requested again (a new bubble shows the new attempt; the cut one ends marked
    stopped), ``max_retries`` times at most.

    Raises:
        LLMError: the call failed; ``code`` says how (``llm_timeout``, ``llm_http_<status>``, ``llm_connection``,
            ``llm_stream_incomplete``, ``llm_bad_response``).
    """
    attempt = 0
    while True:
        try:
            return await _call_once(client, profile, request, channel)
        except LLMError as exc:
            if exc.code != INCOMPLETE or attempt >= profile.max_retries:
                raise
        await asyncio.sleep(min(BACKOFF_S * 2**attempt, MAX_BACKOFF_S))
        attempt += 1


async def _call_once(client: Any, profile: LLMProfile, request: dict[str, Any], channel: Any) -> dict[str, Any]:
    import openai

    model = request["model"]
    where = endpoint(profile)
    try:
        if channel is None:
            text, calls, usage, finish = await _whole(client, profile, request)
        else:
            text, calls, usage, finish = await _stream(client, profile, request, channel)
    except openai.APITimeoutError as exc:
        raise LLMError(
            f"the LLM call to {model} at {where} got no answer within timeout_s={profile.timeout_s} s "
            f"({tries(profile)}): raise timeout_s in the LLM profile (it bounds each wait for the endpoint, not the "
            "whole reply), or try again later",
            code="llm_timeout",
        ) from exc
    except openai.APIStatusError as exc:
        detail = clause(redact_text(str(getattr(exc, "message", exc))))
        status = exc.status_code
        retried = f" ({tries(profile)})" if status in (408, 409, 429) or status >= 500 else ""
        raise LLMError(
            f"the LLM endpoint {where} answered HTTP {status}{retried} for model {model}: {detail}. {_advice(status)}",
            code=f"llm_http_{status}",
        ) from _unless_secret(exc)
    except openai.APIConnectionError as exc:
        raise LLMError(
            f"could not reach the LLM endpoint {where} ({tries(profile)}): "
            f"{clause(redact_text(str(exc)))}. Check base_url and the network, or raise max_retries in the LLM "
            "profile.",
            code="llm_connection",
        ) from _unless_secret(exc)
    counted = node_usage(profile, model, usage)
    if finish == "length":
        counted["truncated"] = True
    return {"text": text, "tool_calls": calls, "usage": counted, "finish_reason": finish}


def clause(text: str) -> str:
    """The client's message as a clause our sentence goes on from: its own closing period dropped, so that
    ``"Connection error."`` followed by ours reads "Connection error. Check ..." and not "Connection error.. Check".
    An ellipsis is kept."""
    text = text.rstrip()
    return text[:-1] if text.endswith(".") and not text.endswith("..") else text


def tries(profile: LLMProfile) -> str:
    """How often a call was sent, for messages: ``"sent once, max_retries=0"``, ``"after 1 retry"``, ..."""
    n = profile.max_retries
    return "sent once, max_retries=0" if n == 0 else f"after {n} {'retry' if n == 1 else 'retries'}"


def _advice(status: int) -> str:
    """What to do about an HTTP error, by status."""
    if status == 429:
        return (
            "The endpoint is rate-limiting this key, or its quota is used up: wait and try again, raise max_retries "
            "in the LLM profile (retries back off), or check the rate limits and quota (billing) of the account."
        )
    if status >= 500:
        return "The endpoint is failing on its side: try again later, or raise max_retries in the LLM profile."
    if status in (401, 403):
        return "Check the API key (OPENAI_API_KEY, or api_key in the LLM profile) and that it may use this model."
    if status == 404:
        return "Check the model name and base_url (an OpenAI-compatible server's usually ends in /v1)."
    return "The endpoint refused the request: check the arguments given to the call (model, max_tokens, tools...)."


def node_usage(profile: LLMProfile, model: str, usage: Any) -> dict[str, Any]:
    """The usage dict an ``llm`` node carries. An endpoint that reported no usage leaves the cost unknown (None),
    never 0.0: a call it did not count is not a free one. (``truncated: True`` is added for a reply that stopped
    at the token limit.)"""
    prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
    completion = int(getattr(usage, "completion_tokens", 0) or 0)
    return {
        "model": model,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": int(getattr(usage, "total_tokens", 0) or prompt + completion),
        "cost_usd": None if usage is None else profile.cost(model, prompt, completion),
        "cached": False,
    }


Reply = tuple[str, list[dict[str, Any]], Any, "str | None"]
"""``(text, tool calls, usage, finish_reason)``."""


async def _whole(client: Any, profile: LLMProfile, request: dict[str, Any]) -> Reply:
    """Ask for a whole (not streamed) reply.

    The raw response is kept: a 200 that is not a chat completion (a proxy's HTML page, cut JSON, ``choices: []``,
    an ``{"error": ...}`` body) is reported with a piece of what came instead of the client's parsing exception.

    Raises:
        LLMError: ``llm_bad_response``, and the status errors :func:`call_model` maps.
    """
    raw = await client.chat.completions.with_raw_response.create(**request)
    model = request["model"]
    try:
        resp = raw.parse()
    except ValueError as exc:  # cut or invalid JSON
        raise bad_response(profile, model, raw.text, "the body is not valid JSON") from exc
    choices = getattr(resp, "choices", None)
    if not choices or not isinstance(choices, list):
        what = "it has no choices" if hasattr(resp, "choices") else "the body is not a JSON object"
        raise bad_response(profile, model, raw.text, what)
    choice = choices[0]
    try:
        message = choice.message
        text = message.content or ""
        if not isinstance(text, str):
            raise TypeError(f"the content is a {type(text).__name__}")
        calls = [
            {"id": c.id, "name": c.function.name, "arguments": c.function.arguments or ""}
            for c in message.tool_calls or []
        ]
    except (AttributeError, TypeError) as exc:  # the fields are not shaped like a chat completion's
        raise bad_response(profile, model, raw.text, f"its first choice is not a chat message ({exc})") from exc
    return text, calls, resp.usage, choice.finish_reason


def _unless_secret(exc: BaseException) -> BaseException | None:
    """The client's exception as the cause of ours, unless its message holds a secret (an endpoint answering 401
    with "Incorrect API key provided: <key>"): a traceback prints a cause's message as it is, and a script's
    stderr, a log or a saved cell output then held the key our message redacts. Ours says what it said."""
    text = str(exc)
    return exc if redact_text(text) == text else None


def bad_response(profile: LLMProfile, model: str, body: str, why: str) -> LLMError:
    """The error for a 200 answer that is not a chat completion. It is not retried: an endpoint (or a proxy before
    it) that answers so once will answer so again; the fix is usually the address."""
    quote = " ".join(body.split())
    quote = redact_text(quote if len(quote) <= QUOTE_CHARS else quote[:QUOTE_CHARS] + "…") or "an empty body"
    return LLMError(
        f"the LLM endpoint {endpoint(profile)} answered the request for model {model} with something that is not a "
        f"chat completion ({why}): {quote!r}. Check base_url (an OpenAI-compatible server's usually ends in /v1) and "
        "any proxy between you and the endpoint.",
        code="llm_bad_response",
    )


async def _stream(client: Any, profile: LLMProfile, request: dict[str, Any], channel: Any) -> Reply:
    """Read a streamed reply into ``channel``.

    Raises:
        LLMError: ``llm_stream_incomplete``: the stream ended, or broke, before a chunk said the model finished;
            ``llm_bad_response``: the answer is not an event stream (an HTML page, a JSON body) or has a chunk that
            is not JSON.
    """
    import httpx
    import openai

    raw = await client.chat.completions.with_raw_response.create(
        **request, stream=True, stream_options={"include_usage": True}
    )
    kind = raw.headers.get("content-type", "")
    if kind.startswith(("application/json", "text/html", "text/plain")):
        body = (await raw.http_response.aread()).decode("utf-8", "replace")
        raise bad_response(profile, request["model"], body, f"a {kind.split(';')[0]} body, not an event stream")
    stream = raw.parse()
    parts: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    usage = None
    finish: str | None = None
    # the bubble opens with the first piece of text: a turn that only calls tools leaves no empty bubble behind
    async with contextlib.AsyncExitStack() as opened:
        bubble: Any = None
        try:
            async for chunk in stream:
                if getattr(chunk, "usage", None) is not None:
                    usage = chunk.usage
                for choice in chunk.choices or ():
                    finish = choice.finish_reason or finish
                    delta = choice.delta
                    if delta.content:
                        parts.append(delta.content)
                        if bubble is None:
                            bubble = await opened.enter_async_context(channel.stream())
                        await bubble.delta(delta.content)
                    for tc in delta.tool_calls or []:
                        call = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                        call["id"] = tc.id or call["id"]
                        if tc.function is not None:
                            call["name"] += tc.function.name or ""
                            call["arguments"] += tc.function.arguments or ""
        except json.JSONDecodeError as exc:
            raise bad_response(profile, request["model"], exc.doc, "a chunk of the stream is not valid JSON") from exc
        except (httpx.TimeoutException, openai.APITimeoutError) as exc:
            why = f"no chunk came for timeout_s={profile.timeout_s} s, the longest wait between two chunks"
            raise _incomplete(profile, request["model"], len(parts), why) from exc
        except (httpx.TransportError, openai.APIError) as exc:
            # the connection broke, or the endpoint sent an error event, after the reply had started
            why = redact_text(str(exc)) or type(exc).__name__
            raise _incomplete(profile, request["model"], len(parts), why) from exc
        if finish is None:
            raise _incomplete(profile, request["model"], len(parts), "the stream ended without a finish_reason")
    return "".join(parts), [calls[i] for i in sorted(calls)], usage, finish


def _incomplete(profile: LLMProfile, model: str, pieces: int, why: str) -> LLMError:
    return LLMError(
        f"the streamed reply of {model} from {endpoint(profile)} was cut after {pieces} piece(s) of text ({why}): "
        f"an incomplete reply is neither kept nor cached ({tries(profile)}). Try again later, raise max_retries "
        "(or timeout_s, if chunks came slowly) in the LLM profile, or check a proxy between you and the endpoint "
        "that may close long responses.",
        code=INCOMPLETE,
    )
