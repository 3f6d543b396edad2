"""Remote tracebacks that point at the kernel's code.

cloudpickle sends functions defined in notebook cells by value and, on the way, renames the file of their code to
``"<dynamic-code>"`` (so that its payloads are deterministic). Dask brings a failed body's exception back with its
traceback (rebuilt by tblib), whose frames then name no file and show no source. :func:`restore_files` gives each
such frame the file of the kernel-side function it ran, matched by name and line range, so the traceback shows the
cell's lines (IPython keeps each cell's source under its file name), and the executor's own frame on the worker is
recognised as aether_nb's (and trimmed from what the user sees). :func:`rebuild_exit` does the same for a body's
``SystemExit`` / ``KeyboardInterrupt``, which the worker sends back as data rather than raise, and
:func:`rebuild_raised` rebuilds any other exception of a body, also sent back as data (so Dask never logs it).
"""

from __future__ import annotations

import inspect
import itertools
import pickle
import types
from collections.abc import Callable, Iterable, Iterator
from typing import Any

DYNAMIC = "<dynamic-code>"


def restore_files(exc: BaseException, functions: Iterable[Callable[..., Any]], drop: tuple[str, ...] = ()) -> None:
    """Rewrite, in place, the frames of ``exc``'s traceback whose file cloudpickle erased, using the code of
    ``functions`` and of the functions defined beside them (same module namespace); frames of files under one of
    the ``drop`` folders (Dask's client re-raising the remote error) are left out."""
    tb = exc.__traceback__
    files = [t.tb_frame.f_code.co_filename for t in _walk(tb)]
    if tb is None or not any(f == DYNAMIC or f.startswith(drop) for f in files):
        return
    from tblib import Traceback

    codes = list(_codes(functions))
    kept: list[dict[str, Any]] = []
    node: dict[str, Any] | None = Traceback(tb).as_dict()
    while node is not None:
        code = node["tb_frame"]["f_code"]
        if code["co_filename"] == DYNAMIC:
            found = _find(codes, code["co_name"], node["tb_lineno"])
            if found is not None:
                code["co_filename"] = found
        if not (drop and code["co_filename"].startswith(drop)):
            kept.append(node)
        node = node["tb_next"]
    if not kept:
        return
    for earlier, later in itertools.pairwise(kept):
        earlier["tb_next"] = later
    kept[-1]["tb_next"] = None
    exc.__traceback__ = Traceback.from_dict(kept[0]).as_traceback()


def rebuild_exit(data: bytes, functions: Iterable[Callable[..., Any]]) -> BaseException:
    """The ``SystemExit`` / ``KeyboardInterrupt`` a body raised on a worker, from ``remote.exit_payload``: made
    again (``code`` set by its ``__init__``), with its notes and its traceback pointing at the kernel's code."""
    exc: BaseException
    try:
        kind, args, notes, frames = pickle.loads(data)
        exc = kind(*args)
        for note in notes:
            exc.add_note(note)
        if frames is not None:
            from tblib import Traceback

            exc.__traceback__ = Traceback.from_dict(frames).as_traceback()
            restore_files(exc, functions)
    except Exception as load_exc:  # (a SystemExit subclass the kernel cannot unpickle or make)
        exc = SystemExit(f"<not rebuilt here: {type(load_exc).__name__}: {load_exc}>")
    return exc


def rebuild_raised(data: tuple[bytes, bytes | None]) -> BaseException:
    """The exception a body raised on a worker, from ``remote.raised_payload``, with its remote traceback: made
    by ``distributed.core.clean_exception``, as Dask's client makes a failed task's error (one that does not
    unpickle here becomes an ``Exception`` of its bytes), so it is the same error as when Dask raised it."""
    from distributed.core import clean_exception

    exception, frames = data
    _, exc, traceback = clean_exception(exception, frames)
    if exc is None:  # (clean_exception only returns None for None)
        exc = Exception("a Dask worker sent back no exception")
    return exc.with_traceback(traceback)


def _walk(tb: types.TracebackType | None) -> Iterator[types.TracebackType]:
    while tb is not None:
        yield tb
        tb = tb.tb_next


def _codes(functions: Iterable[Callable[..., Any]]) -> Iterator[types.CodeType]:
    """The code of each function, of the functions and class methods of its module namespace, and the code nested
    in all of them (lambdas, inner functions)."""
    seen: set[int] = set()
    pending: list[Any] = []
    for fn in functions:
        pending.append(fn)
        module = getattr(fn, "__module__", None)
        for value in list(getattr(fn, "__globals__", {}).values()):
            if inspect.isclass(value) and value.__module__ == module:
                pending.extend(vars(value).values())
            elif getattr(value, "__module__", None) == module:
                pending.append(getattr(value, "fn", value))  # an @ag.tool wraps its function
    stack = [c for c in (getattr(inspect.unwrap(f), "__code__", None) for f in pending if callable(f)) if c]
    while stack:
        code = stack.pop()
        if id(code) in seen:
            continue
        seen.add(id(code))
        yield code
        stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))


def _find(codes: list[types.CodeType], name: str, line: int) -> str | None:
    for code in codes:
        if code.co_name != name:
            continue
        lines = [n for _, _, n in code.co_lines() if n is not None]
        if lines and min(code.co_firstlineno, *lines) <= line <= max(lines):
            return code.co_filename
    return None
