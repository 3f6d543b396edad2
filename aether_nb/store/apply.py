"""Bringing the DuckDB store's typed tables up to date from its history log (see :mod:`aether_nb.store.log`).

An apply writes one frozen generation of the log's rows (:class:`~aether_nb.store.delta.Delta`) to the tables and
records the highest log seq it holds, in one transaction: inserts of new rows and updates of known ones per table
(:func:`plan`), since DuckDB's ``INSERT ... ON CONFLICT`` costs several times more and this process knows which
keys the tables hold.

It never fails because of one row: rows are checked before they are logged (:mod:`aether_nb.store.rows`), and if
DuckDB still refuses the transaction for a data error, the rows it refuses are found by bisection in trial
transactions that are rolled back (:func:`apply_generation`), left out, and reported; the rest is applied.

:class:`Applier` applies in the background, on a connection of its own: it freezes the current generation and
runs the statements without the file's lock, so writes (new log rows) and reads (which merge the frozen
generation) go on meanwhile; only the ``COMMIT`` and the hand-over to the tables' key sets take the lock.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter, not_
from typing import TYPE_CHECKING, Any

import duckdb

from aether_nb.store.delta import Delta
from aether_nb.store.records import RejectedRecord
from aether_nb.store.rows import Rows
from aether_nb.store.schema import (
    EVENT_INSERT,
    INGEST,
    JOURNAL_INSERT,
    KV_DELETE,
    KV_INSERT,
    LOG_APPLIED,
    LOG_DELETE,
    MEMORY_INSERT,
    NODE_INSERT,
    NODE_UPDATE,
    RUN_INSERT,
    RUN_UPDATE,
    WAIT_INSERT,
    WAIT_UPDATE,
    transaction,
)
from aether_nb.store.values import py_text, vector_literal

if TYPE_CHECKING:
    from aether_nb.store.log import FileState

__all__ = ["DATA_ERRORS", "Applier", "Columns", "apply_generation", "execute", "plan", "rollback"]

_log = logging.getLogger("aether_nb")

MAX_TRIALS = 200
"""At most this many trial transactions are spent finding the rows DuckDB refuses before giving up."""

DATA_ERRORS: tuple[type[BaseException], ...] = (
    duckdb.ConversionException,
    duckdb.InvalidInputException,
    duckdb.ConstraintException,
    duckdb.OutOfRangeException,
    duckdb.TypeMismatchException,
)
"""Errors a row can cause. Anything else (I/O, out of memory, a closed connection) fails the whole apply."""

Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Columns:
    """The column lists a bulk statement reads as the relation :data:`~aether_nb.store.schema.INGEST`."""

    lists: list[list[Any]]


Statement = tuple[str, "list[Any] | Columns"]


def execute(con: duckdb.DuckDBPyConnection, statement: Statement) -> None:
    """Run one statement of an apply: a bulk one with its column lists registered on ``con`` as NumPy object
    arrays for the statement's duration (see :func:`aether_nb.store.schema.bulk_insert_sql` for why)."""
    sql, params = statement
    if not isinstance(params, Columns):
        con.execute(sql, params)
        return
    import numpy as np  # (imported by the applier's first apply, see Applier._apply)

    arrays = {f"c{i}": _array(np, col) for i, col in enumerate(params.lists)}
    # Always inside the apply's transaction: when the statement fails, the caller's ROLLBACK drops the
    # registration too (an unregister in the aborted transaction would fail and hide the statement's error).
    con.register(INGEST, arrays)
    con.execute(sql)
    con.unregister(INGEST)


