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
from collections.abc import Callable
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

    Its message, and every public attribute set on it (``problems``, ``tool_kwargs``, ``text``, ``node_id``...; all but
    ``run_id`` and ``code``), hold no secret: they are redacted as they are set, keeping their shape (see
    :func:`_redacted_value`). Made in an ``except`` block, its ``__cause__`` and ``__context__`` read as a redacted
    copy of the exception handled there when that one holds a secret (see :func:`_shown_link`); the exception itself
    is left as it is.
    """

    default_code = "error"
    message: str

    def __init__(
        self,
        message: str,
        *,
        run_id: str | None = None,
        node_id: str | None = None,
        code: str | None = None,
    ) -> None:
        message, found = _cleaned(message)
        message = _masked_found(message, _found(self))  # (found in attributes set before: GraphBuildError's)
        super().__init__(message)
        super().__setattr__("message", message)
        handled = sys.exc_info()[1]
        if handled is not None:
            _state(self).handled = id(handled)
        if found:
            _learn(self, found)
        self.run_id = run_id
        self.node_id = node_id
        self.code = code or self.default_code

    def __setattr__(self, name: str, value: Any) -> None:
        if value is not None and _redacts(name):
            value, found = _redacted_value(value, _found(self))
            if found:
                _learn(self, found)
        super().__setattr__(name, value)

    @property
    def __cause__(self) -> BaseException | None:
        return _shown_link(self, _CAUSE.__get__(self))

    @__cause__.setter
    def __cause__(self, value: BaseException | None) -> None:
        _CAUSE.__set__(self, _original_link(self, value))

    @property
    def __context__(self) -> BaseException | None:
        return _shown_link(self, _CONTEXT.__get__(self))

    @__context__.setter
    def __context__(self, value: BaseException | None) -> None:
        _CONTEXT.__set__(self, _original_link(self, value))

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only attributes would be lost by the default pickling of exceptions.
        return (_rebuild, (type(self), self.message, self.run_id, self.node_id, self.code))


_CAUSE = BaseException.__dict__["__cause__"]
_CONTEXT = BaseException.__dict__["__context__"]
_ARGS = BaseException.__dict__["args"]
_KEPT = frozenset({"run_id", "code"})
"""Attributes kept as they are given: ids and codes aether_nb makes (a run id holding a secret is refused where it
is given, ``secret_in_name``), which programs look runs up by."""


def _redacts(name: str) -> bool:
    return not name.startswith("_") and name not in _KEPT


class _Redaction:
    """What an error keeps to show its attributes and its chain redacted: the secrets its message had (masked in
    them too: a value masked for its name, ``{'api_key': 'x...'}``, is quoted without that name elsewhere), the id
    of the exception handled where it was made (the one shown redacted), and each exception it chains with what is
    shown for it (so each reads back as one object: ``err.__cause__ is err.__cause__``).

    Kept in the error's ``__dict__`` (under a private name; its repr shows nothing): in a map beside the error, its
    links' tracebacks, whose frames may hold the error, would have kept the error alive for good."""

    __slots__ = ("found", "handled", "links")

    def __init__(self) -> None:
        self.found: tuple[str, ...] = ()
        self.handled: int | None = None
        self.links: list[tuple[BaseException, BaseException]] = []

    def __repr__(self) -> str:
        return "<aether_nb redaction>"


_STATE = "_aether_redaction"


def _state(err: AetherError) -> _Redaction:
    held = vars(err).get(_STATE)
    if not isinstance(held, _Redaction):
        held = _Redaction()
        object.__setattr__(err, _STATE, held)
    return held


def _found(err: AetherError) -> tuple[str, ...]:
    held = vars(err).get(_STATE)
    return held.found if isinstance(held, _Redaction) else ()


def _masked_found(text: str, found: tuple[str, ...]) -> str:
    for secret in found:
        if secret in text:
            text = text.replace(secret, _MASK)
    return text


