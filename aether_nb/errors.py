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

import reprlib
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
    "shown",
]

_SHOWN = reprlib.Repr()
_SHOWN.maxlevel, _SHOWN.maxdict, _SHOWN.maxlist, _SHOWN.maxtuple, _SHOWN.maxset = 3, 4, 4, 4, 4
_SHOWN.maxstring, _SHOWN.maxother, _SHOWN.maxlong = 60, 60, 40


def shown(value: Any, limit: int = 120) -> str:
    """A short ``repr`` for error messages: never long, never recursing deep (a value nested 10,000 levels, or a
    repr that raises, still gives a readable message)."""
    try:
        text = _SHOWN.repr(value)
    except Exception as exc:  # a broken __repr__ must not replace the error being reported
        text = f"<{type(value).__name__} (repr failed: {type(exc).__name__})>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
        super().__init__(message)
        self.message = message
        self.run_id = run_id
        self.node_id = node_id
        self.code = code or self.default_code

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only attributes would be lost by the default pickling of exceptions.
        return (_rebuild, (type(self), self.message, self.run_id, self.node_id, self.code))


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