def _array(np: Any, column: list[Any]) -> Any:
    """``column`` as a NumPy array: a column of ints (the order columns) as ``int64``, of bools as ``bool``, of
    floats (``None`` allowed: NumPy's NaN, which DuckDB reads as NULL) as ``float64``; anything else as an object
    array. Why typed: DuckDB samples each object column twice per statement (at its registration and at the
    statement's bind) to guess its type, and converts each number object by object; a typed array it reads as
    it is. A number column holding a real NaN goes as text (``'nan'``), which the statement casts back, since
    DuckDB reads a NaN as NULL, in a ``float64`` array and in an object array alike (a NaN must come back as a
    NaN)."""
    kinds = set(map(type, column))
    count = len(column)
    if len(kinds) == 1:
        kind = next(iter(kinds))
        if kind is int:
            with contextlib.suppress(OverflowError):  # (beyond 64 bits: an object array, as before)
                return np.fromiter(column, dtype=np.int64, count=count)
        elif kind is bool:
            return np.fromiter(column, dtype=np.bool_, count=count)
    if float in kinds and kinds <= _FLOAT_KINDS:
        array = np.array(column, dtype=np.float64)
        if int(np.isnan(array).sum()) == column.count(None):  # (no NaN but those standing for None)
            return array
    array = np.fromiter(column, dtype=object, count=count)
    first = next((v for v in column if v is not None), None)
    if type(first) in (float, int) and (array != array).any():  # (only a NaN is unequal to itself)
        array = np.fromiter((repr(v) if type(v) is float else v for v in column), dtype=object, count=count)
    return array


_FLOAT_KINDS = frozenset({float, type(None)})


_TABLES = ("runs", "waits", "journal", "nodes", "events", "memory", "kv")


def plan(rows: Rows, state: FileState, con: duckdb.DuckDBPyConnection) -> list[Statement]:
    """Bulk statements writing ``rows`` (one row per key) to the typed tables."""
    out: list[Statement] = []
    if rows.runs:
        new = [not state.known_run(r[0], con) for r in rows.runs]
        out += _split(rows.runs, new, RUN_INSERT, RUN_UPDATE)
    if rows.waits:
        new = [not state.known_wait(w[0], con) for w in rows.waits]
        out += _split(rows.waits, new, WAIT_INSERT, WAIT_UPDATE)
    if rows.journal:
        out.append((JOURNAL_INSERT, _columns(rows.journal)))
    if rows.nodes:
        new = list(map(not_, state.known_nodes(rows.nodes, con)))
        out += _split(rows.nodes, new, NODE_INSERT, NODE_UPDATE)
    if rows.memory:
        out.append((MEMORY_INSERT, _columns([(*m[:-1], vector_literal(m[-1])) for m in rows.memory])))
    if rows.kv:
        # Only keys the table may hold are deleted first: the delete scans the whole table, and a state graph
        # writes a new key (a checkpoint) every superstep.
        held = [op for op in rows.kv if not state.kv_absent(op[0], op[1], con)]
        if held:
            out.append((KV_DELETE, Columns([[op[0] for op in held], [op[1] for op in held]])))
        sets = [op[:4] for op in rows.kv if not op[4]]
        if sets:
            out.append((KV_INSERT, _columns(sets)))
    if rows.events:
        out.append((EVENT_INSERT, _columns(rows.events)))
    return out


def _columns(rows: list[Row]) -> Columns:
    """The rows (all of one width) as column lists. Read column by column with ``itemgetter``: ``zip(*rows)``
    holds an iterator per row at once, tens of thousands of objects per apply that count towards the garbage
    collector's next collection in whichever thread allocates next (W5, bench/README)."""
    width = len(rows[0])
    return Columns([list(map(itemgetter(i), rows)) for i in range(width)])


def _split(rows: list[Row], new: list[bool], insert: str, update: str) -> list[Statement]:
    if all(new):  # (all new, or all known: the rows as they are, no Python step per row)
        return [(insert, _columns(rows))]
    if not any(new):
        return [(update, _columns(rows))]
    out: list[Statement] = []
    for flag, sql in ((True, insert), (False, update)):
        part = [row for row, is_new in zip(rows, new, strict=True) if is_new is flag]
        if part:
            out.append((sql, _columns(part)))
    return out


def _statements(rows: Rows, state: FileState, con: duckdb.DuckDBPyConnection, upto: int | None) -> list[Statement]:
    out = plan(rows, state, con)
    if upto is not None:
        out.append((LOG_APPLIED, [upto]))  # with the rows: a segment a crash leaves behind is skipped at open
    if state.legacy_seqs:
        out.append((LOG_DELETE, [list(state.legacy_seqs)]))
    return out