def _redacted_value(value: Any, found: tuple[str, ...]) -> tuple[Any, tuple[str, ...]]:
    """``value`` (an error's attribute) with its secrets redacted, of the same types and shape
    (:func:`aether_nb.store.redact_objects.redact_object`), ``value`` itself when it holds none; and the values it
    showed masked for their names that ``found`` (the error's) did not hold, masked in all of it.

    Why: ``err.problems``, ``err.tool_kwargs``, ``err.text`` are printed, shown in a notebook's traceback or its
    variable inspector, and quote what the caller or the model passed (a key typed into the wrong argument, a
    password in a tool call's arguments) where the message has it redacted. Never fails (see :func:`redacted`)."""
    if value is None or isinstance(value, (bool, int, float)) or getattr(_busy, "on", False):
        return value, ()
    _busy.on = True
    try:
        redact_message, redact_object, _ = _redaction()
        new: list[str] = []

        def scrub(text: str) -> str:
            clean = redact_message(text)
            if clean != text:
                new.extend(s for s in _masked_values(text, clean) if s not in found)
            return _masked_found(clean, found)

        if isinstance(value, str):  # (most attributes: a node id, a tool's name, a reply)
            clean = scrub(value)
            out = value if clean == value else clean
        else:
            out = redact_object(value, scrub)
        if not new:
            return out, ()
        everything = _longest_first((*found, *new))
        if isinstance(value, str):
            return _masked_found(out, everything), _longest_first(new)
        return redact_object(value, lambda text: _masked_found(redact_message(text), everything)), _longest_first(new)
    except Exception:
        return value, ()
    finally:
        _busy.on = False


def _learn(err: AetherError, found: tuple[str, ...]) -> None:
    """Add ``found`` (values masked for their names in the error's message or one of its attributes) to what is
    masked in all of them: a value masked as ``{'api_key': ...}`` in one problem of a ``GraphBuildError`` was shown
    in clear where another quoted it without that name."""
    state = _state(err)
    state.found = _longest_first((*state.found, *found))
    for name, value in list(vars(err).items()):
        if not _redacts(name):
            continue
        clean = _redacted_value(value, state.found)[0]
        if clean is not value:
            object.__setattr__(err, name, clean)
            if name == "message" and err.args == (value,):
                _ARGS.__set__(err, (clean,))


_Scrub = Callable[[str], str]
_Redactors = tuple[_Scrub, Callable[[Any, _Scrub], Any], Callable[[BaseException, _Scrub], BaseException]]
_redaction_fns: _Redactors | None = None


def _redaction() -> _Redactors:
    """The store's ``redact_message``, ``redact_object`` and ``redacted_chain``, imported when first needed (the
    store's modules import this one), then kept: an import statement per attribute set cost more than its search."""
    global _redaction_fns
    if _redaction_fns is None:
        from aether_nb.store.redact import redact_message
        from aether_nb.store.redact_objects import redact_object, redacted_chain

        _redaction_fns = (redact_message, redact_object, redacted_chain)
    return _redaction_fns


def _shown_link(err: AetherError, link: BaseException | None) -> BaseException | None:
    """What ``err.__cause__`` (or ``__context__``) reads as, ``link`` being the exception it chains: ``link`` itself,
    or, when ``err`` was made while ``link`` (or an exception ``link`` chains) was being handled and that chain holds
    a secret (a store path with a password that DuckDB quoted, a value that could not be parsed), a redacted copy of
    it (:func:`aether_nb.store.redact_objects.redacted_chain`).

    Why a copy, read here: the exception may be the caller's (their tool's, their code's), which they may hold and
    compare later; redacting it in place, as was done when the error was made, changed it under them. Tracebacks
    (Python's ``traceback``, IPython's, pytest's, aether_nb's stored failures) read the chain through these
    attributes, so what they show is the copy. A cause given otherwise (``RunFailed``'s: the run's own exception,
    ``err.__cause__ = exc``) is the object given: what shows it redacts it (the notebook's traceback, the store)."""
    if link is None:
        return None
    state = vars(err).get(_STATE)
    if not isinstance(state, _Redaction) or state.handled is None:
        return link
    for original, copy in state.links:
        if link is original or link is copy:
            return copy
    shown = _redacted_chain(link, state.found) if _chains(link, state.handled) else link
    if shown is None:  # (read while a redaction runs: not redacted now, nor remembered so)
        return link
    if len(state.links) >= 4:
        del state.links[0]
    state.links.append((link, shown))
    return shown


