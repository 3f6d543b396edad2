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

This module is the store's behaviour (opening, locking, durability, the order counter); the tables, migrations
and row mapping are in :mod:`aether_nb.store.schema`, the big-artifact folder in :mod:`aether_nb.store.blobs`
and the node/event write buffer in :mod:`aether_nb.store.buffer`.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import duckdb

from aether_nb.errors import StorageError, UsageError
from aether_nb.store.batch import FileState, history_statements
from aether_nb.store.blobs import BlobFolder
from aether_nb.store.buffer import WriteBuffer
from aether_nb.store.query import READ_ONLY_STATEMENTS, QueryResult
from aether_nb.store.records import (
    JSON,
    ArtifactRecord,
    HistoryBatch,
    JournalEntry,
    MemoryRecord,
    NodeRecord,
    RunRecord,
    WaitRecord,
)
from aether_nb.store.redact import logger as redact_logger
from aether_nb.store.schema import (
    ARTIFACT_SELECT,
    ARTIFACT_UPSERT,
    JOURNAL_BULK_INSERT,
    JOURNAL_INSERT,
    JOURNAL_SELECT,
    MEMORY_INSERT,
    MEMORY_SELECT,
    MIGRATIONS,
    NODE_COLUMNS,
    ORDER_COLUMNS,
    RUN_SELECT,
    RUN_UPSERT,
    SCHEMA_VERSION,
    WAIT_SELECT,
    WAIT_UPSERT,
    artifact_from_row,
    artifact_params,
    dumps,
    filters,
    journal_from_row,
    journal_params,
    loads,
    memory_from_row,
    memory_params,
    migrate,
    node_from_row,
    node_row,
    run_from_row,
    run_params,
    transaction,
    wait_from_row,
    wait_params,
)

__all__ = ["INLINE_BLOB_MAX", "MIGRATIONS", "SCHEMA_VERSION", "DuckDBStore"]

_log = redact_logger(__name__)

INLINE_BLOB_MAX = 1 << 20
"""Artifacts up to this many bytes are stored in the table; bigger ones in ``<file>.artifacts/``."""

_LOCK_RETRY_S = 0.5
_LOCK_RETRY_STEP_S = 0.05


