"""SQL over a DuckDB store whose history could not all be written: its tables with the rest laid over them.

Why: ``ag.store().sql(...)`` reads the whole history, so a writable store applies its history log to the tables
first, and the runtime writes the history it still holds in memory before that. On a full disk both writes fail,
and so did the query, though it writes nothing: the user could not inspect the runs a full disk held back. Here
the query instead reads the tables with what they lack laid over them, for this query only (a transaction rolled
back, as :mod:`aether_nb.store.overlay` does for a read-only store): the log's rows not applied, then the
records the runtime could not write (:class:`~aether_nb.store.records.HistoryBatch`). Nothing is written, nothing
is dropped: the log is applied and the batch written by their next try, as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aether_nb.store.delta import Delta
from aether_nb.store.overlay import LOGGED_TABLES, pending_rows
from aether_nb.store.records import HistoryBatch
from aether_nb.store.rows import Rows, encode_batch

if TYPE_CHECKING:
    from aether_nb.store.log import FileState

__all__ = ["missing_rows"]


def missing_rows(state: FileState, batch: HistoryBatch | None) -> Rows | None:
    """The rows the tables lack: the log's pending rows, then ``batch``'s (each record the store can hold, with
    new order values, after the log's), one per key; None when there are none. Under the store's lock."""
    merged = Delta()
    if state.pending:
        merged.add(pending_rows(state.pending))
    if batch is not None:
        merged.add(encode_batch(batch, state.next))  # (order values are never reused: skipping some is harmless)
    rows = merged.rows()
    return rows if any(getattr(rows, t) for t in LOGGED_TABLES) else None
