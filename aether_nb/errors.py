"""One exception tree for everything aether_nb raises on purpose.

Split by cause, so a caller can tell a mistake in their code from a failure during a run::

    AetherError                      base; carries run_id, node_id, code
    ├── UsageError                   the caller did something the API does not allow: fix the call
    │   └── InvalidAnswer            an answer to a wait failed validation; the wait stays open
    ├── RunError                     something went wrong while a run executed
    │   ├── RunFailed                the run ended FAILED; ``__cause__`` is the original exception
    │   ├── RunCancelled             the run (or the awaited part of it) was cancelled
    │   ├── WaitTimeout              a wait's deadline passed before it was answered
    │   ├── StepTimeout              a graph node ran past its timeout
    │   ├── LLMError                 an LLM call failed (timeout, HTTP error after retries, unreachable)
    │   │   └── LLMOutputError       the model's reply did not match the requested structured output
    │   ├── MCPError                 an MCP server could not be reached, or one of its tools reported an error
    │   └── ReplayMismatch           a resumed body no longer matches its journal
    └── StorageError                 the store could not read or write (locked file, bad schema, ...)

Every error has a message that says what to do next. Structured attributes let tools and tests react without
parsing messages.
"""

from __future__ import annotations

import builtins
import reprlib
import sys
import threading
from typing import Any

__all__ = [
    "AetherError",
    "InvalidAnswer",
    "LLMError",
    "LLMOutputError",
    "MCPError",
    "ReplayMismatch",
    "RunCancelled",
    "RunError",
    "RunFailed",
    "StepTimeout",
    "StorageError",
    "UsageError",
    "WaitTimeout",
    "redacted",
    "shown",
]

_busy = threading.local()
_MASK = "[REDACTED]"
"""What a secret is shown as (``aether_nb.store.redact.MASK``)."""


def redacted(text: str) -> str:
    """``text`` with every secret the store would redact shown as ``[REDACTED]``.

    Why here: an error's message quotes what the caller passed, and a key typed into the wrong argument
    (``ag.configure(durability=os.environ["OPENAI_API_KEY"])``) was quoted back in clear into the cell's saved
    output and into logs. Never fails (a failing redaction must not replace the error being raised, nor recurse
    through an error it raises itself): the text comes back as it is then. Cheap: one search of the redaction's
    gate for a text holding nothing like a secret."""
    if not isinstance(text, str) or getattr(_busy, "on", False):
        return text
    _busy.on = True
    try:
        from aether_nb.store.redact import redact_message  # (here: the store's modules import this one)

        return redact_message(text)
    except Exception:
        return text
    finally:
        _busy.on = False


def _redacted_ends(text: str, shown: int) -> str:
    """``text`` redacted where a cut of it keeps ``shown`` characters of its start and of its end: a long text is
    redacted in its two ends only (4 times as long), so a huge value costs no more than a short one."""
    window = 4 * shown
    if len(text) <= 2 * window:
        return redacted(text)
    return redacted(text[:window]) + "\n" + redacted(text[-window:])


