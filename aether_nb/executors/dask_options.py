"""What ``ag.DaskExecutor`` checks before it starts a local cluster, and what it says when the cluster will not start:
a wrong option, or a script's worker processes starting the cluster again, fail inside distributed's workers, whose
own error is only in distributed's log."""

from __future__ import annotations

import difflib
import functools
import inspect
import os
import sys
from typing import Any

from aether_nb.errors import UsageError, shown
from aether_nb.executors.payload import remote_module

__all__ = ["REACH_HINT", "check_cluster_options", "check_count", "distributed_dir", "start_hint", "where_from"]


def cluster_option_names() -> set[str]:
    """What a ``LocalCluster`` takes: its own arguments and those it passes on to each worker (a ``Nanny`` with
    processes, a ``Worker`` without, and the ``Server`` under both)."""
    from distributed import LocalCluster, Nanny, Worker
    from distributed.core import Server

    names: set[str] = set()
    for cls in (LocalCluster, Nanny, Worker, Server):
        params = inspect.signature(cls.__init__).parameters.values()
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return names - {"self"}


def check_cluster_options(options: dict[str, Any]) -> None:
    """A misspelt option would reach each worker process and fail there as "Nanny failed to start", its
    ``TypeError`` only in distributed's log: say which name is unknown, and the nearest known ones, here."""
    if not options:
        return
    known = cluster_option_names()
    for name in options:
        if name not in known:
            near = difflib.get_close_matches(name, sorted(known), n=3)
            hint = f"; did you mean {', '.join(near)}?" if near else " (see distributed.LocalCluster's arguments)"
            raise UsageError(f"DaskExecutor: {shown(name)} is not an option of a LocalCluster or its workers{hint}")


def check_count(value: Any, name: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise UsageError(f"DaskExecutor({name}=...) must be a positive int or None, got {shown(value)}")


REACH_HINT = "Check the address and that the scheduler runs. "


def start_hint(options: dict[str, Any]) -> str:
    """Why a local cluster fails to start, most likely first. Its worker processes are spawned: each re-imports the
    script as ``__mp_main__``, so a script that starts the executor at module level, without an ``if __name__ ==
    "__main__":`` guard, starts a cluster again inside every worker, where it fails ("Nanny failed to start": a
    daemonic process cannot have children); the real cause is only in distributed's log. A notebook has no such
    problem (its ``__main__`` is not re-imported)."""
    script = getattr(sys.modules.get("__mp_main__") or sys.modules.get("__main__"), "__file__", None)
    guard = ""
    if script and options.get("processes", True):
        where = "this is one of them, re-importing" if "__mp_main__" in sys.modules else "they re-import"
        guard = (
            'In a script, the likely cause is a missing `if __name__ == "__main__":` guard: the cluster\'s worker '
            f"processes are spawned and {where} {script}, so put the code that starts the run "
            "(asyncio.run(main())) under that guard. "
        )
    return f"{guard}Check the cluster options (and distributed's log above for the workers' own error). "


@functools.cache
def distributed_dir() -> str:
    """distributed's own folder: its frames are left out of a body's traceback."""
    import distributed

    return os.path.dirname(distributed.__file__) + os.sep


def where_from(exc: BaseException) -> str | None:
    """The worker an exception came from: a KilledWorker's last worker, or the note :func:`remote.run_body` adds."""
    last = getattr(exc, "last_worker", None)
    address = getattr(last, "address", None)
    if isinstance(address, str):
        return address
    prefix = remote_module().WHERE_NOTE
    for note in getattr(exc, "__notes__", None) or ():
        if isinstance(note, str) and note.startswith(prefix):
            return note[len(prefix) :]
    return None
