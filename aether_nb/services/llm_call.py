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


def endpoint(profile: LLMProfile) -> str:
    """The endpoint as messages name it (``base_url`` never holds the key)."""
    return profile.base_url or "the OpenAI API"


async def call_model(client: Any, profile: LLMProfile, request: dict[str, Any], channel: Any) -> dict[str, Any]:
    """Send one chat request (streamed into ``channel`` when given) and return the value its node journals.

    A streamed reply that was cut is requested again (a new bubble shows the new attempt; the cut one ends marked
    stopped), ``max_retries`` times at most.

    Raises:
        LLMError: the call failed; ``code`` says how (``llm_timeout``, ``llm_http_<status>``, ``llm_connection``,
            ``llm_stream_incomplete``).
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
            resp = await client.chat.completions.create(**request)
            choice = resp.choices[0]
            message = choice.message
            text = message.content or ""
            calls = [
                {"id": c.id, "name": c.function.name, "arguments": c.function.arguments or ""}
                for c in message.tool_calls or []
            ]
            usage, finish = resp.usage, choice.finish_reason
        else:
            text, calls, usage, finish = await _stream(client, profile, request, channel)
    except openai.APITimeoutError as exc:
        raise LLMError(
            f"the LLM call to {model} at {where} timed out after {profile.timeout_s} s "
            f"({profile.max_retries} retries): raise timeout_s in the LLM profile, or try again later",
            code="llm_timeout",
        ) from exc
    except openai.APIStatusError as exc:
        detail = redact_text(str(getattr(exc, "message", exc)))
        retried = f" after {profile.max_retries} retries" if exc.status_code == 429 or exc.status_code >= 500 else ""
        raise LLMError(
            f"the LLM endpoint {where} answered HTTP {exc.status_code}{retried} for model {model}: {detail}",
            code=f"llm_http_{exc.status_code}",
        ) from exc
    except openai.APIConnectionError as exc:
        raise LLMError(
            f"could not reach the LLM endpoint {where} ({profile.max_retries} retries): "
            f"{redact_text(str(exc))}. Check base_url and the network.",
            code="llm_connection",
        ) from exc
    value = {"text": text, "tool_calls": calls, "usage": node_usage(profile, model, usage), "finish_reason": finish}
    if finish == "length":
        value["usage"]["truncated"] = True
    return value


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


async def _stream(
    client: Any, profile: LLMProfile, request: dict[str, Any], channel: Any
) -> tuple[str, list[dict[str, Any]], Any, str | None]:
    """Read a streamed reply into ``channel``; ``(text, tool calls, usage, finish_reason)``.

    Raises:
        LLMError: ``llm_stream_incomplete``: the stream ended, or broke, before a chunk said the model finished.
    """
    import httpx
    import openai

    stream = await client.chat.completions.create(**request, stream=True, stream_options={"include_usage": True})
    parts: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    usage = None
    finish: str | None = None
    async with channel.stream() as s:
        try:
            async for chunk in stream:
                if getattr(chunk, "usage", None) is not None:
                    usage = chunk.usage
                for choice in chunk.choices:
                    finish = choice.finish_reason or finish
                    delta = choice.delta
                    if delta.content:
                        parts.append(delta.content)
                        await s.delta(delta.content)
                    for tc in delta.tool_calls or []:
                        call = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                        call["id"] = tc.id or call["id"]
                        if tc.function is not None:
                            call["name"] += tc.function.name or ""
                            call["arguments"] += tc.function.arguments or ""
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
        f"an incomplete reply is neither kept nor cached. It was requested up to max_retries={profile.max_retries} "
        "more time(s); try again later, raise max_retries in the LLM profile, or check a proxy between you and the "
        "endpoint that may close long responses.",
        code=INCOMPLETE,
    )
