"""context.llm() against endpoints that misbehave: a stream cut half-way, a reply stopped at the token limit.

The misbehaving endpoint is a tiny HTTP server on 127.0.0.1 written here (each request gets the next scripted raw
answer); the client is the real ``openai`` one.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.services.llm import CACHE_SCOPE, LLMError, Usage, configure_llm, run_usage
from aether_nb.testing import FakeOpenAI, ScriptedChannel
from tests.conftest import arun

Reply = Callable[[http.server.BaseHTTPRequestHandler], None]


class Loopback:
    """An HTTP server on 127.0.0.1 that answers the n-th POST with the n-th scripted reply (the last one repeats)."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.hits = 0
        loopback = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    reply = loopback.replies[min(loopback.hits, len(loopback.replies) - 1)]
                    loopback.hits += 1
                reply(self)

        lock = threading.Lock()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def loopback() -> Iterator[Callable[..., Loopback]]:
    servers: list[Loopback] = []

    def make(*replies: Reply) -> Loopback:
        servers.append(Loopback(*replies))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    payload = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(payload)}\n\n".encode()


def _sse_head(h: http.server.BaseHTTPRequestHandler) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "text/event-stream")
    h.send_header("Connection", "close")
    h.end_headers()
    h.close_connection = True


def cut_stream(h: http.server.BaseHTTPRequestHandler) -> None:
    """Two pieces of text, half a chunk, then the connection closes: no finish_reason, no [DONE]."""
    _sse_head(h)
    h.wfile.write(_chunk({"content": "The answer "}) + _chunk({"content": "is 4"}) + b'data: {"id": "c", "cho')
    h.wfile.flush()
    h.connection.shutdown(socket.SHUT_RDWR)


def full_stream(usage: dict[str, int] | None) -> Reply:
    def reply(h: http.server.BaseHTTPRequestHandler) -> None:
        _sse_head(h)
        body = _chunk({"content": "The answer "}) + _chunk({"content": "is 42."}) + _chunk({}, "stop")
        if usage is not None:
            body += f"data: {json.dumps({'id': 'c', 'object': 'chat.completion.chunk', 'created': 0, 'model': 'm', 'choices': [], 'usage': usage})}\n\n".encode()  # noqa: E501
        h.wfile.write(body + b"data: [DONE]\n\n")
        h.wfile.flush()

    return reply


USAGE = {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}


@ag.graph_fn(outputs=["text", "usage"])
async def streamed_ask(*, context: ag.NodeContext) -> dict[str, Any]:
    text, usage = await context.llm().chat("What is 6 x 7?", stream_to=context.channel(), cache=True)
    return {"text": text, "usage": usage}


def use(session: Session, base_url: str, **settings: Any) -> None:
    configure_llm(session, {"base_url": base_url, "model": "gpt-4o-mini", "max_retries": 1, **settings})


def failed(start: Callable[[], ag.Run]) -> tuple[ag.Run, BaseException | None]:
    """Start a run that must fail; the run and its error's cause."""

    async def main() -> tuple[ag.Run, BaseException | None]:
        run = start()
        with pytest.raises(ag.RunFailed) as info:
            await run
        return run, info.value.__cause__

    return arun(main())


# -- a stream cut half-way ------------------------------------------------------------------------------------------
def test_a_cut_stream_is_an_llm_error_retried_and_neither_journaled_nor_cached(
    session: Session, channel: ScriptedChannel, loopback: Callable[..., Loopback]
) -> None:
    server = loopback(cut_stream)
    use(session, server.base_url)
    run, cause = failed(streamed_ask.start)
    assert server.hits == 2  # the first try and max_retries=1 more
    assert isinstance(cause, LLMError) and cause.code == "llm_stream_incomplete"
    node = run.graph.node("llm_1")
    assert node.status == "FAILED" and "cut after 2 piece(s)" in node.error["message"]
    assert "max_retries" in node.error["message"]
    assert session.store.kv_keys(CACHE_SCOPE) == []
    assert not [e for e in session.store.load_journal(run.id) if e.kind == "llm"]
    bubbles = [m for m in channel.messages if m.type == "stream" and m.final]
    assert [(m.text, m.content.get("stopped")) for m in bubbles] == [("The answer is 4", True)] * 2


def test_a_cut_stream_that_succeeds_on_retry_gives_the_whole_reply(
    session: Session, loopback: Callable[..., Loopback]
) -> None:
    server = loopback(cut_stream, full_stream(USAGE))
    use(session, server.base_url)
    out = arun(streamed_ask())
    assert out["text"] == "The answer is 42." and server.hits == 2
    assert out["usage"].total_tokens == 14 and out["usage"].cost_usd is not None
    assert len(session.store.kv_keys(CACHE_SCOPE)) == 1


def test_a_stream_without_usage_has_an_unknown_cost_not_a_free_one(
    session: Session, loopback: Callable[..., Loopback]
) -> None:
    server = loopback(full_stream(None))
    use(session, server.base_url)
    out = arun(streamed_ask())
    assert out["text"] == "The answer is 42."
    assert out["usage"].cost_usd is None


