"""The DuckDB store: one file per notebook (or per project), the default store in a kernel.

Behaves exactly like :class:`~aether_nb.store.memory.MemoryStore` (one conformance suite covers both), plus:

* **Durable writes commit before they return** (``put_run``, ``append_journal``, ``put_wait``, ``kv_set``,
  ``kv_delete``, ``memory_append``, ``artifact_put``). DuckDB commits single rows at ~1-4k rows/s.
* **Cosmetic writes are batched** (``put_node``, ``append_events``): they wait in memory and go out as one
  bulk insert of column lists (``INSERT ... SELECT unnest(?), unnest(?), ...``): ~36k rows/s in batches of 50
  and ~300k rows/s in batches of 20k, against ~1.1k rows/s for ``executemany`` (DuckDB 2.0, this machine).
  The buffer is written when it is older than ``flush_interval_s`` (checked on every call, and by a
  background timer), before every durable write (so the file keeps call order), before reading nodes or
  events, on :meth:`DuckDBStore.flush`, on :meth:`DuckDBStore.close` and at interpreter exit.
* **A versioned schema**: ``schema_version`` records the migrations applied; :data:`MIGRATIONS` are applied
  in order inside one transaction. A file written by a newer aether_nb is refused rather than misread.
* **Big artifacts live beside the file**: bytes up to 1 MiB are stored in the ``artifacts`` table; bigger
  ones in ``<file>.artifacts/<sha256>`` (content-addressed, written atomically), which the row points at.
* **One process per file**: DuckDB lets a single process open a file that is being written, and that lock
  keeps read-only openers out too. Opening a file another process holds raises
  ``StorageError(code="locked")`` naming that process, after a short retry (never a hang).

Values are stored as JSON text (``VARCHAR``), not DuckDB's ``JSON`` type, which rejects ``NaN`` and
``Infinity``: ``json.dumps`` (and so the in-memory store) accepts them.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb

from aether_nb.errors import StorageError
from aether_nb.store.records import (
    JSON,
    ArtifactRecord,
    JournalEntry,
    MemoryRecord,
    NodeRecord,
    RunRecord,
    WaitRecord,
)

__all__ = ["INLINE_BLOB_MAX", "MIGRATIONS", "SCHEMA_VERSION", "DuckDBStore"]

_log = logging.getLogger(__name__)

INLINE_BLOB_MAX = 1 << 20
"""Artifacts up to this many bytes are stored in the table; bigger ones in ``<file>.artifacts/``."""

_LOCK_RETRY_S = 0.5
_LOCK_RETRY_STEP_S = 0.05

MIGRATIONS: list[tuple[int, tuple[str, ...]]] = [
    (
        1,
        (
            """CREATE TABLE runs (
                run_id VARCHAR PRIMARY KEY, graph VARCHAR, status VARCHAR, inputs VARCHAR,
                inputs_fingerprint VARCHAR, created_at DOUBLE, updated_at DOUBLE, outputs VARCHAR,
                error VARCHAR, kind VARCHAR, meta VARCHAR, ord BIGINT NOT NULL)""",
            """CREATE TABLE journal (
                seq BIGINT NOT NULL, run_id VARCHAR, "key" VARCHAR, name VARCHAR, kind VARCHAR,
                fingerprint VARCHAR, value VARCHAR, durable BOOLEAN, created_at DOUBLE)""",
            """CREATE TABLE waits (
                token VARCHAR PRIMARY KEY, run_id VARCHAR, node_id VARCHAR, kind VARCHAR, prompt VARCHAR,
                options VARCHAR, "schema" VARCHAR, deadline DOUBLE, created_at DOUBLE, status VARCHAR,
                answer VARCHAR, meta VARCHAR, ord BIGINT NOT NULL)""",
            """CREATE TABLE nodes (
                run_id VARCHAR NOT NULL, node_id VARCHAR NOT NULL, name VARCHAR, kind VARCHAR, status VARCHAR,
                parent VARCHAR, parents VARCHAR, inputs VARCHAR, outputs VARCHAR, error VARCHAR,
                started_at DOUBLE, ended_at DOUBLE, seq BIGINT NOT NULL, PRIMARY KEY (run_id, node_id))""",
            """CREATE TABLE events (run_id VARCHAR, seq BIGINT NOT NULL, data VARCHAR)""",
            """CREATE TABLE kv (
                scope VARCHAR NOT NULL, "key" VARCHAR NOT NULL, value VARCHAR, expires_at DOUBLE,
                PRIMARY KEY (scope, "key"))""",
            """CREATE TABLE memory (
                seq BIGINT NOT NULL, id VARCHAR, scope VARCHAR, kind VARCHAR, data VARCHAR, "text" VARCHAR,
                tags VARCHAR, created_at DOUBLE, run_id VARCHAR, node_id VARCHAR, role VARCHAR,
                embedding FLOAT[384])""",
            """CREATE TABLE artifacts (
                id VARCHAR PRIMARY KEY, name VARCHAR, kind VARCHAR, mime VARCHAR, size BIGINT, sha256 VARCHAR,
                labels VARCHAR, created_at DOUBLE, run_id VARCHAR, node_id VARCHAR, pinned BOOLEAN,
                ord BIGINT NOT NULL, data BLOB, blob_file VARCHAR)""",
        ),
    ),
]
"""``(version, statements)`` in order. Append a new entry to change the schema; never edit a released one."""

SCHEMA_VERSION = MIGRATIONS[-1][0]

# The tables whose order column feeds the in-process counter (see _Counter).
_ORDER_COLUMNS = (
    ("runs", "ord"),
    ("journal", "seq"),
    ("waits", "ord"),
    ("nodes", "seq"),
    ("events", "seq"),
    ("memory", "seq"),
    ("artifacts", "ord"),
)


# -- helpers -------------------------------------------------------------------------------------------------
def _dumps(value: Any) -> str:
    """``value`` as JSON text; StorageError (as MemoryStore raises) when it is not a JSON value."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise StorageError(
            f"the store accepts JSON values only, got {type(value).__name__}: {exc}. "
            "Encode values with aether_nb.runtime.codec before storing them.",
            code="not_json",
        ) from exc


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class _Counter:
    """Insertion order for rows, shared by every DuckDBStore of this process open on one file.

    Only one process can have a file open for writing, so the counter starts from the file's largest order
    value when the first store of the process opens it, and is shared with later stores of the process on the
    same file (DuckDB gives them one database instance).
    """

    def __init__(self, start: int) -> None:
        self._value = start
        self._lock = threading.Lock()
        self.users = 0

    def next(self) -> int:
        with self._lock:
            self._value += 1
            return self._value