_KV_CACHES: dict[str, dict[tuple[str, str], tuple[str, float | None] | None]] = {}
_KV_CACHE_MAX = 50_000
_MISS = object()
_COUNTERS: dict[str, FileState] = {}
_COUNTERS_LOCK = threading.Lock()


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

    def __init__(self, path: str | os.PathLike[str], *, read_only: bool = False, flush_interval_s: float = 0.2) -> None:
        self.location = os.fspath(path)
        self._read_only = read_only
        self._lock = threading.RLock()
        self._closed = False
        self._buffer = WriteBuffer(float(flush_interval_s))
        self._blobs = BlobFolder(self.location)
        self._counter_key = os.path.realpath(self.location)
        self._con = self._connect()
        try:
            migrate(self._con, self.location, read_only=self._read_only)
            self._counter = self._acquire_counter()
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                self._con.close()
            raise
        # Hot KV reads are served from memory: this process is the file's only writer (DuckDB's lock), so the
        # cache cannot go stale; it is shared by every store object of this process on the same file.
        self._kv_cache = _KV_CACHES.setdefault(self._counter_key, {})
        self._kv_cache.clear()  # another process may have written the file since this process last held it
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
            except duckdb.ConnectionException as exc:
                if "different configuration" not in str(exc):
                    raise self._open_error(exc) from exc
                other = "read-write" if self._read_only else "read-only"
                raise StorageError(
                    f"cannot open the aether_nb store {self.location} "
                    f"{'read-only' if self._read_only else 'read-write'}: this process already has it open "
                    f"{other} (another DuckDBStore, or a duckdb connection). Use that store, or close it "
                    f"first. (DuckDB: {exc})",
                    code="open_failed",
                ) from exc
            except duckdb.Error as exc:
                raise self._open_error(exc) from exc

    def _open_error(self, exc: BaseException) -> StorageError:
        what = "read-only " if self._read_only else ""
        return StorageError(
            f"cannot open the aether_nb store {self.location} {what}with DuckDB: {exc}. Check that the path "
            "is a DuckDB file written by aether_nb (or a new file in an existing folder), or open another.",
            code="open_failed",
        )

    def _acquire_counter(self) -> FileState:
        with _COUNTERS_LOCK:
            counter = _COUNTERS.get(self._counter_key)
            if counter is None:
                parts = " UNION ALL ".join(f"SELECT max({col}) AS m FROM {table}" for table, col in ORDER_COLUMNS)
                row = self._con.execute(f"SELECT coalesce(max(m), 0) FROM ({parts})").fetchone()
                counter = FileState(int(row[0]) if row else 0)
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
            raise StorageError("this store is closed; open a new one (ag.configure(store=...))", code="closed")

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
        """After adding to the buffer: write it out when due, else make sure a timer will."""
        if not self._flush_if_due_locked():
            self._buffer.schedule(self._on_timer)

    def _flush_if_due_locked(self) -> bool:
        if self._buffer.due():
            self._flush_locked()
            return True
        return False

    def _on_timer(self) -> None:
        with self._lock:
            self._buffer.timer_fired()
            if self._closed or not self._buffer.pending:
                return
            try:
                if not self._flush_if_due_locked():
                    self._buffered_locked()  # not due yet (buffer emptied and refilled): wait for the rest
            except (duckdb.Error, StorageError) as exc:
                # Kept in the buffer: the next call retries and reports the error to its caller.
                _log.warning("aether_nb: background flush of %s failed: %s", self.location, exc)

    def _flush_locked(self) -> None:
        self._buffer.write(self._con)

    # -- runs ------------------------------------------------------------------------------------------------
    def put_run(self, record: RunRecord) -> None:
        with self._writing("put_run") as con:
            con.execute(RUN_UPSERT, run_params(record, self._counter.next))
        self._counter.wrote(HistoryBatch(runs=[record]))

    def get_run(self, run_id: str) -> RunRecord | None:
        with self._reading("get_run") as con:
            if not self._read_only and not self._counter.known_run(run_id, con):
                return None
            row = con.execute(f"{RUN_SELECT} WHERE run_id = ?", [run_id]).fetchone()
            return None if row is None else run_from_row(row)

    def list_runs(self, *, status: str | None = None, graph: str | None = None) -> list[RunRecord]:
        where, params = filters(("status", status), ("graph", graph))
        with self._reading("list_runs") as con:
            rows = con.execute(f"{RUN_SELECT}{where} ORDER BY created_at DESC, ord DESC", params).fetchall()
            return [run_from_row(r) for r in rows]

    # -- journal ---------------------------------------------------------------------------------------------
    def append_journal(self, entry: JournalEntry) -> None:
        with self._writing("append_journal") as con:
            con.execute(JOURNAL_INSERT, journal_params(entry, self._counter.next))

    def append_journal_many(self, entries: Sequence[JournalEntry]) -> None:
        if not entries:
            return
        with self._writing("append_journal_many") as con:
            rows = [journal_params(e, self._counter.next) for e in entries]
            con.execute(JOURNAL_BULK_INSERT, [list(col) for col in zip(*rows, strict=True)])

    def load_journal(self, run_id: str) -> list[JournalEntry]:
        with self._reading("load_journal") as con:
            rows = con.execute(f"{JOURNAL_SELECT} WHERE run_id = ? ORDER BY seq", [run_id]).fetchall()
            return [journal_from_row(r) for r in rows]

    # -- waits -----------------------------------------------------------------------------------------------
    def put_wait(self, record: WaitRecord) -> None:
        with self._writing("put_wait") as con:
            con.execute(WAIT_UPSERT, wait_params(record, self._counter.next))
        self._counter.wrote(HistoryBatch(waits=[record]))

    def get_wait(self, token: str) -> WaitRecord | None:
        with self._reading("get_wait") as con:
            row = con.execute(f"{WAIT_SELECT} WHERE token = ?", [token]).fetchone()
            return None if row is None else wait_from_row(row)

    def list_waits(self, run_id: str | None = None, *, status: str | None = "open") -> list[WaitRecord]:
        where, params = filters(("run_id", run_id), ("status", status))
        with self._reading("list_waits") as con:
            rows = con.execute(f"{WAIT_SELECT}{where} ORDER BY created_at, ord", params).fetchall()
            return [wait_from_row(r) for r in rows]

    # -- nodes and events (buffered) -------------------------------------------------------------------------
    def put_node(self, record: NodeRecord) -> None:
        with self._lock:
            self._check()
            self._check_writable()
            key = (record.run_id, record.node_id)
            row = node_row(record)
            self._buffer.add_node(key, row, self._counter.next)
            self._counter.wrote(HistoryBatch(nodes=[record]))  # written (upserted) before any later batch
            self._after_buffering()

    def list_nodes(self, run_id: str) -> list[NodeRecord]:
        with self._reading("list_nodes", flush=True) as con:
            rows = con.execute(
                f"SELECT {', '.join(NODE_COLUMNS)} FROM nodes WHERE run_id = ? ORDER BY seq", [run_id]
            ).fetchall()
            return [node_from_row(r) for r in rows]

    def append_events(self, run_id: str, events: Sequence[JSON]) -> None:
        with self._lock:
            self._check()
            self._check_writable()
            texts = [dumps(e) for e in events]  # all or nothing, as MemoryStore
            if texts:
                self._buffer.add_events(run_id, texts, self._counter.next)
                self._after_buffering()

    def _after_buffering(self) -> None:
        try:
            self._buffered_locked()
        except duckdb.Error as exc:
            raise self._io_error("writing buffered nodes/events", exc) from exc

    def load_events(self, run_id: str) -> list[JSON]:
        with self._reading("load_events", flush=True) as con:
            rows = con.execute("SELECT data FROM events WHERE run_id = ? ORDER BY seq", [run_id]).fetchall()
            return [loads(r[0]) for r in rows]

    def write_history(self, batch: HistoryBatch) -> None:
        """One transaction for the whole batch (see :func:`~aether_nb.store.batch.history_statements`)."""
        if not len(batch):
            return
        with self._lock:
            self._check()
            self._check_writable()
            con = self._con
            try:
                self._flush_locked()
                plan = history_statements(batch, self._counter, con)
                with transaction(con):
                    for sql, params in plan.statements:
                        con.execute(sql, params)
            except duckdb.Error as exc:
                raise self._io_error("write_history", exc) from exc
            self._counter.wrote(batch, plan.new_runs)
            for scope, key, entry in plan.kv_cache:
                self._cache_kv(scope, key, entry)

    # -- KV --------------------------------------------------------------------------------------------------
    def kv_get(self, scope: str, key: str) -> tuple[JSON, float | None] | None:
        with self._lock:
            self._check()
            cached = self._kv_cache.get((scope, key), _MISS)
            if cached is not _MISS:
                return None if cached is None else (loads(cached[0]), cached[1])  # type: ignore[index]
        with self._reading("kv_get") as con:
            row = con.execute('SELECT value, expires_at FROM kv WHERE scope = ? AND "key" = ?', [scope, key]).fetchone()
            self._cache_kv(scope, key, None if row is None else (row[0], row[1]))
            return None if row is None else (loads(row[0]), row[1])

    def _cache_kv(self, scope: str, key: str, entry: tuple[str, float | None] | None) -> None:
        if len(self._kv_cache) >= _KV_CACHE_MAX:
            self._kv_cache.clear()
        self._kv_cache[(scope, key)] = entry

    def kv_set(self, scope: str, key: str, value: JSON, expires_at: float | None) -> None:
        with self._writing("kv_set") as con:
            con.execute(
                'INSERT INTO kv VALUES (?, ?, ?, ?) ON CONFLICT (scope, "key") DO UPDATE SET '
                "value = excluded.value, expires_at = excluded.expires_at",
                [scope, key, text := dumps(value), expires_at],
            )
            self._cache_kv(scope, key, (text, expires_at))

    def kv_delete(self, scope: str, key: str) -> bool:
        with self._writing("kv_delete") as con:
            row = con.execute('DELETE FROM kv WHERE scope = ? AND "key" = ?', [scope, key]).fetchone()
            self._cache_kv(scope, key, None)
            return bool(row and row[0])

    def kv_purge(self, now: float) -> int:
        with self._writing("kv_purge") as con:
            row = con.execute("DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?", [now]).fetchone()
            self._kv_cache.clear()
            return int(row[0]) if row else 0

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
            con.execute(MEMORY_INSERT, memory_params(record, self._counter.next))

    def memory_query(
        self, scope: str, *, kinds: Sequence[str] | None = None, limit: int | None = None
    ) -> list[MemoryRecord]:
        sql = f"{MEMORY_SELECT} WHERE scope = ?"
        params: list[Any] = [scope]
        if kinds is not None:
            sql += " AND list_contains(?::VARCHAR[], kind)"
            params.append(list(kinds))
        sql += " ORDER BY seq DESC"
        if limit is not None and limit >= 0:
            sql += " LIMIT ?"
            params.append(limit)
        with self._reading("memory_query") as con:
            rows = [memory_from_row(r) for r in con.execute(sql, params).fetchall()]
        return rows if limit is None or limit >= 0 else rows[:limit]

    def memory_search(
        self, scope: str, vector: Sequence[float], *, kinds: Sequence[str] | None = None, limit: int = 10
    ) -> list[tuple[MemoryRecord, float]]:
        sql = (
            'SELECT id, scope, kind, data, "text", tags, created_at, run_id, node_id, role, '
            "list_cosine_similarity(embedding, ?::FLOAT[]) AS score FROM memory "
            "WHERE scope = ? AND embedding IS NOT NULL AND len(embedding) = ?"
        )
        params: list[Any] = [[float(x) for x in vector], scope, len(vector)]
        if kinds is not None:
            sql += " AND list_contains(?::VARCHAR[], kind)"
            params.append(list(kinds))
        sql += " ORDER BY score DESC NULLS LAST, seq ASC LIMIT ?"
        params.append(int(limit))
        with self._reading("memory_search", flush=True) as con:
            rows = con.execute(sql, params).fetchall()
        return [(memory_from_row(r[:10]), float(r[-1] or 0.0)) for r in rows]

    # -- user SQL --------------------------------------------------------------------------------------------
    def sql(self, query: str, params: Sequence[Any] | None = None) -> QueryResult:
        """Run a read-only SQL query over the store's tables (runs, nodes, events, journal, waits, kv, memory,
        artifacts) and return the rows. Writing statements raise :class:`UsageError`."""
        if not isinstance(query, str) or not query.strip():
            raise UsageError("sql() takes a non-empty SQL string")
        with self._reading("sql", flush=True) as con:
            try:
                statements = con.extract_statements(query)
            except duckdb.Error as exc:
                raise UsageError(f"this SQL does not parse: {exc}", code="bad_sql") from exc
            if len(statements) != 1:
                raise UsageError(f"sql() runs one statement at a time, got {len(statements)}", code="bad_sql")
            kind = statements[0].type.name
            if kind not in READ_ONLY_STATEMENTS:
                raise UsageError(
                    f"sql() is read-only ({kind} refused): the run journal and waits live in these tables, "
                    "so change them through the aether_nb API",
                    code="read_only_sql",
                )
            try:
                cur = con.execute(query, list(params or []))
            except duckdb.Error as exc:
                raise UsageError(f"the query failed: {exc}", code="bad_sql") from exc
            columns = [d[0] for d in cur.description or []]
            return QueryResult(columns, [tuple(r) for r in cur.fetchall()])

    # -- artifacts -------------------------------------------------------------------------------------------
    def artifact_put(self, record: ArtifactRecord, data: bytes) -> None:
        data = bytes(data)
        with self._writing("artifact_put") as con:
            labels = dumps(record.labels)
            inline: bytes | None = data
            blob_file: str | None = None
            if len(data) > INLINE_BLOB_MAX:
                blob_file = self._blobs.write(data)  # before the row: a row never points at a missing file
                inline = None
            con.execute(ARTIFACT_UPSERT, artifact_params(record, labels, inline, blob_file, self._counter.next))

    def artifact_get(self, artifact_id: str) -> tuple[ArtifactRecord, bytes] | None:
        with self._reading("artifact_get") as con:
            row = con.execute(f"{ARTIFACT_SELECT} WHERE id = ?", [artifact_id]).fetchone()
        if row is None:
            return None
        record = artifact_from_row(row)
        if row[12] is None:
            return record, bytes(row[11] or b"")
        data = self._blobs.read(artifact_id, row[12])
        return record, data

    def artifact_set_pinned(self, artifact_id: str, pinned: bool) -> bool:
        with self._writing("artifact_set_pinned") as con:
            row = con.execute("UPDATE artifacts SET pinned = ? WHERE id = ?", [bool(pinned), artifact_id]).fetchone()
            return bool(row and row[0])

    def artifact_list(self) -> list[ArtifactRecord]:
        with self._reading("artifact_list") as con:
            # Ties keep first-insert order, as MemoryStore's stable sort does.
            rows = con.execute(f"{ARTIFACT_SELECT} ORDER BY created_at DESC, ord").fetchall()
            return [artifact_from_row(r) for r in rows]

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
                self._buffer.cancel_timer()
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
