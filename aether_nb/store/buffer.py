"""The write buffer of the DuckDB store: node and event rows that wait in memory to go out in one insert.

DuckDB commits single rows at ~1-4k rows/s but bulk-inserts column lists (``INSERT ... SELECT unnest(?), ...``)
at ~36k-300k rows/s, so :class:`~aether_nb.store.duckdb.DuckDBStore` batches its cosmetic writes
(``put_node``, ``append_events``) here. This module holds the pending rows, decides when they are due
(age or size), writes them in one transaction and owns the background timer; the store decides *when* to ask
(under its own lock) and maps errors.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import duckdb

from aether_nb.store.schema import EVENT_FLUSH_SQL, NODE_FLUSH_SQL, transaction

__all__ = ["MAX_BUFFERED_ROWS", "WriteBuffer"]

MAX_BUFFERED_ROWS = 10_000
"""Write the buffer out early when it holds this many rows, whatever its age."""


class WriteBuffer:
    """Pending ``nodes`` upserts (one per ``(run_id, node_id)``) and ``events`` inserts. Not thread-safe: the
    owning store calls it under its lock, including from :meth:`schedule`'s callback.

    Args:
        interval_s: how long rows may wait before they are due.
    """

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._nodes: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._events: list[tuple[str, int, str]] = []
        self._since: float | None = None
        self._timer: threading.Timer | None = None

    @property
    def pending(self) -> bool:
        """Whether rows have been added since the last write."""
        return self._since is not None

    def add_node(self, key: tuple[str, str], row: tuple[Any, ...], next_seq: Callable[[], int]) -> None:
        """Queue a node row (without its seq); a node already queued keeps its seq, else ``next_seq()``."""
        prev = self._nodes.get(key)
        # A node already in the file keeps its seq there (ON CONFLICT leaves seq alone).
        self._nodes[key] = (*row, prev[-1] if prev is not None else next_seq())
        self._touch()

    def add_events(self, run_id: str, texts: Iterable[str], next_seq: Callable[[], int]) -> None:
        self._events.extend((run_id, next_seq(), t) for t in texts)
        self._touch()

    def _touch(self) -> None:
        if self._since is None:
            self._since = time.monotonic()

    def due(self) -> bool:
        """Whether the rows are old enough, or many enough, to be written now."""
        if self._since is None:
            return False
        return (
            time.monotonic() - self._since >= self.interval_s
            or len(self._nodes) + len(self._events) >= MAX_BUFFERED_ROWS
        )

    def write(self, con: duckdb.DuckDBPyConnection) -> None:
        """Write every pending row in one transaction, then empty the buffer and cancel the timer. On error
        the transaction is rolled back and the rows stay for the next try."""
        if self._since is None:
            return
        with transaction(con):
            if self._nodes:
                con.execute(NODE_FLUSH_SQL, [list(col) for col in zip(*self._nodes.values(), strict=True)])
            if self._events:
                con.execute(EVENT_FLUSH_SQL, [list(col) for col in zip(*self._events, strict=True)])
        self._nodes.clear()
        self._events.clear()
        self._since = None
        self.cancel_timer()

    def schedule(self, callback: Callable[[], None]) -> None:
        """Start a daemon timer that calls ``callback`` after ``interval_s``, unless one is already running."""
        if self._timer is None:
            self._timer = threading.Timer(self.interval_s, callback)
            self._timer.daemon = True
            self._timer.name = "aether-duckdb-flush"
            self._timer.start()

    def timer_fired(self) -> None:
        """Called first by the timer's callback: the timer is gone, a later :meth:`schedule` starts another."""
        self._timer = None

    def cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