_COUNTERS: dict[str, _Counter] = {}
_COUNTERS_LOCK = threading.Lock()

_NODE_COLUMNS = (
    "run_id",
    "node_id",
    "name",
    "kind",
    "status",
    "parent",
    "parents",
    "inputs",
    "outputs",
    "error",
    "started_at",
    "ended_at",
    "seq",
)
_NODE_TYPES = ("VARCHAR",) * 10 + ("DOUBLE", "DOUBLE", "BIGINT")
_NODE_FLUSH_SQL = (
    f"INSERT INTO nodes ({', '.join(_NODE_COLUMNS)}) SELECT "
    + ", ".join(f"unnest(?::{t}[])" for t in _NODE_TYPES)
    + " ON CONFLICT (run_id, node_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _NODE_COLUMNS[2:-1])
)
_EVENT_FLUSH_SQL = (
    "INSERT INTO events (run_id, seq, data) "
    "SELECT unnest(?::VARCHAR[]), unnest(?::BIGINT[]), unnest(?::VARCHAR[])"
)

_RUN_SELECT = (
    "SELECT run_id, graph, status, inputs, inputs_fingerprint, created_at, updated_at, outputs, error, kind, "
    "meta FROM runs"
)
_WAIT_SELECT = (
    'SELECT token, run_id, node_id, kind, prompt, options, "schema", deadline, created_at, status, answer, '
    "meta FROM waits"
)
_MEMORY_SELECT = 'SELECT id, scope, kind, data, "text", tags, created_at, run_id, node_id, role FROM memory'
_ARTIFACT_SELECT = (
    "SELECT id, name, kind, mime, size, sha256, labels, created_at, run_id, node_id, pinned, data, blob_file "
    "FROM artifacts"
)


