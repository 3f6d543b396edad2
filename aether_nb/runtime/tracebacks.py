"""Tracebacks that start at the user's code: the runtime's own frames are cut out of a failed run's exception.

A tool that raises inside a run passes through a dozen frames of the step engine, the scheduler and asyncio before
it reaches the cell that awaits the run. Those frames say nothing to the person reading the error, so the
traceback a run keeps (and the notebook shows) holds only frames outside aether_nb and asyncio. Set
``AETHER_NB_FULL_TRACEBACKS=1`` to keep every frame (when debugging aether_nb itself).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
import types
from pathlib import Path

_HIDDEN = (
    str(Path(__file__).resolve().parent.parent) + os.sep,  # the aether_nb package
    str(Path(asyncio.__file__).resolve().parent) + os.sep,
    str(Path(concurrent.futures.__file__).resolve().parent) + os.sep,  # the thread a sync tool body ran in
    str(Path(threading.__file__).resolve()),
)


def _hidden(tb: types.TracebackType) -> bool:
    return tb.tb_frame.f_code.co_filename.startswith(_HIDDEN)


def trimmed(tb: types.TracebackType | None) -> types.TracebackType | None:
    """``tb`` without the frames of aether_nb and asyncio (unchanged when nothing else is left)."""
    frames = []
    while tb is not None:
        frames.append(tb)
        tb = tb.tb_next
    kept = [t for t in frames if not _hidden(t)]
    if not kept:
        return frames[0] if frames else None
    out: types.TracebackType | None = None
    for t in reversed(kept):
        out = types.TracebackType(out, t.tb_frame, t.tb_lasti, t.tb_lineno)
    return out


def user_traceback(exc: BaseException) -> None:
    """Cut the runtime's frames out of ``exc``'s traceback (and of its causes'), in place."""
    if os.environ.get("AETHER_NB_FULL_TRACEBACKS"):
        return
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.__traceback__ = trimmed(current.__traceback__)
        current = current.__cause__ or current.__context__