def _chains(exc: BaseException, wanted: int) -> bool:
    """Whether the exception of id ``wanted`` is ``exc`` or one it was raised from (its causes and contexts)."""
    pending: list[BaseException | None] = [exc]
    seen: set[int] = set()
    while pending and len(seen) < 32:
        e = pending.pop()
        if e is None or id(e) in seen:
            continue
        if id(e) == wanted:
            return True
        seen.add(id(e))
        pending += [_CAUSE.__get__(e), _CONTEXT.__get__(e)]
    return False


def _original_link(err: AetherError, value: BaseException | None) -> BaseException | None:
    """The exception to chain for ``err.__cause__ = value``: the original when ``value`` is the copy shown for it
    (code that reads a cause, detaches it and puts it back, as the notebook's traceback printer does)."""
    state = vars(err).get(_STATE)
    if value is None or not isinstance(state, _Redaction):
        return value
    for original, shown in state.links:
        if value is shown:
            return original
    return value


def _redacted_chain(exc: BaseException, found: tuple[str, ...]) -> BaseException | None:
    """:func:`aether_nb.store.redact_objects.redacted_chain` of ``exc``; None while a redaction runs (this thread's:
    one of its texts is being redacted). Never fails (``exc`` itself, then)."""
    if getattr(_busy, "on", False):
        return None
    _busy.on = True
    try:
        redact_message, _, redacted_chain = _redaction()
        return redacted_chain(exc, lambda text: _masked_found(redact_message(text), found))
    except Exception:  # (never replaces the error being shown)
        return exc
    finally:
        _busy.on = False


def _cleaned(message: str) -> tuple[str, tuple[str, ...]]:
    """``message`` redacted, and the secrets found in it (8 characters or more, see :func:`_masked_values`), which
    are masked wherever else they are in it too: a password recognised in a URL was shown in clear where DuckDB
    quoted the same path back rewritten (``postgres:/u:pw@h``), and a value masked for the name it was given
    (``{'api_key': 'x...'}``) was shown by the exception the error is raised from, which quotes it without that
    name."""
    clean = redacted(message)
    if clean is message or clean == message:
        return message, ()
    found = _masked_values(message, clean)
    return _masked_found(clean, found), found


def _masked_values(text: str, clean: str) -> tuple[str, ...]:
    """The values of ``text`` that its redaction ``clean`` shows as ``[REDACTED]`` (8 characters or more), longest
    first. Never fails (none, then)."""
    try:
        parts = clean.split(_MASK)
        found: list[str] = []
        pos = len(parts[0])
        if not text.startswith(parts[0]):
            return ()
        for i, tail in enumerate(parts[1:], 1):
            if i == len(parts) - 1:
                end = len(text) - len(tail) if text.endswith(tail) else -1
            else:
                end = text.find(tail, pos + 1) if tail else -1
            if end < pos:
                break
            if len(text[pos:end]) >= 8 and text[pos:end] != _MASK:
                found.append(text[pos:end])
            pos = end + len(tail)
        return _longest_first(found)
    except Exception:  # (never replaces the error being made)
        return ()


def _longest_first(values: Any) -> tuple[str, ...]:
    """``values`` once each, the longest first (a secret holding another is masked whole)."""
    return tuple(sorted(dict.fromkeys(values), key=len, reverse=True))


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