def apply_generation(con: duckdb.DuckDBPyConnection, state: FileState, gen: Delta) -> list[RejectedRecord]:
    """Write ``gen`` to the tables and record its highest log seq, in one transaction on ``con``, and tell
    ``state`` what the tables hold now. Returns the rows DuckDB refused (left out). The caller holds the file's lock.

    Raises:
        duckdb.Error: the apply failed as a whole (I/O, ...): nothing changed.
    """
    rows = gen.rows()
    upto = max(gen.log_seqs) if gen.log_seqs else None
    rejected: list[RejectedRecord] = []
    try:
        _commit(con, _statements(rows, state, con, upto))
    except DATA_ERRORS as exc:
        bad = _find_refused(con, state, rows, exc)
        rejected = [_rejected(table, row, error) for table, row, error in bad]
        refused = {(table, id(row)) for table, row, _ in bad}
        rows = _select(rows, lambda t, r: (t, id(r)) not in refused)
        _commit(con, _statements(rows, state, con, upto))
    state.applied(rows)
    return rejected


def _commit(con: duckdb.DuckDBPyConnection, statements: list[Statement]) -> None:
    if not statements:
        return
    with transaction(con):
        for statement in statements:
            execute(con, statement)


# -- the background applier -----------------------------------------------------------------------------------------
class Applier:
    """A daemon thread that applies the log when it is due (see :meth:`FileState.apply_due`), on its own
    connection (``connect()``) to the file's database.

    Args:
        state: the file state (its lock, condition and pending rows).
        connect: opens a connection to the same database (same process: DuckDB shares the open instance).
        location: the file, for messages.
    """

    def __init__(self, state: FileState, connect: Callable[[], duckdb.DuckDBPyConnection], location: str) -> None:
        self.state = state
        self.location = location
        self.con = connect()
        self.stopping = False
        self._retry_at = 0.0
        self._thread = threading.Thread(target=self._run, name="aether-duckdb-apply", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish the apply in flight (if any), then end the thread and close its connection."""
        with self.state.changed:
            self.stopping = True
            self.state.changed.notify_all()
        self._thread.join(timeout=60)
        try:
            self.con.close()
        except duckdb.Error as exc:  # the thread is gone; nothing else uses this connection
            _log.warning("aether_nb: closing the applier's connection to %s failed: %s", self.location, exc)

    def _run(self) -> None:
        while not self.stopping:
            try:
                self._round()
            except Exception:  # a bug must not leave the log half handed over: rows pending again, retried later
                with self.state.changed:
                    _log.exception("aether_nb: the history log applier of %s failed", self.location)
                    rollback(self.con)
                    self._failed_quietly()

    def _round(self) -> None:
        state = self.state
        while True:
            with state.changed:
                while True:
                    if self.stopping:
                        return
                    now = time.monotonic()
                    wait = state.apply_due(now)  # 0: due; None: nothing pending; else seconds until due
                    if now < self._retry_at:
                        wait = self._retry_at - now if wait is None else max(wait, self._retry_at - now)
                    if wait == 0.0:
                        break
                    state.changed.wait(timeout=wait)
                gen = state.freeze()
                try:
                    statements = _statements(gen.rows(), state, self.con, max(gen.log_seqs, default=None))
                except duckdb.Error as exc:
                    self._failed(exc)
                    continue
            self._apply(gen, statements)
            del gen, statements  # not kept alive while waiting for the next apply

    def _apply(self, gen: Delta, statements: list[Statement]) -> None:
        """The statements without the lock (writes and reads go on); the commit with it."""
        # NumPy (for the bulk statements, see execute) is imported here, by the first apply, without the lock:
        # not when the file is opened, where its ~100 ms of import would hold the GIL against the first runs.
        import numpy  # noqa: F401

        state, con = self.state, self.con
        error: duckdb.Error | None = None
        try:
            con.execute("BEGIN TRANSACTION")
            for statement in statements:
                execute(con, statement)
        except duckdb.Error as exc:
            error = exc
            rollback(con)
        with state.changed:
            try:
                if error is None:
                    con.execute("COMMIT")
                    state.applied(gen.rows())
                elif isinstance(error, DATA_ERRORS):  # one row DuckDB refuses: find it with the lock held (rare)
                    state.late_rejects += apply_generation(con, state, gen)
                else:
                    raise error
            except duckdb.Error as exc:
                rollback(con)
                self._failed(exc)
                return
            state.committed()
            self._retry_at = 0.0

    def _failed(self, exc: BaseException) -> None:
        """Under the lock: the frozen rows are pending again, and the next try waits a little."""
        self._failed_quietly()
        _log.warning("aether_nb: applying the history log of %s failed (will retry): %s", self.location, exc)

    def _failed_quietly(self) -> None:
        self.state.pending.thaw()
        self._retry_at = time.monotonic() + 1.0
        self.state.changed.notify_all()


def rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back the transaction of ``con`` if one is open (a failed ``BEGIN`` or ``COMMIT`` leaves none)."""
    try:
        con.execute("ROLLBACK")
    except duckdb.TransactionException as exc:
        _log.debug("aether_nb: no transaction to roll back: %s", exc)


# -- finding the rows DuckDB refuses --------------------------------------------------------------------------------
def _select(rows: Rows, keep: Callable[[str, Row], bool]) -> Rows:
    """The rows of ``rows`` that ``keep(table, row)`` accepts."""
    return Rows(
        runs=[r for r in rows.runs if keep("runs", r)],
        waits=[r for r in rows.waits if keep("waits", r)],
        journal=[r for r in rows.journal if keep("journal", r)],
        nodes=[r for r in rows.nodes if keep("nodes", r)],
        events=[r for r in rows.events if keep("events", r)],
        memory=[r for r in rows.memory if keep("memory", r)],
        kv=[r for r in rows.kv if keep("kv", r)],
    )


class _GaveUp(Exception):
    pass


@dataclass
class _Search:
    con: duckdb.DuckDBPyConnection
    state: FileState
    rows: Rows
    trials: int = 0
    found: list[tuple[str, Row, str]] = field(default_factory=list)

    def error_of(self, items: list[tuple[str, Row]]) -> str | None:
        """Try writing ``items`` in a transaction that is rolled back: the error, or None if it worked."""
        self.trials += 1
        if self.trials > MAX_TRIALS:
            raise _GaveUp
        chosen = {(t, id(r)) for t, r in items}
        rows = _select(self.rows, lambda t, r: (t, id(r)) in chosen)
        self.con.execute("BEGIN TRANSACTION")
        try:
            for statement in plan(rows, self.state, self.con):
                execute(self.con, statement)
        except DATA_ERRORS as exc:
            return str(exc)
        finally:
            self.con.execute("ROLLBACK")
        return None

    def search(self, items: list[tuple[str, Row]], error: str) -> None:
        if len(items) == 1:
            self.found.append((items[0][0], items[0][1], error))
            return
        mid = len(items) // 2
        for part in (items[:mid], items[mid:]):
            err = self.error_of(part)
            if err is not None:
                self.search(part, err)


def _find_refused(
    con: duckdb.DuckDBPyConnection, state: FileState, rows: Rows, exc: BaseException
) -> list[tuple[str, Row, str]]:
    """The rows DuckDB refuses, by bisection; re-raises ``exc`` when no single row is to blame."""
    items = [(t, r) for t in _TABLES for r in getattr(rows, t)]
    search = _Search(con, state, rows)
    try:
        search.search(items, str(exc))
    except _GaveUp:
        raise exc from None
    if not search.found:
        raise exc
    return search.found


def _rejected(table: str, row: Row, error: str) -> RejectedRecord:
    kind = {"runs": "run", "waits": "wait", "nodes": "node", "events": "event"}.get(table, table)
    run_id: Any
    key: Any
    if table == "runs":
        run_id, key = row[0], row[0]
    elif table in ("waits", "journal"):
        run_id, key = row[1], row[2]
    elif table == "nodes":
        run_id, key = row[0], row[1]
    elif table == "events":
        run_id, key = row[0], None
    elif table == "memory":
        run_id, key = row[8], row[1]
    else:
        run_id, key = None, row[1]
    node = key if table in ("waits", "journal", "nodes") else (row[9] if table == "memory" else None)
    return RejectedRecord(kind, py_text(run_id), py_text(key), f"DuckDB refused the row: {error}", py_text(node))
