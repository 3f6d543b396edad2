"""A read-only DuckDB store's tables as they are once its history log is applied, for the reads that run SQL.

Why: a store opened ``read_only=True`` on the file of a process that was killed cannot apply that process's
history log (the rows are durable in ``<file>.history-log/`` but not in the tables, see
:mod:`aether_nb.store.log`). Its typed reads merge the pending rows in Python (:mod:`aether_nb.store.reads`), but
``sql()`` and ``memory_search()`` run SQL over the tables: they read stale rows (a run still ``running`` that the
log says succeeded) or none (a run only the log holds), silently.

:func:`lay_over` makes the tables whole on one cursor instead, inside its transaction (which the caller rolls
back): DuckDB allows temporary objects on a read-only database, and a temporary table or view shadows the file's
table of the same name (``runs`` and ``main.runs`` both read it). The pending rows are written there by the
apply's own statements (:func:`aether_nb.store.apply.plan`), so the query sees exactly the rows an apply would
leave:

* a table the apply only appends to (journal, events, memory) becomes a view of the file's table and a temporary
  table of the pending rows (cost: the pending rows, however big the table);
* a table whose rows the apply updates (runs, waits, nodes, kv) is copied whole, then updated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb

from aether_nb.store.apply import execute, plan
from aether_nb.store.delta import Delta, Pending
from aether_nb.store.rows import Rows

if TYPE_CHECKING:
    from aether_nb.store.log import FileState

__all__ = ["LOGGED_TABLES", "lay_over", "pending_rows", "shadow"]

LOGGED_TABLES = ("runs", "waits", "journal", "nodes", "events", "memory", "kv")
"""The tables the history log writes (artifacts are written to the table directly)."""

_APPEND_ONLY = frozenset({"journal", "events", "memory"})
_PENDING_PREFIX = "aether_pending_"


def pending_rows(pending: Pending) -> Rows:
    """Every pending row, one per key, as an apply of both generations in order would write them."""
    if pending.applying is None:
        return pending.current.rows()
    merged = Delta()
    merged.add(pending.applying.rows())
    merged.add(pending.current.rows())
    return merged.rows()


def lay_over(
    cur: duckdb.DuckDBPyConnection,
    state: FileState,
    main: duckdb.DuckDBPyConnection,
    tables: tuple[str, ...] = LOGGED_TABLES,
) -> None:
    """Shadow each of ``tables`` that the log has rows for, on ``cur`` (in a transaction its caller rolls back),
    with the table plus those rows. ``main`` is a connection of the same database without the shadows (the
    apply's plan reads which keys the file's tables hold there). Raises duckdb.Error."""
    rows = pending_rows(state.pending)
    shadow(cur, Rows(**{t: (getattr(rows, t) if t in tables else []) for t in LOGGED_TABLES}), state, main)


def shadow(cur: duckdb.DuckDBPyConnection, rows: Rows, state: FileState, main: duckdb.DuckDBPyConnection) -> None:
    """Shadow each table ``rows`` touches, on ``cur`` (in a transaction its caller rolls back), with the table plus
    ``rows``, written there by the apply's own statements (so the query sees what an apply would leave). ``main``:
    a connection of the same database without the shadows. Raises duckdb.Error."""
    touched = [t for t in LOGGED_TABLES if getattr(rows, t)]
    if not touched:
        return
    statements = plan(rows, state, main)
    row = cur.execute("SELECT current_database()").fetchone()
    catalog = '"' + str(row[0] if row else "").replace('"', '""') + '"'
    for table in touched:
        limit = " LIMIT 0" if table in _APPEND_ONLY else ""
        cur.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM {catalog}.main.{table}{limit}")
    for statement in statements:
        execute(cur, statement)
    for table in touched:
        if table in _APPEND_ONLY:
            cur.execute(f"ALTER TABLE temp.main.{table} RENAME TO {_PENDING_PREFIX}{table}")
            cur.execute(
                f"CREATE TEMP VIEW {table} AS SELECT * FROM {catalog}.main.{table} "
                f"UNION ALL SELECT * FROM temp.main.{_PENDING_PREFIX}{table}"
            )
