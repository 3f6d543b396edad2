"""Failed steps in the journal: what a resumed body gets back where a call failed the first time.

A body that handles a failure goes on down another path than it would have taken had the call succeeded: an agent
catches a tool's error and asks a person instead; ``llm.run_tools`` hands the error to the model as the tool's
result, and the model's next request carries that text. Executing the failed call again on resume would repeat its
effect (it may have charged the card before it failed), and a call that succeeds this time sends the resumed body
down the other path: a question answered for the first path is asked again, or the next journaled step no longer
matches (a :class:`~aether_nb.errors.ReplayMismatch` on the model's request). So a failed step is journaled with
its error, and a resumed execution raises that error again at the call, once: the same exception class (found
among the modules this process has imported; never imported for it) with the same message, or, when the class
cannot be found or rebuilt, an exception of the same name deriving from it or from ``Exception``.

Not journaled, so executed again: a step interrupted by cancellation or a restart (it did not fail); a
:class:`~aether_nb.errors.ReplayMismatch`, :class:`~aether_nb.errors.RunCancelled` or
:class:`~aether_nb.errors.StorageError` (they say nothing about the call); an error whose message holds a secret
(never stored). A failed run retried (``resume_mode="failed_nodes"``) runs its failed steps again, as before.
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import TYPE_CHECKING, Any

from aether_nb.errors import AetherError, ReplayMismatch, RunCancelled, StorageError
from aether_nb.runtime.tracebacks import trimmed
from aether_nb.store.redact import contains_secret, redact_text

if TYPE_CHECKING:
    from aether_nb.runtime.execution import Scope

FAILED = "failed"
"""The journal entry kind of a failed step (its value: :func:`failure_record`)."""

_NOT_JOURNALED = (ReplayMismatch, RunCancelled, StorageError)


def failure_record(exc: BaseException) -> dict[str, Any] | None:
    """What the journal keeps of ``exc`` (None: it is not journaled, see the module docstring)."""
    if not isinstance(exc, Exception) or isinstance(exc, _NOT_JOURNALED):
        return None
    try:
        message = str(exc)
    except Exception:  # an exception whose __str__ fails: nothing reliable to replay
        return None
    try:
        text = json.dumps(list(exc.args), allow_nan=False)
        args: list[Any] | None = json.loads(text)
    except (TypeError, ValueError, RecursionError):  # arguments that are not JSON: the message is enough
        text, args = "", None
    if contains_secret(message) or contains_secret(text):
        return None
    cls = type(exc)
    record: dict[str, Any] = {"type": f"{cls.__module__}:{cls.__qualname__}", "name": cls.__name__, "message": message}
    record["args"] = args
    if isinstance(exc, AetherError):  # its keyword attributes (a program may test exc.code)
        record["aether"] = {"run_id": exc.run_id, "node_id": exc.node_id, "code": exc.code}
    return record


def journal_failure(scope: Scope, key: str, name: str, fp: str, exc: BaseException, attempt: int | None = None) -> None:
    """Journal the error step ``key`` of ``scope`` failed with, so a resumed body gets it again; ``attempt``: which
    attempt of a retried step it was (a retry policy counts attempts across restarts)."""
    failure = failure_record(exc)
    if failure is not None:
        if attempt is not None:
            failure["attempt"] = attempt
        try:
            scope.journal(key, name, FAILED, fp, failure, None, encoded=failure)
        except Exception as error:  # the step's own error is the one to raise: this one goes with it
            exc.add_note(f"(the failure of step {key!r} could not be journaled: {type(error).__name__}: {error})")


def rebuild(record: dict[str, Any]) -> Exception:
    """The exception a replayed failed step raises (see the module docstring)."""
    message = str(record.get("message", ""))
    name = str(record.get("name") or "Exception")
    cls = _find_class(str(record.get("type", "")))
    args = record.get("args")
    aether = record.get("aether")
    if cls is not None and issubclass(cls, AetherError) and isinstance(aether, dict):
        try:
            return cls(message, **{k: aether.get(k) for k in ("run_id", "node_id", "code")})
        except Exception:  # a subclass with a constructor of its own: rebuilt below
            pass
    if cls is not None and isinstance(args, list):
        try:
            exc: Exception = cls(*args)
            if str(exc) == message:
                return exc
        except Exception:  # a constructor that wants other arguments: rebuilt below
            pass
    base: type[Exception] = cls if cls is not None else Exception
    try:
        body = {"__str__": lambda self: message, "__module__": base.__module__}
        replayed: type[Exception] = type(name, (base,), body)
        rebuilt: Exception = BaseException.__new__(replayed)  # (its own __init__ may want other arguments)
        rebuilt.args = tuple(args) if isinstance(args, list) else (message,)
        return rebuilt
    except Exception:  # a class that cannot be derived from (or instantiated without its constructor)
        plain: type[Exception] = type(name, (Exception,), {"__str__": lambda self: message})
        return plain(message)


def _find_class(path: str) -> type[Exception] | None:
    module_name, _, qualname = path.partition(":")
    found: Any = sys.modules.get(module_name)
    for part in qualname.split(".") if found is not None and qualname else ():
        found = getattr(found, part, None)
    if isinstance(found, type) and issubclass(found, Exception):
        return found
    return None


__all__ = ["FAILED", "failure_record", "journal_failure", "rebuild"]


def step_not_written(run_id: str, key: str, name: str, error: StorageError) -> StorageError:
    """What a ``"sync"``-durability body is told when a step it completed could not be written yet: the step ran
    (its effect happened), and its record is kept and retried, so calling it again would do it twice."""
    return StorageError(
        f"step {key} ({name}) of run {run_id} ran, but its record could not be written to the store yet "
        f"({error.message}). It is kept in memory and written as soon as the store can be written, so a resume in "
        "this process does not run it again; do not call it again. Free disk space (or fix what the error names). "
        "If the kernel stops before then, a resume runs the step again.",
        run_id=run_id,
        node_id=key,
        code="step_not_written",
    )


def error_info(exc: BaseException) -> dict[str, Any]:
    """What the DAG node and the store keep of an exception: type, message and traceback text, redacted.

    Redacted here, not only where they are stored: a chained cause's message is in the traceback (an endpoint
    answering 401 with "Incorrect API key provided: <key>"), and the node's error, its events and what a run's
    observers got held the key in memory, while the store showed ``[REDACTED]``."""
    return {
        "type": f"{type(exc).__module__}.{type(exc).__qualname__}",
        "message": redact_text(str(exc)),
        "traceback": redact_text("".join(traceback.format_exception(type(exc), exc, trimmed(exc.__traceback__)))),
    }
