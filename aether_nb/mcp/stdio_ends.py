"""How a served module's process ends when it cannot serve: its store held by another process, or its client gone.

Both are ordinary for a server that MCP clients start (one per host window, a host that quits or is killed): what
the person reading the host's log needs is one line that says what happened and what to do, not the notebook
advice of the store's own lock error nor a traceback of the stdio transport's task group.
"""

from __future__ import annotations

import re

import anyio

from aether_nb.errors import StorageError

CLIENT_GONE = (BrokenPipeError, ConnectionResetError, anyio.BrokenResourceError, anyio.ClosedResourceError)
"""What the stdio transport raises when the client's end of the pipes closed (the client exited or was killed)."""


def store_held(store: str, exc: StorageError) -> StorageError:
    """The error a server reports when ``store`` (``exc``: the store's own ``code="locked"`` error) is held by another
    process: a DuckDB file backs one process at a time, so two servers (two clients each starting one) need a file
    each."""
    match = re.search(r"PID (\d+)", exc.message)
    holder = f"another process (PID {match.group(1)})" if match else "another process"
    return StorageError(
        f"cannot open the aether_nb store {store}: {holder} serves or holds it (another "
        "`python -m aether_nb.mcp serve` with the same --store, or a notebook using that file). A store file backs "
        "one process at a time: give each server its own --store file, or stop the other process.",
        code="locked",
    )


def client_went_away(group: BaseExceptionGroup[BaseException]) -> bool:
    """Whether every error of ``group`` (the stdio transport's task group) says the client's pipes closed."""
    _, rest = group.split(CLIENT_GONE)
    return rest is None
