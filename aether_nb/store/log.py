"""The DuckDB store's write path: one statement per durable batch, applied to the typed tables later.

Why: on this machine a DuckDB statement costs ~0.5-1 ms and a commit ~0.5 ms whatever it carries, so a pause
(run, wait, node, events, chat turn: five tables) written table by table costs ~10-15 ms, where one insert of one
row costs ~1 ms. So a batch of history is written as **one row of ``history_log``** (its rows as JSON text, see
:meth:`~aether_nb.store.rows.Rows.to_json`) in one autocommit statement: once that returns, the batch is durable.
The typed tables (runs, waits, journal, nodes, events, memory, kv) are brought up to date from the log later, in
one transaction that also deletes the log rows it applied (:func:`apply`):

* when the log holds :data:`APPLY_ROWS` rows or :data:`APPLY_BATCHES` batches, right after the write that got
  it there;
* when the store has been idle for a while (a timer of the store), at ``sql()`` and the other reads that need
  whole tables, and at ``close()``;
* when the file is opened again after a process died with a non-empty log (:meth:`FileState.recover`).

Until then the log's rows are kept in memory as a :class:`Delta`, which the store merges into every read: only
this process can write the file (DuckDB's lock), so what it wrote is all the file lacks. A batch with
:data:`DIRECT_ROWS` rows or more skips the log: the log's pending rows and the batch go to the typed tables in one
transaction (the statements' fixed cost is small next to thousands of rows, and a big batch is not latency bound).

Applying never fails because of one record: rows are checked before they are logged
(:func:`~aether_nb.store.rows.encode_batch`); if DuckDB still refuses the transaction for a data error, the rows
it refuses are found by bisection in rolled-back trial transactions, left out and reported
(:class:`~aether_nb.store.records.RejectedRecord`), and the rest is applied.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import duckdb

from aether_nb.store.cache import RunCache
from aether_nb.store.records import FINISHED_RUN_STATUSES, RejectedRecord
from aether_nb.store.rows import Rows, py_text, unpack_vector
from aether_nb.store.schema import (
    EVENT_INSERT,
    JOURNAL_INSERT,
    KV_DELETE,
    KV_INSERT,
    LOG_DELETE,
    LOG_SELECT,
    MEMORY_INSERT,
    NODE_INSERT,
    NODE_UPDATE,
    RUN_INSERT,
    RUN_UPDATE,
    WAIT_INSERT,
    WAIT_UPDATE,
    transaction,
)

__all__ = ["APPLY_BATCHES", "APPLY_ROWS", "DIRECT_ROWS", "KV_KEYS_MAX", "Delta", "FileState", "apply"]

_log = logging.getLogger("aether_nb")

APPLY_ROWS = 5_000
"""Apply the log once it holds this many rows (bounds the memory the delta takes and the time one apply takes)."""
APPLY_BATCHES = 500
"""Apply the log once it holds this many batches (each apply deletes them: the log table stays small)."""
DIRECT_ROWS = 500
"""A batch with this many rows or more is written straight to the typed tables (with the log's pending rows)."""
KV_PRELOAD_ROWS = 10_000
KV_PRELOAD_BYTES = 4 << 20
"""A KV table this small is read whole into the read cache when the file is opened."""
KV_KEYS_MAX = 200_000
"""Up to this many KV keys, the store keeps the set of keys the table holds, so a read of a missing key costs no
query (a state graph's first checkpoint reads, say)."""
MAX_TRIALS = 200
"""At most this many trial transactions are spent finding the rows DuckDB refuses before giving up."""

_DATA_ERRORS: tuple[type[BaseException], ...] = (
    duckdb.ConversionException,
    duckdb.InvalidInputException,
    duckdb.ConstraintException,
    duckdb.OutOfRangeException,
    duckdb.TypeMismatchException,
)
"""Errors a row can cause. Anything else (I/O, out of memory, a closed connection) fails the whole write."""

Statement = tuple[str, list[Any]]


class Delta:
    """Rows written to the log and not yet to the typed tables, merged the way the tables would hold them.

    Keys are the stored (``db_text``) forms. A run, wait or node keeps its first order value (an update never
    changes the order column); journal entries, events and memory events are appended; for a KV key the last
    write wins.
    """

    def __init__(self) -> None:
        self.log_seqs: list[int] = []
        self.runs: dict[str, tuple[Any, ...]] = {}
        self.waits: dict[str, tuple[Any, ...]] = {}
        self.journal: dict[str, list[tuple[Any, ...]]] = {}
        self.nodes: dict[str, dict[str, tuple[Any, ...]]] = {}
        self.events: dict[str, list[tuple[Any, ...]]] = {}
        self.memory: list[tuple[Any, ...]] = []
        self.kv: dict[tuple[str, str], tuple[Any, ...]] = {}
        self.size = 0

    def __bool__(self) -> bool:
        return self.size > 0

    def add(self, rows: Rows, log_seq: int | None = None) -> None:
        if log_seq is not None:
            self.log_seqs.append(log_seq)
        for r in rows.runs:
            prev = self.runs.get(r[0])
            self.runs[r[0]] = r if prev is None else (*r[:-1], prev[-1])
        for w in rows.waits:
            prev = self.waits.get(w[0])
            self.waits[w[0]] = w if prev is None else (*w[:-1], prev[-1])
        for e in rows.journal:
            self.journal.setdefault(e[1], []).append(e)
        for n in rows.nodes:
            known = self.nodes.setdefault(n[0], {})
            prev = known.get(n[1])
            known[n[1]] = n if prev is None else (*n[:-1], prev[-1])
        for ev in rows.events:
            self.events.setdefault(ev[0], []).append(ev)
        self.memory.extend(rows.memory)
        for op in rows.kv:
            self.kv[(op[0], op[1])] = op
        self.size += len(rows)

    def rows(self) -> Rows:
        """Everything pending, one row per key, in the shape :func:`plan` writes."""
        return Rows(
            runs=list(self.runs.values()),
            waits=list(self.waits.values()),
            journal=[e for entries in self.journal.values() for e in entries],
            nodes=[n for known in self.nodes.values() for n in known.values()],
            events=[ev for evs in self.events.values() for ev in evs],
            memory=list(self.memory),
            kv=list(self.kv.values()),
        )

    def touches(self, *tables: str) -> bool:
        """Whether any of ``tables`` has pending rows."""
        return any(getattr(self, t) for t in tables)


class FileState:
    """What this process knows of one file, shared by every DuckDBStore of the process open on it (DuckDB gives
    them one database): the lock, the next order value, the keys the typed tables hold, the :class:`Delta`, the
    KV read cache and rejected rows not reported yet.

    Only one process can have a file open for writing, so the counter starts from the file's largest order value
    and the key sets, read once per table, stay true while this process holds the file.
    """

    def __init__(self, start: int) -> None:
        self.lock = threading.RLock()
        self.users = 0
        self.delta = Delta()
        self.kv_cache: dict[tuple[str, str], tuple[str, float | None] | None] = {}
        self.late_rejects: list[RejectedRecord] = []
        self.min_expiry: float | None = None
        self.min_expiry_known = False
        self.cache = RunCache()
        self._value = start
        self._runs: dict[str, bool] | None = None  # run id -> finished, for the runs the tables hold
        self._kv_keys: set[tuple[str, str]] | None = None  # (scope, key) of the KV table, when not too many
        self._kv_keys_read = False
        self._tokens: set[str] | None = None
        self._nodes: dict[str, set[str]] = {}

    def next(self) -> int:
        self._value += 1
        return self._value

    # -- keys the typed tables hold ----------------------------------------------------------------------------
    def _run_table(self, con: duckdb.DuckDBPyConnection) -> dict[str, bool]:
        if self._runs is None:
            rows = con.execute("SELECT run_id, status FROM runs").fetchall()
            self._runs = {r: py_text(st) in FINISHED_RUN_STATUSES for r, st in rows}
        return self._runs

    def known_run(self, run_id: str, con: duckdb.DuckDBPyConnection) -> bool:
        """Whether the ``runs`` table holds this run (ids read once; the log's runs are in :attr:`delta`)."""
        return run_id in self._run_table(con)

    def unfinished(self, run_id: str, con: duckdb.DuckDBPyConnection) -> bool:
        """Whether the file holds this run, not finished (the log's record first, then the table's)."""
        row = self.delta.runs.get(run_id)
        if row is not None:
            return py_text(row[2]) not in FINISHED_RUN_STATUSES
        done = self._run_table(con).get(run_id)
        return done is not None and not done

    def unfinished_runs(self, con: duckdb.DuckDBPyConnection) -> list[str]:
        """Every run of the file that is not finished (stored ids)."""
        out = {r for r, done in self._run_table(con).items() if not done}
        for r, row in self.delta.runs.items():
            if py_text(row[2]) in FINISHED_RUN_STATUSES:
                out.discard(r)
            else:
                out.add(r)
        return sorted(out)

    def known_wait(self, token: str, con: duckdb.DuckDBPyConnection) -> bool:
        if self._tokens is None:
            self._tokens = {r[0] for r in con.execute("SELECT token FROM waits").fetchall()}
        return token in self._tokens

    def known_node(self, run_id: str, node_id: str, con: duckdb.DuckDBPyConnection) -> bool:
        """Node ids are read per run, once, and forgotten when the run finishes (see :meth:`applied`)."""
        ids = self._nodes.get(run_id)
        if ids is None:
            if self.known_run(run_id, con):
                rows = con.execute("SELECT node_id FROM nodes WHERE run_id = ?", [run_id]).fetchall()
                ids = {r[0] for r in rows}
            else:
                ids = set()  # a run the table does not hold has no nodes there either
            self._nodes[run_id] = ids
        return node_id in ids

    def kv_absent(self, scope: str, key: str, con: duckdb.DuckDBPyConnection) -> bool:
        """Whether the KV table certainly lacks this key (stored forms), without a query: its keys are read once
        (when there are at most :data:`KV_KEYS_MAX`) and follow every apply."""
        if not self._kv_keys_read:
            self._kv_keys_read = True
            row = con.execute("SELECT count(*) FROM kv").fetchone()
            if row is not None and row[0] <= KV_KEYS_MAX:
                self._kv_keys = {(sc, k) for sc, k in con.execute('SELECT scope, "key" FROM kv').fetchall()}
        return self._kv_keys is not None and (scope, key) not in self._kv_keys

    def purged_kv(self) -> None:
        """Rows were deleted from the KV table directly: read its keys again when next needed."""
        self._kv_keys, self._kv_keys_read = None, False

    def applied(self, rows: Rows) -> None:
        """Remember the keys a committed apply added to the typed tables (and the rows, for the runs cached)."""
        self.cache.mirror(rows)
        if self._kv_keys is not None:
            for op in rows.kv:
                if op[4]:
                    self._kv_keys.discard((op[0], op[1]))
                else:
                    self._kv_keys.add((op[0], op[1]))
        if self._runs is not None:
            self._runs.update((r[0], py_text(r[2]) in FINISHED_RUN_STATUSES) for r in rows.runs)
        if self._tokens is not None:
            self._tokens.update(w[0] for w in rows.waits)
        for n in rows.nodes:
            self._nodes.setdefault(n[0], set()).add(n[1])
        for r in rows.runs:
            if py_text(r[2]) in FINISHED_RUN_STATUSES:
                self._nodes.pop(r[0], None)  # read again if the run is ever resumed

    # -- the KV read cache ---------------------------------------------------------------------------------------
    def cache_kv(self, scope: str, key: str, entry: tuple[str, float | None] | None) -> None:
        if len(self.kv_cache) >= 50_000:
            self.kv_cache.clear()
        self.kv_cache[(scope, key)] = entry

    def wrote_kv(self, ops: Iterable[tuple[Any, ...]]) -> None:
        """KV writes that are durable now: the cache and the earliest expiry follow them."""
        for scope, key, value, expires_at, deleted in ops:
            self.cache_kv(py_text(scope), py_text(key), None if deleted else (value, expires_at))
            if not deleted and expires_at is not None and self.min_expiry_known:
                self.min_expiry = expires_at if self.min_expiry is None else min(self.min_expiry, expires_at)

    def take_late_rejects(self) -> list[RejectedRecord]:
        out, self.late_rejects = self.late_rejects, []
        return out

    # -- reopening after a crash ----------------------------------------------------------------------------------
    def recover(self, con: duckdb.DuckDBPyConnection, *, location: str, writable: bool) -> None:
        """Read the log a dead process left into :attr:`delta`, and apply it when the file is writable. A log
        row that cannot be read stays in the log (and is reported), the others are applied."""
        for seq, text in con.execute(LOG_SELECT).fetchall():
            try:
                rows = Rows.from_json(text)
            except (ValueError, TypeError) as exc:
                _log.error(
                    "aether_nb: history batch %s in %s cannot be read and stays in its log: %s", seq, location, exc
                )
                continue
            self.delta.add(rows, int(seq))
        if writable and self.delta:
            try:
                self.late_rejects += apply(con, self)
            except duckdb.Error as exc:  # kept in the log and in memory: the next apply retries
                _log.warning("aether_nb: applying the history log of %s failed (will retry): %s", location, exc)
        self.cache.prefetch_unfinished(con)  # the runs a restarted notebook resumes: read now, in one statement
        self._read_kv(con)

    def _read_kv(self, con: duckdb.DuckDBPyConnection) -> None:
        """At open: the KV table's earliest expiry (so a resume's purge needs no statement) and, when the table is
        small, all of it into the read cache (a state graph's checkpoints, read when its thread resumes)."""
        count, size, earliest = con.execute(
            "SELECT count(*), coalesce(sum(strlen(value)), 0), min(expires_at) FROM kv"
        ).fetchone() or (0, 0, None)
        pending = [op[3] for op in self.delta.kv.values() if not op[4] and op[3] is not None]
        self.min_expiry = min([e for e in (earliest, *pending) if e is not None], default=None)
        self.min_expiry_known = True
        if count <= KV_PRELOAD_ROWS and size <= KV_PRELOAD_BYTES:
            rows = con.execute('SELECT scope, "key", value, expires_at FROM kv').fetchall()
            self._kv_keys = {(sc, k) for sc, k, _, _ in rows}
            self._kv_keys_read = True
            for sc, k, value, expires_at in rows:
                if (sc, k) not in self.delta.kv:
                    self.cache_kv(py_text(sc), py_text(k), (value, expires_at))


# -- applying -------------------------------------------------------------------------------------------------------
def plan(rows: Rows, state: FileState, con: duckdb.DuckDBPyConnection) -> list[Statement]:
    """Bulk statements writing ``rows`` (one row per key) to the typed tables: inserts of new rows and updates of
    known ones, since DuckDB's ``INSERT ... ON CONFLICT`` costs several times more."""
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
        new = [not state.known_node(n[0], n[1], con) for n in rows.nodes]
        out += _split(rows.nodes, new, NODE_INSERT, NODE_UPDATE)
    if rows.memory:
        out.append((MEMORY_INSERT, _columns([(*m[:-1], unpack_vector(m[-1])) for m in rows.memory])))
    if rows.kv:
        out.append((KV_DELETE, [[op[0] for op in rows.kv], [op[1] for op in rows.kv]]))
        sets = [op[:4] for op in rows.kv if not op[4]]
        if sets:
            out.append((KV_INSERT, _columns(sets)))
    if rows.events:
        out.append((EVENT_INSERT, _columns(rows.events)))
    return out


def _columns(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    return [list(c) for c in zip(*rows, strict=True)]


def _split(rows: list[tuple[Any, ...]], new: list[bool], insert: str, update: str) -> list[Statement]:
    out: list[Statement] = []
    for flag, sql in ((True, insert), (False, update)):
        part = [row for row, is_new in zip(rows, new, strict=True) if is_new is flag]
        if part:
            out.append((sql, _columns(part)))
    return out


def apply(con: duckdb.DuckDBPyConnection, state: FileState, extra: Rows | None = None) -> list[RejectedRecord]:
    """Write the delta (and ``extra``, a batch not logged) to the typed tables and delete the applied log rows,
    in one transaction; empty the delta. Returns the rows DuckDB refused (left out; see the module docstring).

    Raises:
        duckdb.Error: the write failed as a whole (I/O, ...): nothing changed, the delta is kept.
    """
    delta = state.delta
    if extra is not None:
        merged = Delta()
        merged.add(delta.rows())
        merged.add(extra)
        rows = merged.rows()
    else:
        rows = delta.rows()
    upto = max(delta.log_seqs) if delta.log_seqs else None
    rejected: list[RejectedRecord] = []
    try:
        _commit(con, state, rows, upto)
    except _DATA_ERRORS as exc:
        bad = _find_refused(con, state, rows, exc)
        rejected = [_rejected(table, row, error) for table, row, error in bad]
        refused = {(table, id(row)) for table, row, _ in bad}
        kept = _select(rows, lambda t, r: (t, id(r)) not in refused)
        _commit(con, state, kept, upto)
        rows = kept
    state.applied(rows)
    state.delta = Delta()
    return rejected


def _commit(con: duckdb.DuckDBPyConnection, state: FileState, rows: Rows, upto: int | None) -> None:
    statements = plan(rows, state, con)
    if upto is not None:
        statements.append((LOG_DELETE, [upto]))
    if not statements:
        return
    with transaction(con):
        for sql, params in statements:
            con.execute(sql, params)


_TABLES = ("runs", "waits", "journal", "nodes", "events", "memory", "kv")


def _select(rows: Rows, keep: Callable[[str, tuple[Any, ...]], bool]) -> Rows:
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


@dataclass
class _Search:
    con: duckdb.DuckDBPyConnection
    state: FileState
    rows: Rows
    trials: int = 0
    found: list[tuple[str, tuple[Any, ...], str]] = field(default_factory=list)

    def error_of(self, items: list[tuple[str, tuple[Any, ...]]]) -> str | None:
        """Try writing ``items`` in a transaction that is rolled back: the error, or None if it worked."""
        self.trials += 1
        if self.trials > MAX_TRIALS:
            raise _GaveUp
        chosen = {(t, id(r)) for t, r in items}
        rows = _select(self.rows, lambda t, r: (t, id(r)) in chosen)
        try:
            with _rolled_back(self.con):
                for sql, params in plan(rows, self.state, self.con):
                    self.con.execute(sql, params)
        except _DATA_ERRORS as exc:
            return str(exc)
        return None

    def search(self, items: list[tuple[str, tuple[Any, ...]]], error: str) -> None:
        if len(items) == 1:
            self.found.append((items[0][0], items[0][1], error))
            return
        mid = len(items) // 2
        for part in (items[:mid], items[mid:]):
            err = self.error_of(part)
            if err is not None:
                self.search(part, err)


class _GaveUp(Exception):
    pass


class _rolled_back:
    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def __enter__(self) -> None:
        self.con.execute("BEGIN TRANSACTION")

    def __exit__(self, *exc: object) -> None:
        self.con.execute("ROLLBACK")


def _find_refused(
    con: duckdb.DuckDBPyConnection, state: FileState, rows: Rows, exc: BaseException
) -> list[tuple[str, tuple[Any, ...], str]]:
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


def _rejected(table: str, row: tuple[Any, ...], error: str) -> RejectedRecord:
    kind = {"runs": "run", "waits": "wait", "nodes": "node", "events": "event", "journal": "journal"}.get(table, table)
    run_id: Any
    key: Any
    if table == "runs":
        run_id, key = row[0], row[0]
    elif table == "waits" or table == "journal":
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