# -- a reply stopped at the token limit -----------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True])
def test_a_reply_cut_at_the_token_limit_is_flagged_and_warned_about(session: Session, stream: bool) -> None:
    @ag.graph_fn(outputs=["text", "usage"])
    async def short_ask(*, context: ag.NodeContext) -> dict[str, Any]:
        to = context.channel() if stream else None
        text, usage = await context.llm().chat("Tell me a story", max_tokens=3, stream_to=to)
        return {"text": text, "usage": usage}

    with FakeOpenAI(script=[{"text": "Once upon a", "finish_reason": "length"}]) as fake:
        use(session, fake.base_url)

        async def main() -> tuple[dict[str, Any], ag.Run]:
            run = short_ask.start()
            return await run, run

        out, run = arun(main())
    assert out["text"] == "Once upon a"
    usage: Usage = out["usage"]
    assert usage.truncated_calls == 1
    assert run_usage(run).truncated_calls == 1
    (warning,) = run.graph.node("llm_1").warnings
    assert "token limit" in warning and "max_tokens" in warning


# -- a 200 that is not a chat completion ----------------------------------------------------------------------------
KEY = "sk-replytest-0123456789abcdefghijklmnop"


def body(data: bytes, kind: str) -> Reply:
    def reply(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", kind)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    return reply


BAD_BODIES = {
    "cut JSON": (b'{"id": "x", "choices": [ {"index": 0, "message": {"role": "assis', "application/json"),
    "an HTML page": (
        b"<html><body>502 Bad Gateway</body></html>" + b"<p>filler</p>" * 40 + b"<p>tail</p>",
        "text/html",
    ),
    "no choices": (
        b'{"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": []}',
        "application/json",
    ),
    "an error body": (json.dumps({"error": {"message": f"overloaded, key {KEY}"}}).encode(), "application/json"),
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
@pytest.mark.parametrize("stream", [False, True])
def test_a_reply_that_is_not_a_chat_completion_is_an_llm_error_naming_the_endpoint(
    session: Session, loopback: Callable[..., Loopback], case: str, stream: bool
) -> None:
    data, kind = BAD_BODIES[case]
    server = loopback(body(data, kind))
    use(session, server.base_url, api_key=KEY)

    @ag.graph_fn(outputs=["text"])
    async def ask(*, context: ag.NodeContext) -> dict[str, Any]:
        text, _ = await context.llm().chat("hi", stream_to=context.channel() if stream else None)
        return {"text": text}

    _, cause = failed(ask.start)
    assert isinstance(cause, LLMError) and cause.code == "llm_bad_response", cause
    message = cause.message
    assert server.base_url in message and "Check base_url" in message and "proxy" in message
    assert KEY not in message
    assert data.decode()[:20] in message  # a piece of what came instead
    assert "<p>tail</p>" not in message and len(message) < 600  # only a short piece
    assert server.hits == 1  # the endpoint's own answer: not asked again


# -- timeouts and HTTP errors: what the message says to do ----------------------------------------------------------
def status(code: int) -> Reply:
    data = json.dumps({"error": {"message": f"scripted {code}", "type": "x", "code": "x"}}).encode()

    def reply(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(code)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.send_header("retry-after-ms", "10")  # keeps the client's backoff short
        h.end_headers()
        h.wfile.write(data)

    return reply


@pytest.mark.parametrize(("code", "advice"), [(429, "quota"), (503, "try again later")])
def test_a_retried_http_error_says_how_often_it_was_tried_and_what_to_do(
    session: Session, loopback: Callable[..., Loopback], code: int, advice: str
) -> None:
    server = loopback(status(code))
    use(session, server.base_url)

    @ag.graph_fn(outputs=["text"])
    async def ask(*, context: ag.NodeContext) -> dict[str, Any]:
        text, _ = await context.llm().chat("hi")
        return {"text": text}

    _, cause = failed(ask.start)
    assert isinstance(cause, LLMError) and cause.code == f"llm_http_{code}"
    assert server.hits == 2
    assert "(after 1 retry)" in cause.message and "retries)" not in cause.message
    assert "raise max_retries" in cause.message and advice in cause.message


def test_timeout_s_bounds_the_wait_between_chunks_and_the_message_says_so(
    session: Session, loopback: Callable[..., Loopback]
) -> None:
    release = threading.Event()

    def stalls(h: http.server.BaseHTTPRequestHandler) -> None:
        _sse_head(h)
        h.wfile.write(_chunk({"content": "Once "}))
        h.wfile.flush()
        release.wait(10)  # the endpoint goes quiet mid-reply (until the test ends)

    server = loopback(stalls)
    use(session, server.base_url, timeout_s=0.3, max_retries=0)
    try:
        run, cause = failed(streamed_ask.start)
    finally:
        release.set()
    assert isinstance(cause, LLMError) and cause.code == "llm_stream_incomplete"
    assert "no chunk came for timeout_s=0.3 s" in cause.message and "sent once" in cause.message
    assert run.graph.node("llm_1").status == "FAILED"
