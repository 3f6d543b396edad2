"""FakeOpenAI: an OpenAI-compatible HTTP server on 127.0.0.1, for tests and for notebooks that have no API key.

It speaks enough of the API for ``openai.AsyncOpenAI`` to work unchanged: chat completions (JSON, and SSE with
``stream: true``, tool calls in both), embeddings (deterministic vectors) and the model list. Replies come from a
script (consumed in order) or from a rule (a function of the request), so tests are deterministic::

    with FakeOpenAI(script=["Hello!", {"tool_calls": [{"name": "add", "arguments": {"a": 1, "b": 2}}]}]) as fake:
        ag.configure(llm={"base_url": fake.base_url, "model": "fake"})

Script items (and rule results): a string (the assistant's text); ``{"text": ...}``; ``{"json": value}`` (the text
is ``value`` as JSON); ``{"tool_calls": [{"name", "arguments", "id"?}]}``; ``{"status": 429}`` (an error response;
``"message"`` optional); any of them with ``"delay": seconds`` (the reply is sent late, to test timeouts) or
``"finish_reason": "length"`` (a reply cut at the token limit; by default ``stop``, or ``tool_calls``).

``TCP_NODELAY`` is set on every accepted socket: without it each request costs ~40 ms of Nagle delay.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import math
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from aether_nb.errors import UsageError, shown
from aether_nb.testing.checks import check_int, check_items, check_number
from aether_nb.testing.fake_replies import check_script, reply_fault

Rule = Callable[[dict[str, Any]], Any]


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeOpenAI

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client whose event loop ended drops its kept-alive connections: not worth a traceback
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class FakeOpenAI:
    """A scripted or rule-based OpenAI-compatible server (see the module docstring for the script format).

    Args:
        script: replies to chat requests, consumed in order.
        rules: ``f(request_body) -> reply`` used when the script is empty (or instead of one).
        model: the model name reported by ``/v1/models`` and in responses that do not echo one.
        embed_dim: length of the vectors ``/v1/embeddings`` returns (unless the request asks for ``dimensions``).
        chunk_delay_s: pause between streamed chunks (makes streaming visible in a notebook).

    Attributes:
        requests: every request received, as ``{"path": ..., "body": ..., "headers": ...}`` (header names in lower
            case; the ``authorization`` value masked).
    """

    def __init__(
        self,
        script: Iterable[Any] = (),
        rules: Rule | None = None,
        *,
        model: str = "fake-model",
        embed_dim: int = 64,
        chunk_delay_s: float = 0.0,
    ) -> None:
        self._script: list[Any] = check_script(
            check_items(script, "FakeOpenAI(script=...)", "script=['Hello!']"), "FakeOpenAI(script=...)"
        )
        if rules is not None and not callable(rules):
            raise UsageError(f"FakeOpenAI(rules=...) takes a function of the request body, got {shown(rules, 80)}")
        self.rules = rules
        if not isinstance(model, str) or not model:
            raise UsageError(f"FakeOpenAI(model=...) takes a non-empty string, got {shown(model, 80)}")
        self.model = model
        self.embed_dim = check_int(embed_dim, "FakeOpenAI(embed_dim=...)", low=1)
        self.chunk_delay_s = check_number(chunk_delay_s, "FakeOpenAI(chunk_delay_s=...)", low=0)
        self.requests: list[dict[str, Any]] = []
        self._fail: list[int] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- control -----------------------------------------------------------------------------------------------
    def start(self) -> FakeOpenAI:
        """Start serving on 127.0.0.1 on a free port (idempotent)."""
        if self._server is None:
            server = _Server(("127.0.0.1", 0), _Handler)
            server.fake = self
            self._server = server
            self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="FakeOpenAI", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop the server."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: what to give ``base_url``."""
        if self._server is None:
            self.start()
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def add(self, *items: Any) -> None:
        """Append replies to the script.

        Raises:
            UsageError: a reply the fake could not send (see the module docstring for what a reply may be).
        """
        check_script(list(items), "FakeOpenAI.add(...)")
        with self._lock:
            self._script.extend(items)

    def fail_next(self, n: int = 1, status: int = 429) -> None:
        """Answer the next ``n`` requests (any route) with HTTP ``status``."""
        check_int(n, "fail_next(n)", low=0)
        if check_int(status, "fail_next(status)", low=400) > 599:
            raise UsageError(f"fail_next(status) must be an HTTP error status (400-599), got {status}")
        with self._lock:
            self._fail.extend([status] * n)

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """The bodies of the chat-completion requests received, in order."""
        return [r["body"] for r in self.requests if r["path"].endswith("/chat/completions")]

    def __repr__(self) -> str:
        where = self.base_url if self._server is not None else "stopped"
        return f"<FakeOpenAI {where}, {len(self.requests)} requests>"

    # -- replies -----------------------------------------------------------------------------------------------
    def _record(self, path: str, body: Any, headers: dict[str, str]) -> int | None:
        with self._lock:
            self.requests.append({"path": path, "body": body, "headers": headers})
            return self._fail.pop(0) if self._fail else None

    def _next_reply(self, body: dict[str, Any]) -> Any:
        with self._lock:
            if self._script:
                return self._script.pop(0)
        if self.rules is not None:
            reply = self.rules(body)
            fault = reply_fault(reply)
            if fault is not None:
                return {"status": 500, "message": f"FakeOpenAI: the rules returned a reply it cannot send: {fault}"}
            return reply
        return {"status": 400, "message": "FakeOpenAI: the script is exhausted and no rules were given"}


