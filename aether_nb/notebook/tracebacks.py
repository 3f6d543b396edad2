"""What a cell shows for an aether_nb error: the user's frames, not the runtime's, and every error a group held.

Two things stood between an aether_nb error and a readable traceback in a cell:

* The frames of the runtime that awaited the run (aether_nb, the event loop, the worker thread a sync tool ran in)
  say nothing to the reader: :func:`user_frames` drops them from the error and its chained causes.
* An ``ExceptionGroup`` in the chain (a tool's ``asyncio.TaskGroup``; the MCP SDK wraps a closed connection in two
  nested groups of anyio's): IPython's traceback printer cannot draw one. As a ``__cause__`` it drew the group as a
  plain exception, without the errors it held; as a ``__context__`` IPython fell back to Python's printer, which
  wrote every frame (the SDK's, aether_nb's) unredacted as a stderr stream, with no error output at all (and
  ipykernel 7.4 then failed on its missing ``_last_traceback``). :func:`groups_as_notes` has the cell show, for the
  time it draws the error, a note listing the group's errors with the user's lines instead of the group.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import sysconfig
import traceback
import types
from collections.abc import Iterator
from pathlib import Path

import aether_nb
from aether_nb.errors import AetherError, UsageError

__all__ = ["groups_as_notes", "user_frames"]

_RUNTIME_DIRS = tuple(
    str(Path(module.__file__).resolve().parent) + os.sep
    for module in (aether_nb, asyncio, concurrent.futures)
    if module.__file__ is not None
)
"""Frames from these folders say nothing to the reader of a failed run: the runtime that awaited the run, the event
loop, and the worker thread a sync tool ran in."""

_LIBRARY_DIRS = tuple(
    {
        str(Path(p).resolve()) + os.sep
        for key in ("stdlib", "platstdlib", "purelib", "platlib")
        if (p := sysconfig.get_paths().get(key))
    }
)
"""Installed packages and the standard library: a group's errors are listed with the lines of the person's own code
only (the MCP SDK's and anyio's frames around a closed connection are a dozen lines of nobody's code)."""

MAX_GROUP_ERRORS = 10
"""Errors of a group listed at most (the others are counted)."""


def _full() -> bool:
    """``AETHER_NB_FULL_TRACEBACKS=1`` keeps every frame (when debugging aether_nb itself), as for stored errors."""
    return bool(os.environ.get("AETHER_NB_FULL_TRACEBACKS"))


def _kept(tb: types.TracebackType | None) -> types.TracebackType | None:
    frames = []
    while tb is not None:
        if not tb.tb_frame.f_code.co_filename.startswith(_RUNTIME_DIRS):
            frames.append(tb)
        tb = tb.tb_next
    out: types.TracebackType | None = None
    for t in reversed(frames):
        out = types.TracebackType(out, t.tb_frame, t.tb_lasti, t.tb_lineno)
    return out


def user_frames(exc: BaseException, tb: types.TracebackType | None) -> types.TracebackType | None:
    """``tb`` (the traceback of ``exc`` as it reached the cell) and its causes' without the runtime's frames, so a
    failed run's traceback starts at the cell and goes straight to the user's line that raised.

    ``AETHER_NB_FULL_TRACEBACKS=1`` keeps every frame (when debugging aether_nb itself), as for stored errors.
    """
    if _full():
        return tb
    seen = {id(exc)}
    effect: BaseException = exc
    cause = exc.__cause__ or exc.__context__
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        kept = _kept(cause.__traceback__)
        if kept is None and (isinstance(cause, AetherError) or isinstance(effect, UsageError)):
            # aether_nb's own verdict on the user's code or data (an undeclared output, an MCP server's error), or
            # what made a UsageError (SQL that DuckDB refused): no frame of theirs is involved, the messages say
            # what happened, and the runtime's or the store's frames would bury them
            cause.__traceback__ = None
        else:
            cause.__traceback__ = kept or cause.__traceback__
        effect = cause
        cause = cause.__cause__ or cause.__context__
    return _kept(tb) or tb


@contextlib.contextmanager
def groups_as_notes(exc: BaseException) -> Iterator[None]:
    """While the block draws ``exc`` in a cell: the first ``ExceptionGroup`` in its chain of causes is cut off the
    chain and described in a note of the exception it caused (:func:`describe_group`), and a group hidden as the
    context of an explicit cause is detached. Everything is put back as it was when the block ends, so the
    exception kept for ``%debug`` and ``sys.last_value`` is the one raised."""
    saved: list[tuple[BaseException, BaseException | None, BaseException | None, bool, list[str] | None]] = []
    seen = {id(exc)}
    effect: BaseException | None = exc
    try:
        while effect is not None:
            cause, context = effect.__cause__, effect.__context__
            shown = cause or context
            group = isinstance(shown, BaseExceptionGroup)
            hidden = cause is not None and isinstance(context, BaseExceptionGroup)
            if group or hidden:
                notes = getattr(effect, "__notes__", None)
                saved.append((effect, cause, context, effect.__suppress_context__, notes))
                effect.__context__ = None
            if group:
                assert isinstance(shown, BaseExceptionGroup)
                effect.__cause__ = None
                effect.__suppress_context__ = True
                effect.__notes__ = [*(notes or []), describe_group(shown)]
                break
            if shown is None or id(shown) in seen:
                break
            seen.add(id(shown))
            effect = shown
        yield
    finally:
        for effect, cause, context, suppress, notes in reversed(saved):
            effect.__cause__, effect.__context__, effect.__suppress_context__ = cause, context, suppress
            if notes is None:
                with contextlib.suppress(AttributeError):
                    del effect.__notes__
            else:
                effect.__notes__ = notes


def describe_group(group: BaseExceptionGroup[BaseException]) -> str:
    """The note that stands for ``group`` below the error it caused: the group's line, then each error it holds
    (nested groups' too) with the lines of the person's code it went through."""
    errors = list(_leaves(group))
    lines = [f"Caused by {_one_line(group)}, holding {len(errors)} error{'s' if len(errors) != 1 else ''}:"]
    for error in errors[:MAX_GROUP_ERRORS]:
        lines.append(f"  {_one_line(error)}")
        for frame in traceback.extract_tb(error.__traceback__):
            if not _full() and frame.filename.startswith(_RUNTIME_DIRS + _LIBRARY_DIRS):
                continue
            lines.append(f'    File "{frame.filename}", line {frame.lineno}, in {frame.name}')
            if frame.line:
                lines.append(f"      {frame.line.strip()}")
        cause = error.__cause__
        if cause is not None:
            lines.append(f"    caused by {_one_line(cause)}")
    if len(errors) > MAX_GROUP_ERRORS:
        lines.append(f"  … and {len(errors) - MAX_GROUP_ERRORS} more")
    return "\n".join(lines)


def _leaves(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            yield from _leaves(error)
        else:
            yield error


def _one_line(error: BaseException) -> str:
    """``Type: message`` as Python prints it (its module too, when not a builtin), on one line."""
    text = "".join(traceback.format_exception_only(type(error), error)).strip()
    return " ".join(text.split())