class _Shown(reprlib.Repr):
    """``reprlib`` with a string or an object's repr redacted before it is cut short: a key cut in the middle is no
    longer recognised as one, and its end was shown in clear. Only what is cut is redacted here (the message the
    rest goes into is, as a whole): ``shown`` builds the text of many checks made before any error (a state graph's
    every node), which must stay cheap."""

    def repr_str(self, x: str, level: int) -> str:
        if len(x) + 2 > self.maxstring or len(builtins.repr(x)) > self.maxstring:  # (it is cut)
            x = _redacted_ends(x, self.maxstring)
        return super().repr_str(x, level)

    def repr_instance(self, x: Any, level: int) -> str:
        try:
            text = builtins.repr(x)
        except Exception:
            return f"<{type(x).__name__} instance at {id(x):#x}>"
        if len(text) > self.maxother:
            text = _redacted_ends(text, self.maxother)
            i = max(0, (self.maxother - 3) // 2)
            j = max(0, self.maxother - 3 - i)
            text = text[:i] + self.fillvalue + text[len(text) - j :]
        return text


_SHOWN = _Shown()
_SHOWN.maxlevel, _SHOWN.maxdict, _SHOWN.maxlist, _SHOWN.maxtuple, _SHOWN.maxset = 3, 4, 4, 4, 4
_SHOWN.maxstring, _SHOWN.maxother, _SHOWN.maxlong = 60, 60, 40


def shown(value: Any, limit: int = 120) -> str:
    """A short ``repr`` for error messages: never long, never recursing deep (a value nested 10,000 levels, or a
    repr that raises, still gives a readable message)."""
    try:
        text = _SHOWN.repr(value)
    except Exception as exc:  # a broken __repr__ must not replace the error being reported
        text = f"<{type(value).__name__} (repr failed: {type(exc).__name__})>"
    if len(text) <= limit:
        return text
    return _redacted_ends(text, limit)[: limit - 1] + "…"


class AetherError(Exception):
    """Base of every error aether_nb raises on purpose.

    Args:
        message: what went wrong and what to do about it.
        run_id: the run concerned, when there is one.
        node_id: the DAG node concerned, when there is one.
        code: a short stable identifier (``"not_awaited"``, ``"wait_timeout"``, ...) for programs and tests.
    """

    default_code = "error"

    def __init__(
        self,
        message: str,
        *,
        run_id: str | None = None,
        node_id: str | None = None,
        code: str | None = None,
    ) -> None:
        message, found = _cleaned(message)
        super().__init__(message)
        self.message = message
        _redact_handled(found)
        self.run_id = run_id
        self.node_id = node_id
        self.code = code or self.default_code

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only attributes would be lost by the default pickling of exceptions.
        return (_rebuild, (type(self), self.message, self.run_id, self.node_id, self.code))


def _cleaned(message: str) -> tuple[str, tuple[str, ...]]:
    """``message`` redacted, and the secrets found in it (8 characters or more), which are masked wherever else
    they are in it too: a password recognised in a URL was shown in clear where DuckDB quoted the same path back
    rewritten (``postgres:/u:pw@h``), and a value masked for the name it was given (``{'api_key': 'x...'}``) was
    shown by the exception the error is raised from, which quotes it without that name."""
    clean = redacted(message)
    if clean is message or clean == message:
        return message, ()
    try:
        parts = clean.split(_MASK)
        found: list[str] = []
        pos = len(parts[0])
        if not message.startswith(parts[0]):
            return clean, ()
        for i, tail in enumerate(parts[1:], 1):
            if i == len(parts) - 1:
                end = len(message) - len(tail) if message.endswith(tail) else -1
            else:
                end = message.find(tail, pos + 1) if tail else -1
            if end < pos:
                break
            if len(message[pos:end]) >= 8 and message[pos:end] != _MASK:
                found.append(message[pos:end])
            pos = end + len(tail)
        found.sort(key=len, reverse=True)
        for secret in found:
            clean = clean.replace(secret, _MASK)
        return clean, tuple(found)
    except Exception:  # (never replaces the error being made)
        return clean, ()


def _scrubbed(text: str, found: tuple[str, ...]) -> str:
    text = redacted(text)
    for secret in found:
        if secret in text:
            text = text.replace(secret, _MASK)
    return text


def _redact_handled(found: tuple[str, ...]) -> None:
    """Redact the messages of the exception being handled, and of the ones chained to it, in place: the secrets
    the store would redact, and ``found`` (those found in the message of the error being made).

    Why: an aether_nb error made in an ``except`` block is raised ``from`` that exception (or with it as its
    context), and a traceback prints its message too: a store path with a password that DuckDB could not open,
    a value that could not be parsed. Only string arguments, notes and the file names of an ``OSError`` change,
    and only where they hold a secret; nothing is done outside an ``except`` block (no cost at all there)."""
    pending = [sys.exc_info()[1]]
    seen: set[int] = set()
    while pending and len(seen) < 16:
        exc = pending.pop()
        if exc is None or id(exc) in seen:
            continue
        seen.add(id(exc))
        pending += [exc.__cause__, exc.__context__]
        if isinstance(exc, AetherError) and not found:
            continue  # (redacted when it was made)
        try:
            args = tuple(_scrubbed(a, found) if isinstance(a, str) else a for a in exc.args)
            if any(new is not old for new, old in zip(args, exc.args, strict=True)):
                exc.args = args
                if isinstance(exc, AetherError):
                    exc.message = _scrubbed(exc.message, found)
            for name in ("filename", "filename2", "strerror"):
                value = getattr(exc, name, None)
                if isinstance(value, str) and _scrubbed(value, found) != value:
                    setattr(exc, name, _scrubbed(value, found))
            notes = getattr(exc, "__notes__", None)
            if isinstance(notes, list):
                notes[:] = [_scrubbed(n, found) if isinstance(n, str) else n for n in notes]
        except Exception:  # (an exception whose attributes cannot be set: left as it is)
            continue


def _rebuild(cls: type[AetherError], message: str, run_id: str | None, node_id: str | None, code: str) -> AetherError:
    return cls(message, run_id=run_id, node_id=node_id, code=code)


class UsageError(AetherError):
    """The API was used in a way it does not allow; the message says how to call it instead."""

    default_code = "usage"


class InvalidAnswer(UsageError):
    """An answer did not match what the wait accepts. Nothing was consumed: the wait is still open."""

    default_code = "invalid_answer"


class RunError(AetherError):
    """Something went wrong while a run was executing."""

    default_code = "run_error"


class RunFailed(RunError):
    """The run ended in status ``failed``. The original exception is chained as ``__cause__``."""

    default_code = "run_failed"


class RunCancelled(RunError):
    """The run was cancelled (``run.cancel()``, the widget's Stop button, or the kernel's interrupt)."""

    default_code = "run_cancelled"


class WaitTimeout(RunError):
    """A wait's deadline passed before anyone answered it. The wait's node ends ``FAILED_TIMEOUT``."""

    default_code = "wait_timeout"


class StepTimeout(RunError):
    """A node of a static graph ran longer than its ``timeout_s``; it ends ``FAILED_TIMEOUT``."""

    default_code = "step_timeout"


class LLMError(RunError):
    """An LLM call failed during a run: timed out, the endpoint refused it (after retries), or could not be reached.

    ``code`` says which: ``llm_timeout``, ``llm_http_<status>``, ``llm_connection``, ``llm_max_steps``,
    ``llm_stream_incomplete`` (a streamed reply was cut before the model finished), ``llm_bad_response`` (the
    endpoint answered 200 with something that is not a chat completion).
    """

    default_code = "llm_error"


class LLMOutputError(LLMError):
    """The model's reply did not match the requested structured output (a JSON schema or a pydantic model).

    Attributes:
        text: the reply, as the model sent it.
        problems: what did not validate, one line each.
    """

    default_code = "invalid_llm_output"

    def __init__(self, message: str, *, text: str = "", problems: list[str] | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.text = text
        self.problems = problems or []


class MCPError(RunError):
    """An MCP server failed a call: ``code`` says how.

    ``mcp_tool_error`` (the tool answered ``isError``; the message is the tool's own text, so a model can act on
    it), ``mcp_connection`` (the server could not be started or reached, or died: the next call starts it again),
    ``mcp_timeout`` (no answer within ``call_timeout_s``), ``mcp_protocol`` (the server refused the request).
    """

    default_code = "mcp_error"


class ReplayMismatch(RunError):
    """A resumed run's body asked for a step its journal does not hold at that position.

    The body changed between the original run and the resume (or depends on something non-deterministic).
    Start a new run, or restore the code the run was started with.
    """

    default_code = "replay_mismatch"


class StorageError(AetherError):
    """The store could not complete a read or write; the message names the file and what to try."""

    default_code = "storage"