def _tokens(text: str) -> int:
    """A deterministic stand-in for a tokenizer: about four characters a token."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


def _prompt_text(body: dict[str, Any]) -> str:
    parts = []
    for m in body.get("messages") or []:
        content = m.get("content")
        parts.append(content if isinstance(content, str) else json.dumps(content))
    if body.get("tools"):
        parts.append(json.dumps(body["tools"]))
    return "\n".join(parts)


def fake_embedding(text: str, dim: int) -> list[float]:
    """A unit vector derived from the text's words: similar texts get similar vectors."""
    vec = [0.0] * dim
    for word in text.lower().split():
        h = hashlib.sha256(word.encode()).digest()
        vec[int.from_bytes(h[:4], "little") % dim] += 1.0 if h[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test and notebook output clean

    # -- plumbing ------------------------------------------------------------------------------------------------
    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, status: int, message: str) -> None:
        kind = "rate_limit_exceeded" if status == 429 else "invalid_request_error" if status < 500 else "server_error"
        # retry-after-ms keeps the client's backoff short in tests (it honours the header)
        headers = {"retry-after-ms": "10"} if status == 429 or status >= 500 else {}
        self._send_json(status, {"error": {"message": message, "type": kind, "code": kind}}, headers)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            return None

    def _headers(self) -> dict[str, str]:
        # the Authorization header is recorded masked: a fake is no reason to keep keys around
        return {k.lower(): ("***" if k.lower() == "authorization" else v) for k, v in self.headers.items()}

    # -- routes --------------------------------------------------------------------------------------------------
    def do_GET(self) -> None:
        fake = self.server.fake
        status = fake._record(self.path, None, self._headers())
        if status is not None:
            return self._send_error(status, f"FakeOpenAI: scripted HTTP {status}")
        if self.path.rstrip("/").endswith("/models"):
            return self._send_json(200, {"object": "list", "data": [_model(fake.model)]})
        self._send_error(404, f"FakeOpenAI: no route GET {self.path}")

    def do_POST(self) -> None:
        try:
            self._post()
        except (ConnectionError, TimeoutError):
            raise  # (the client went away: _Server.handle_error keeps quiet)
        except Exception as exc:  # a reply it could not build (a rule raised): an error response, not a dead handler
            self._send_error(500, f"FakeOpenAI could not answer {self.path}: {type(exc).__name__}: {exc}")

    def _post(self) -> None:
        fake = self.server.fake
        body = self._body()
        status = fake._record(self.path, body, self._headers())
        if status is not None:
            return self._send_error(status, f"FakeOpenAI: scripted HTTP {status}")
        if not isinstance(body, dict):
            return self._send_error(400, "FakeOpenAI: the request body is not a JSON object")
        path = self.path.rstrip("/")
        if path.endswith("/chat/completions"):
            return self._chat(fake, body)
        if path.endswith("/embeddings"):
            return self._embeddings(fake, body)
        self._send_error(404, f"FakeOpenAI: no route POST {self.path}")

    def _embeddings(self, fake: FakeOpenAI, body: dict[str, Any]) -> None:
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        dim = int(body.get("dimensions") or fake.embed_dim)
        data = [
            {"object": "embedding", "index": i, "embedding": fake_embedding(str(t), dim)} for i, t in enumerate(texts)
        ]
        n = sum(_tokens(str(t)) for t in texts)
        self._send_json(
            200,
            {
                "object": "list",
                "data": data,
                "model": body.get("model") or fake.model,
                "usage": {"prompt_tokens": n, "total_tokens": n},
            },
        )

    def _chat(self, fake: FakeOpenAI, body: dict[str, Any]) -> None:
        reply = fake._next_reply(body)
        if isinstance(reply, str):
            reply = {"text": reply}
        if not isinstance(reply, dict):
            return self._send_error(500, f"FakeOpenAI: a reply must be a string or a dict, got {reply!r}")
        if reply.get("delay"):
            time.sleep(float(reply["delay"]))
        if "status" in reply:
            return self._send_error(
                int(reply["status"]), str(reply.get("message") or f"scripted HTTP {reply['status']}")
            )
        text = json.dumps(reply["json"]) if "json" in reply else reply.get("text")
        calls: list[dict[str, Any]] = [
            {
                "id": c.get("id") or f"call_{len(fake.requests)}_{i}",
                "type": "function",
                "function": {
                    "name": c["name"],
                    "arguments": c["arguments"]
                    if isinstance(c.get("arguments"), str)
                    else json.dumps(c.get("arguments") or {}),
                },
            }
            for i, c in enumerate(reply.get("tool_calls") or [])
        ]
        prompt = _tokens(_prompt_text(body))
        completion = _tokens((text or "") + "".join(c["function"]["arguments"] for c in calls))
        usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        model = body.get("model") or fake.model
        finish = str(reply.get("finish_reason") or ("tool_calls" if calls else "stop"))
        created = int(time.time())
        cid = f"chatcmpl-fake-{len(fake.requests)}"
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if calls:
                message["tool_calls"] = calls
            payload = {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": usage,
            }
            return self._send_json(200, payload)
        self._stream(fake, body, cid, created, model, text, calls, finish, usage)

    def _stream(
        self,
        fake: FakeOpenAI,
        body: dict[str, Any],
        cid: str,
        created: int,
        model: str,
        text: str | None,
        calls: list[dict[str, Any]],
        finish: str,
        usage: dict[str, int],
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

        def chunk(delta: dict[str, Any], finish_reason: str | None = None, with_usage: bool = False) -> None:
            payload: dict[str, Any] = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [] if with_usage else [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
            }
            if with_usage:
                payload["usage"] = usage
            self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
            self.wfile.flush()
            if fake.chunk_delay_s:
                time.sleep(fake.chunk_delay_s)

        chunk({"role": "assistant", "content": ""})
        for piece in _pieces(text or ""):
            chunk({"content": piece})
        for i, c in enumerate(calls):
            head = {"index": i, "id": c["id"], "type": "function", "function": {"name": c["function"]["name"]}}
            chunk({"tool_calls": [{**head, "function": {**head["function"], "arguments": ""}}]})
            args = c["function"]["arguments"]
            half = len(args) // 2
            for part in (args[:half], args[half:]):
                if part:
                    chunk({"tool_calls": [{"index": i, "function": {"arguments": part}}]})
        chunk({}, finish)
        if (body.get("stream_options") or {}).get("include_usage"):
            chunk({}, with_usage=True)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


def _pieces(text: str) -> list[str]:
    """Split text into word-sized stream deltas (spaces kept), so the pieces join back exactly."""
    out: list[str] = []
    word = ""
    for ch in text:
        word += ch
        if ch == " ":
            out.append(word)
            word = ""
    if word:
        out.append(word)
    return out


def _model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "aether_nb-fake"}