def _run_from_row(row: tuple[Any, ...]) -> RunRecord:
    return RunRecord(
        run_id=row[0],
        graph=row[1],
        status=row[2],
        inputs=_loads(row[3]),
        inputs_fingerprint=row[4],
        created_at=row[5],
        updated_at=row[6],
        outputs=_loads(row[7]),
        error=row[8],
        kind=row[9],
        meta=_loads(row[10]),
    )


def _wait_from_row(row: tuple[Any, ...]) -> WaitRecord:
    return WaitRecord(
        token=row[0],
        run_id=row[1],
        node_id=row[2],
        kind=row[3],
        prompt=row[4],
        options=_loads(row[5]),
        schema=_loads(row[6]),
        deadline=row[7],
        created_at=row[8],
        status=row[9],
        answer=_loads(row[10]),
        meta=_loads(row[11]),
    )


def _memory_from_row(row: tuple[Any, ...]) -> MemoryRecord:
    return MemoryRecord(
        id=row[0],
        scope=row[1],
        kind=row[2],
        data=_loads(row[3]),
        text=row[4],
        tags=tuple(_loads(row[5]) or ()),
        created_at=row[6],
        run_id=row[7],
        node_id=row[8],
        role=row[9],
    )


def _artifact_from_row(row: tuple[Any, ...]) -> ArtifactRecord:
    return ArtifactRecord(
        id=row[0],
        name=row[1],
        kind=row[2],
        mime=row[3],
        size=row[4],
        sha256=row[5],
        labels=_loads(row[6]),
        created_at=row[7],
        run_id=row[8],
        node_id=row[9],
        pinned=row[10],
    )


def _lock_message(path: str, exc: BaseException) -> str:
    match = re.search(r"PID (\d+)", str(exc))
    holder = f"another process (PID {match.group(1)})" if match else "another process"
    return (
        f"cannot open the aether_nb store {path}: {holder} has it open for writing. DuckDB lets only one "
        "process open a file while it is being written, and that lock keeps readers out too, so opening it "
        "read-only is not possible either while that process holds it. Close the store in the other kernel "
        "(`%aether store` there shows which file it uses; ag.configure(store=...) switches it to another "
        f"one) or shut that kernel down, or open a different file here. (DuckDB: {exc})"
    )


# -- the store -----------------------------------------------------------------------------------------------
class DuckDBStore:
    """A :class:`~aether_nb.store.protocol.Store` in a DuckDB file. Thread-safe: one lock guards the
    connection and the write buffer.

    Args:
        path: the database file (created with its schema when missing).
        read_only: open without writing; every write then raises ``StorageError(code="read_only")``. DuckDB
            still refuses a read-only open while another process has the file open for writing.
        flush_interval_s: how long node and event writes may wait in memory before they are written out.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, read_only: bool = False, flush_interval_s: float = 0.2
    ) -> None:
        self.location = os.fspath(path)
        self._read_only = read_only
        self._flush_interval_s = float(flush_interval_s)
        self._lock = threading.RLock()
        self._closed = False
        self._nodes_buf: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._events_buf: list[tuple[str, int, str]] = []
        self._buf_since: float | None = None
        self._timer: threading.Timer | None = None
        self._blob_dir = Path(self.location + ".artifacts")
        self._counter_key = os.path.realpath(self.location)
        self._con = self._connect()
        try:
            self._migrate()
            self._counter = self._acquire_counter()
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                self._con.close()
            raise
        self._atexit = _make_atexit(self)
        atexit.register(self._atexit)

    # -- opening ---------------------------------------------------------------------------------------------
    def _connect(self) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + _LOCK_RETRY_S
        while True:
            try:
                return duckdb.connect(self.location, read_only=self._read_only)
            except duckdb.IOException as exc:
                if "Could not set lock" not in str(exc):
                    raise self._open_error(exc) from exc
                if time.monotonic() + _LOCK_RETRY_STEP_S > deadline:
                    raise StorageError(_lock_message(self.location, exc), code="locked") from exc
                time.sleep(_LOCK_RETRY_STEP_S)
            except duckdb.Error as exc:
                raise self._open_error(exc) from exc

    def _open_error(self, exc: BaseException) -> StorageError:
        what = "read-only " if self._read_only else ""
        return StorageError(
            f"cannot open the aether_nb store {self.location} {what}with DuckDB: {exc}. Check that the path "
            "is a DuckDB file written by aether_nb (or a new file in an existing folder), or open another.",
            code="open_failed",
        )

    def _migrate(self) -> None:
        con = self._con
        try:
            if self._read_only:
                try:
                    row = con.execute("SELECT max(version) FROM schema_version").fetchone()
                except duckdb.CatalogException as exc:
                    raise StorageError(
                        f"{self.location} holds no aether_nb store (no schema_version table); open it "
                        "read-write once to create one, or check the path.",
                        code="no_schema",
                    ) from exc
                current = int(row[0] or 0) if row else 0
                self._check_version(current)
                if current < SCHEMA_VERSION:
                    raise StorageError(
                        f"{self.location} has schema version {current}, older than this aether_nb's "
                        f"{SCHEMA_VERSION}; open it once read-write to upgrade it (a read-only open cannot "
                        "migrate).",
                        code="schema_outdated",
                    )
                return
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at DOUBLE)"
                )
                row = con.execute("SELECT max(version) FROM schema_version").fetchone()
                current = int(row[0] or 0) if row else 0
                self._check_version(current)
                for version, statements in MIGRATIONS:
                    if version <= current:
                        continue
                    for statement in statements:
                        con.execute(statement)
                    con.execute("INSERT INTO schema_version VALUES (?, ?)", [version, time.time()])
                con.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                raise
        except duckdb.Error as exc:
            raise StorageError(
                f"cannot set up the aether_nb schema in {self.location}: {exc}", code="open_failed"
            ) from exc

    def _check_version(self, current: int) -> None:
        if current > SCHEMA_VERSION:
            raise StorageError(
                f"{self.location} was written by a newer aether_nb (schema version {current}; this one knows "
                f"up to {SCHEMA_VERSION}). Upgrade aether_nb (pip install -U aether_nb) to open it, or open "
                "another file.",
                code="schema_too_new",
            )

    def _acquire_counter(self) -> _Counter:
        with _COUNTERS_LOCK:
            counter = _COUNTERS.get(self._counter_key)
            if counter is None:
                parts = " UNION ALL ".join(
                    f"SELECT max({col}) AS m FROM {table}" for table, col in _ORDER_COLUMNS
                )
                row = self._con.execute(f"SELECT coalesce(max(m), 0) FROM ({parts})").fetchone()
                counter = _Counter(int(row[0]) if row else 0)
                _COUNTERS[self._counter_key] = counter
            counter.users += 1
            return counter

    def _release_counter(self) -> None:
        with _COUNTERS_LOCK:
            self._counter.users -= 1
            if self._counter.users <= 0 and _COUNTERS.get(self._counter_key) is self._counter:
                del _COUNTERS[self._counter_key]

    # -- guards ----------------------------------------------------------------------------------------------
    def _check(self) -> None:
        if self._closed:
            raise StorageError(
                "this store is closed; open a new one (ag.configure(store=...))", code="closed"
            )

    def _check_writable(self) -> None:
        if self._read_only:
            raise StorageError(
                f"the store {self.location} was opened read-only; open it without read_only=True to write",
                code="read_only",
            )

    def _io_error(self, what: str, exc: BaseException) -> StorageError:
        return StorageError(f"{what} failed on the aether_nb store {self.location}: {exc}", code="io")

    @contextlib.contextmanager
    def _reading(self, what: str, *, flush: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """Lock, check, write the buffer out (always when ``flush``, else when due); map DuckDB errors."""
        with self._lock:
            self._check()
            try:
                if flush:
                    self._flush_locked()
                else:
                    self._flush_if_due_locked()
                yield self._con
            except duckdb.Error as exc:
                raise self._io_error(what, exc) from exc

    @contextlib.contextmanager
    def _writing(self, what: str) -> Iterator[duckdb.DuckDBPyConnection]:
        """:meth:`_reading` for a durable write: the buffer goes out first, so the file keeps call order."""
        with self._lock:
            self._check()
            self._check_writable()
            try:
                self._flush_locked()
                yield self._con
            except duckdb.Error as exc:
                raise self._io_error(what, exc) from exc

    # -- buffer ----------------------------------------------------------------------------------------------
    def _buffered_locked(self) -> None:
        """After adding to the buffer: note its age, write it out when due, else make sure a timer will."""
        if self._buf_since is None:
            self._buf_since = time.monotonic()
        if self._flush_if_due_locked():
            return
        if self._timer is None:
            self._timer = threading.Timer(self._flush_interval_s, self._on_timer)
            self._timer.daemon = True
            self._timer.name = "aether-duckdb-flush"
            self._timer.start()

    def _flush_if_due_locked(self) -> bool:
        if self._buf_since is not None and time.monotonic() - self._buf_since >= self._flush_interval_s:
            self._flush_locked()
            return True
        return False

    def _on_timer(self) -> None:
        with self._lock:
            self._timer = None
            if self._closed or self._buf_since is None:
                return
            try:
                if not self._flush_if_due_locked():
                    self._buffered_locked()  # not due yet (buffer emptied and refilled): wait for the rest
            except (duckdb.Error, StorageError) as exc:
                # Kept in the buffer: the next call retries and reports the error to its caller.
                _log.warning("aether_nb: background flush of %s failed: %s", self.location, exc)

    def _flush_locked(self) -> None:
        if self._buf_since is None:
            return
        con = self._con
        con.execute("BEGIN TRANSACTION")
        try:
            if self._nodes_buf:
                con.execute(
                    _NODE_FLUSH_SQL, [list(col) for col in zip(*self._nodes_buf.values(), strict=True)]
                )
            if self._events_buf:
                con.execute(_EVENT_FLUSH_SQL, [list(col) for col in zip(*self._events_buf, strict=True)])
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise
        self._nodes_buf.clear()
        self._events_buf.clear()
        self._buf_since = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- runs ------------------------------------------------------------------------------------------------
    def put_run(self, record: RunRecord) -> None:
        with self._writing("put_run") as con:
            meta = dict(json.loads(_dumps(record.meta)) or {})
            meta.pop("_order", None)  # MemoryStore keeps its own order there and strips it on read
            con.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (run_id) DO UPDATE SET graph = excluded.graph, status = excluded.status, "
                "inputs = excluded.inputs, "
                "inputs_fingerprint = excluded.inputs_fingerprint, created_at = excluded.created_at, "
                "updated_at = excluded.updated_at, outputs = excluded.outputs, error = excluded.error, "
                "kind = excluded.kind, meta = excluded.meta",
                [
                    record.run_id,
                    record.graph,
                    record.status,
                    _dumps(record.inputs),
                    record.inputs_fingerprint,
                    record.created_at,
                    record.updated_at,
                    _dumps(record.outputs),
                    record.error,
                    record.kind,
                    _dumps(meta),
                    self._counter.next(),
                ],
            )

    def get_run(self, run_id: str) -> RunRecord | None:
        with self._reading("get_run") as con:
            row = con.execute(f"{_RUN_SELECT} WHERE run_id = ?", [run_id]).fetchone()
            return None if row is None else _run_from_row(row)

    def list_runs(self, *, status: str | None = None, graph: str | None = None) -> list[RunRecord]:
        where, params = _filters(("status", status), ("graph", graph))
        with self._reading("list_runs") as con:
            rows = con.execute(f"{_RUN_SELECT}{where} ORDER BY created_at DESC, ord DESC", params).fetchall()
            return [_run_from_row(r) for r in rows]

    # -- journal ---------------------------------------------------------------------------------------------
    def append_journal(self, entry: JournalEntry) -> None:
        with self._writing("append_journal") as con:
            con.execute(
                "INSERT INTO journal VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    self._counter.next(),
                    entry.run_id,
                    entry.key,
                    entry.name,
                    entry.kind,
                    entry.fingerprint,
                    _dumps(entry.value),
                    entry.durable,
                    entry.created_at,
                ],
            )

    def load_journal(self, run_id: str) -> list[JournalEntry]:
        with self._reading("load_journal") as con:
            rows = con.execute(
                'SELECT run_id, "key", name, kind, fingerprint, value, durable, created_at FROM journal '
                "WHERE run_id = ? ORDER BY seq",
                [run_id],
            ).fetchall()
            return [
                JournalEntry(
                    run_id=r[0],
                    key=r[1],
                    name=r[2],
                    kind=r[3],
                    fingerprint=r[4],
                    value=_loads(r[5]),
                    durable=r[6],
                    created_at=r[7],
                )
                for r in rows
            ]

    # -- waits -----------------------------------------------------------------------------------------------
    def put_wait(self, record: WaitRecord) -> None:
        with self._writing("put_wait") as con:
            con.execute(
                "INSERT INTO waits VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (token) DO UPDATE SET run_id = excluded.run_id, node_id = excluded.node_id, "
                "kind = excluded.kind, "
                'prompt = excluded.prompt, options = excluded.options, "schema" = excluded."schema", '
                "deadline = excluded.deadline, created_at = excluded.created_at, status = excluded.status, "
                "answer = excluded.answer, meta = excluded.meta",
                [
                    record.token,
                    record.run_id,
                    record.node_id,
                    record.kind,
                    record.prompt,
                    None if record.options is None else _dumps(list(record.options)),
                    _dumps(record.schema),
                    record.deadline,
                    record.created_at,
                    record.status,
                    _dumps(record.answer),
                    _dumps(record.meta),
                    self._counter.next(),
                ],
            )

    def get_wait(self, token: str) -> WaitRecord | None:
        with self._reading("get_wait") as con:
            row = con.execute(f"{_WAIT_SELECT} WHERE token = ?", [token]).fetchone()
            return None if row is None else _wait_from_row(row)

    def list_waits(self, run_id: str | None = None, *, status: str | None = "open") -> list[WaitRecord]:
        where, params = _filters(("run_id", run_id), ("status", status))
        with self._reading("list_waits") as con:
            rows = con.execute(f"{_WAIT_SELECT}{where} ORDER BY created_at, ord", params).fetchall()
            return [_wait_from_row(r) for r in rows]

    # -- nodes and events (buffered) -------------------------------------------------------------------------
    def put_node(self, record: NodeRecord) -> None:
        with self._lock:
            self._check()
            self._check_writable()
            key = (record.run_id, record.node_id)
            row = (
                record.run_id,
                record.node_id,
                record.name,
                record.kind,
                record.status,
                record.parent,
                _dumps(list(record.parents)),
                _dumps(record.inputs),
                _dumps(record.outputs),
                _dumps(record.error),
                record.started_at,
                record.ended_at,
            )
            prev = self._nodes_buf.get(key)
            # A node already in the file keeps its seq there (ON CONFLICT leaves seq alone).
            self._nodes_buf[key] = (*row, prev[-1] if prev is not None else self._counter.next())
            self._after_buffering()

    def list_nodes(self, run_id: str) -> list[NodeRecord]:
        with self._reading("list_nodes", flush=True) as con:
            rows = con.execute(
                f"SELECT {', '.join(_NODE_COLUMNS)} FROM nodes WHERE run_id = ? ORDER BY seq", [run_id]
            ).fetchall()
            return [
                NodeRecord(
                    run_id=r[0],
                    node_id=r[1],
                    name=r[2],
                    kind=r[3],
                    status=r[4],
                    parent=r[5],
                    parents=tuple(_loads(r[6]) or ()),
                    inputs=_loads(r[7]),
                    outputs=_loads(r[8]),
                    error=_loads(r[9]),
                    started_at=r[10],
                    ended_at=r[11],
                    seq=r[12],
                )
                for r in rows
            ]

    def append_events(self, run_id: str, events: Sequence[JSON]) -> None:
        with self._lock:
            self._check()
            self._check_writable()
            texts = [_dumps(e) for e in events]  # all or nothing, as MemoryStore
            self._events_buf.extend((run_id, self._counter.next(), t) for t in texts)
            if texts:
                self._after_buffering()

    def _after_buffering(self) -> None:
        try:
            self._buffered_locked()
        except duckdb.Error as exc:
            raise self._io_error("writing buffered nodes/events", exc) from exc

    def load_events(self, run_id: str) -> list[JSON]:
        with self._reading("load_events", flush=True) as con:
            rows = con.execute("SELECT data FROM events WHERE run_id = ? ORDER BY seq", [run_id]).fetchall()
            return [_loads(r[0]) for r in rows]

    # -- KV --------------------------------------------------------------------------------------------------
    def kv_get(self, scope: str, key: str) -> tuple[JSON, float | None] | None:
        with self._reading("kv_get") as con:
            row = con.execute(
                'SELECT value, expires_at FROM kv WHERE scope = ? AND "key" = ?', [scope, key]
            ).fetchone()
            return None if row is None else (_loads(row[0]), row[1])

    def kv_set(self, scope: str, key: str, value: JSON, expires_at: float | None) -> None:
        with self._writing("kv_set") as con:
            con.execute(
                'INSERT INTO kv VALUES (?, ?, ?, ?) ON CONFLICT (scope, "key") DO UPDATE SET '
                "value = excluded.value, expires_at = excluded.expires_at",
                [scope, key, _dumps(value), expires_at],
            )

    def kv_delete(self, scope: str, key: str) -> bool:
        with self._writing("kv_delete") as con:
            row = con.execute('DELETE FROM kv WHERE scope = ? AND "key" = ?', [scope, key]).fetchone()
            return bool(row and row[0])

    def kv_keys(self, scope: str, prefix: str = "") -> list[tuple[str, float | None]]:
        with self._reading("kv_keys") as con:
            rows = con.execute(
                'SELECT "key", expires_at FROM kv WHERE scope = ? AND starts_with("key", ?)', [scope, prefix]
            ).fetchall()
            # Sorted in Python: the order MemoryStore gives (code points), whatever the database collation.
            return sorted((r[0], r[1]) for r in rows)

    # -- memory ----------------------------------------------------------------------------------------------
    def memory_append(self, record: MemoryRecord) -> None:
        with self._writing("memory_append") as con:
            con.execute(
                'INSERT INTO memory (seq, id, scope, kind, data, "text", tags, created_at, run_id, node_id, '
                "role) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    self._counter.next(),
                    record.id,
                    record.scope,
                    record.kind,
                    _dumps(record.data),
                    record.text,
                    _dumps(list(record.tags)),
                    record.created_at,
                    record.run_id,
                    record.node_id,
                    record.role,
                ],
            )

    def memory_query(
        self, scope: str, *, kinds: Sequence[str] | None = None, limit: int | None = None
    ) -> list[MemoryRecord]:
        sql = f"{_MEMORY_SELECT} WHERE scope = ?"
        params: list[Any] = [scope]
        if kinds is not None:
            sql += " AND list_contains(?::VARCHAR[], kind)"
            params.append(list(kinds))
        sql += " ORDER BY seq DESC"
        if limit is not None and limit >= 0:
            sql += " LIMIT ?"
            params.append(limit)
        with self._reading("memory_query") as con:
            rows = [_memory_from_row(r) for r in con.execute(sql, params).fetchall()]
        return rows if limit is None or limit >= 0 else rows[:limit]

    # -- artifacts -------------------------------------------------------------------------------------------
    def artifact_put(self, record: ArtifactRecord, data: bytes) -> None:
        data = bytes(data)
        with self._writing("artifact_put") as con:
            labels = _dumps(record.labels)
            inline: bytes | None = data
            blob_file: str | None = None
            if len(data) > INLINE_BLOB_MAX:
                blob_file = self._write_blob(data)  # before the row: a row never points at a missing file
                inline = None
            con.execute(
                f"INSERT INTO artifacts VALUES ({', '.join('?' * 14)}) ON CONFLICT (id) DO UPDATE SET "
                + _set_excluded(
                    "name",
                    "kind",
                    "mime",
                    "size",
                    "sha256",
                    "labels",
                    "created_at",
                    "run_id",
                    "node_id",
                    "pinned",
                    "data",
                    "blob_file",
                ),
                [
                    record.id,
                    record.name,
                    record.kind,
                    record.mime,
                    record.size,
                    record.sha256,
                    labels,
                    record.created_at,
                    record.run_id,
                    record.node_id,
                    record.pinned,
                    self._counter.next(),
                    inline,
                    blob_file,
                ],
            )

    def _write_blob(self, data: bytes) -> str:
        """Store ``data`` as ``<file>.artifacts/<sha256>`` (atomically, fsynced) and return the file name."""
        digest = hashlib.sha256(data).hexdigest()
        target = self._blob_dir / digest
        try:
            if target.exists() and target.stat().st_size == len(data):
                return digest
            self._blob_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{digest}.", suffix=".tmp", dir=self._blob_dir)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise StorageError(
                f"cannot write artifact bytes to {target} (beside the store {self.location}): {exc}",
                code="io",
            ) from exc
        return digest

    def artifact_get(self, artifact_id: str) -> tuple[ArtifactRecord, bytes] | None:
        with self._reading("artifact_get") as con:
            row = con.execute(f"{_ARTIFACT_SELECT} WHERE id = ?", [artifact_id]).fetchone()
        if row is None:
            return None
        record = _artifact_from_row(row)
        if row[12] is None:
            return record, bytes(row[11] or b"")
        path = self._blob_dir / row[12]
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise StorageError(
                f"the bytes of artifact {artifact_id!r} are missing: cannot read {path} ({exc}). The folder "
                f"{self._blob_dir.name} must stay beside {self.location}.",
                code="missing_blob",
            ) from exc
        if hashlib.sha256(data).hexdigest() != row[12]:
            raise StorageError(
                f"the bytes of artifact {artifact_id!r} in {path} are corrupt", code="corrupt_blob"
            )
        return record, data

    def artifact_list(self) -> list[ArtifactRecord]:
        with self._reading("artifact_list") as con:
            # Ties keep first-insert order, as MemoryStore's stable sort does.
            rows = con.execute(f"{_ARTIFACT_SELECT} ORDER BY created_at DESC, ord").fetchall()
            return [_artifact_from_row(r) for r in rows]

    # -- lifecycle -------------------------------------------------------------------------------------------
    def flush(self) -> None:
        with self._reading("flush", flush=True):
            pass

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None
                if not self._read_only:
                    try:
                        self._flush_locked()
                    except duckdb.Error as exc:
                        raise self._io_error("flushing on close", exc) from exc
            finally:
                atexit.unregister(self._atexit)
                self._release_counter()
                with contextlib.suppress(duckdb.Error):
                    self._con.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> DuckDBStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("read-only" if self._read_only else "open")
        return f"DuckDBStore({self.location!r}, {state})"


def _set_excluded(*columns: str) -> str:
    """``a = excluded.a, b = excluded.b, ...`` for an upsert that replaces those columns."""
    return ", ".join(f"{c} = excluded.{c}" for c in columns)


def _filters(*pairs: tuple[str, str | None]) -> tuple[str, list[Any]]:
    clauses = [f"{col} = ?" for col, value in pairs if value is not None]
    params: list[Any] = [value for _, value in pairs if value is not None]
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _make_atexit(store: DuckDBStore) -> Callable[[], None]:
    """An exit hook that flushes and closes ``store`` if it is still open, without keeping it alive."""
    ref = weakref.ref(store)

    def _close_at_exit() -> None:
        s = ref()
        if s is not None and not s.closed:
            try:
                s.close()
            except Exception as exc:  # at exit there is nobody left to raise to
                _log.warning("aether_nb: closing %s at exit failed: %s", s.location, exc)

    return _close_at_exit
