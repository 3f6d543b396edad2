"""The DuckDB store: one file per notebook (or per project), the default store in a kernel.

Behaves exactly like :class:`~aether_nb.store.memory.MemoryStore` (one conformance suite covers both), plus:

* **One synced append per durable write.** A write (a history batch, a run, a wait, a KV value...) is one frame
  of the history log, appended to a segment file in ``<file>.history-log/`` and synced (~0.2 ms here, where a
  DuckDB statement with its commit costs ~1 ms); the typed tables are brought up to date from the log later, and
  every read merges what the log holds (:mod:`aether_nb.store.log`, :mod:`aether_nb.store.logfile`). A store
  closed normally leaves no segment: at rest, everything is in the database file.
  A record the store cannot hold is refused on its own: :meth:`DuckDBStore.write_history` writes the rest of its
  batch and returns what it refused (:mod:`aether_nb.store.rows` says what can be stored).
* **Read-only SQL by construction**: :meth:`DuckDBStore.sql` (see :mod:`aether_nb.store.query`).
* **A versioned schema**: ``schema_version`` records the migrations applied; :data:`MIGRATIONS` are applied
  in order inside one transaction. A file written by a newer aether_nb is refused rather than misread.
* **Big artifacts live beside the file**: bytes up to 1 MiB are stored in the ``artifacts`` table; bigger
  ones in ``<file>.artifacts/<sha256>`` (content-addressed, written atomically), which the row points at.
* **One process per file**: DuckDB lets a single process open a file that is being written, and that lock
  keeps read-only openers out too. Opening a file another process holds raises
  ``StorageError(code="locked")`` naming that process, after a short retry (never a hang).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import duckdb

from aether_nb.errors import StorageError
from aether_nb.store import reads
from aether_nb.store.apply import rollback
from aether_nb.store.artifact_log import pinned_frame, put_frame, report_unclaimed
from aether_nb.store.blobs import BlobFolder
from aether_nb.store.lock_message import lock_message
from aether_nb.store.log import PENDING_MAX, FileState
from aether_nb.store.logfile import LogFile, Recovered, read_log
from aether_nb.store.overlay import LOGGED_TABLES, lay_over, shadow
from aether_nb.store.query import ENGINE_CONFIG, QueryResult, run_read_only
from aether_nb.store.records import (
    JSON,
    ArtifactRecord,
    HistoryBatch,
    JournalEntry,
    MemoryRecord,
    NodeRecord,
    RejectedRecord,
    RunRecord,
    WaitRecord,
)
from aether_nb.store.redact import logger as redact_logger
from aether_nb.store.rows import Rows, artifact_row, encode_batch, reject_error
from aether_nb.store.schema import (
    ARTIFACT_UPSERT,
    LOG_STATE_SELECT,
    MIGRATIONS,
    ORDER_COLUMNS,
    SCHEMA_VERSION,
    migrate,
)
from aether_nb.store.unwritten import missing_rows as unwritten_rows
from aether_nb.store.values import db_text

__all__ = ["INLINE_BLOB_MAX", "MIGRATIONS", "SCHEMA_VERSION", "DuckDBStore"]

_log = redact_logger(__name__)

INLINE_BLOB_MAX = 1 << 20
"""Artifacts up to this many bytes are stored in the table; bigger ones in ``<file>.artifacts/``."""

_LOCK_RETRY_S = 0.5
_DUCKDB_MAGIC = b"DUCK"
_LOCK_RETRY_STEP_S = 0.05

_MISS: Any = object()
_STATES: dict[str, FileState] = {}
_STATES_LOCK = threading.Lock()


class DuckDBStore:
    """A :class:`~aether_nb.store.protocol.Store` in a DuckDB file. Thread-safe: one lock per file guards the
    connections of every store of the process open on it.

    Args:
        path: the database file (created with its schema when missing).
        read_only: open without writing; every write then raises ``StorageError(code="read_only")``. DuckDB
            still refuses a read-only open while another process has the file open for writing.
        apply_after_s: how long the store waits, idle, before it applies its history log to the tables.
    """

    def __init__(self, path: str | os.PathLike[str], *, read_only: bool = False, apply_after_s: float = 1.0) -> None:
        self.location = os.fspath(path)
        self._read_only = read_only
        self._closed = False
        self._apply_after_s = float(apply_after_s)
        self._blobs = BlobFolder(self.location)
        self._state_key = os.path.realpath(self.location)
        self._con = self._connect()
        try:
            migrate(self._con, self.location, read_only=self._read_only)
            self._state = self._acquire_state()
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                self._con.close()
            raise
        self._atexit = _make_atexit(self)
        atexit.register(self._atexit)

    # -- opening ---------------------------------------------------------------------------------------------
    def _connect(self) -> duckdb.DuckDBPyConnection:
        self._refuse_foreign_file()
        deadline = time.monotonic() + _LOCK_RETRY_S
        while True:
            try:
                return duckdb.connect(self.location, read_only=self._read_only, config=dict(ENGINE_CONFIG))
            except duckdb.IOException as exc:
                if "Could not set lock" not in str(exc):
                    raise self._open_error(exc) from exc
                if time.monotonic() + _LOCK_RETRY_STEP_S > deadline:
                    raise StorageError(
                        lock_message(self.location, exc, read_only=self._read_only), code="locked"
                    ) from exc
                time.sleep(_LOCK_RETRY_STEP_S)
            except duckdb.ConnectionException as exc:
                if "different configuration" not in str(exc):
                    raise self._open_error(exc) from exc
                other = "read-write" if self._read_only else "read-only"
                raise StorageError(
                    f"cannot open the aether_nb store {self.location} "
                    f"{'read-only' if self._read_only else 'read-write'}: this process already has it open "
                    f"{other}, or with other settings (another DuckDBStore, or a duckdb.connect() of your own). "
                    f"Use that store, or close it first. (DuckDB: {exc})",
                    code="open_failed",
                ) from exc
            except duckdb.Error as exc:
                raise self._open_error(exc) from exc

    def _refuse_foreign_file(self) -> None:
        """Refuse an existing file that is not a DuckDB database before DuckDB opens it: given ``data.csv``, DuckDB
        opened it as something else, runs seemed stored and nothing was kept (a ``.txt`` was refused, a CSV not).
        A DuckDB file holds ``DUCK`` at bytes 8-12 of its header."""
        try:
            with open(self.location, "rb") as f:
                head = f.read(12)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return  # (a new file, or what DuckDB reports itself)
        except OSError as exc:
            raise self._open_error(exc) from exc
        if head[8:12] != _DUCKDB_MAGIC:
            raise self._open_error(f'the file "{self.location}" exists, but it is not a valid DuckDB database file')

    def _open_error(self, exc: object) -> StorageError:
        what = "read-only " if self._read_only else ""
        return StorageError(
            f"cannot open the aether_nb store {self.location} {what}with DuckDB: {exc}. Check that the path "
            "is a DuckDB file written by aether_nb (or a new file in an existing folder), or open another.",
            code="open_failed",
        )

    def _acquire_state(self) -> FileState:
        with _STATES_LOCK:
            state = _STATES.get(self._state_key)
            if state is None:
                parts = " UNION ALL ".join(f"SELECT max({col}) AS m FROM {table}" for table, col in ORDER_COLUMNS)
                row = self._con.execute(f"SELECT coalesce(max(m), 0) FROM ({parts})").fetchone()
                db_id, applied_upto = self._con.execute(LOG_STATE_SELECT).fetchone() or ("", 0)
                in_memory = self.location.startswith(":memory:")  # (DuckDB's in-memory databases: no log to keep)
                try:
                    found = Recovered() if in_memory else read_log(self.location, str(db_id))
                except OSError as exc:
                    raise self._open_error(exc) from exc
                log = None
                if not self._read_only:
                    log = LogFile.after(None if in_memory else self.location, str(db_id), found)
                start = max(int(row[0]) if row else 0, int(applied_upto), found.max_seq)
                state = FileState(start, self._apply_after_s, log)
                # A process that died left its log unapplied (its writes are durable there): apply it now.
                state.recover(self._con, found, int(applied_upto), location=self.location, writable=log is not None)
                report_unclaimed(self._con, self._blobs.path, self.location)
                if not self._read_only:
                    location = self.location
                    state.start_applier(lambda: duckdb.connect(location, config=dict(ENGINE_CONFIG)), location)
                _STATES[self._state_key] = state
            state.users += 1
            return state

    def _release_state(self) -> None:
        with _STATES_LOCK:
            self._state.users -= 1
            last = self._state.users <= 0 and _STATES.get(self._state_key) is self._state
            if last:
                del _STATES[self._state_key]
        if last:
            self._state.stop_applier()

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
    def _reading(self, what: str) -> Iterator[duckdb.DuckDBPyConnection]:
        """Lock and check (a read that cannot merge the log applies it: :meth:`_apply_if_touched`). DuckDB errors
        become ``StorageError(code="io")``."""
        with self._state.lock:
            self._check()
            try:
                yield self._con
            except duckdb.Error as exc:
                raise self._io_error(what, exc) from exc

    # -- the write path --------------------------------------------------------------------------------------
    def write_history(self, batch: HistoryBatch, *, durable: bool = True) -> list[RejectedRecord]:
        """Write every record of ``batch`` the store can hold, as one durable statement (see the module
        docstring); return the records refused, with why. Raises StorageError when nothing was written.

        ``durable=False``: the batch survives the process being killed when this returns, and a power loss once
        the log is next synced (a durable write, even of an empty batch, :meth:`flush`, or the next apply)."""
        with self._state.lock:
            self._check()
            self._check_writable()
            rows = encode_batch(batch, self._state.next, self._state.take)
            if len(rows):
                late = self._write_rows(rows, "write_history", durable=durable)
            else:
                late = []
                if durable:
                    self._sync_log("write_history")
            return rows.rejected + late + self._state.take_late_rejects()

    def _write_direct(self, batch: HistoryBatch, what: str) -> None:
        """A single write of the protocol: all of it or, when a record cannot be stored, nothing (StorageError)."""
        with self._state.lock:
            self._check()
            self._check_writable()
            rows = encode_batch(batch, self._state.next, self._state.take)
            if rows.rejected:
                raise reject_error(rows.rejected)
            late = self._write_rows(rows, what)
            self._state.late_rejects += late

    def _write_rows(self, rows: Rows, what: str, *, durable: bool = True) -> list[RejectedRecord]:
        """One log row, durable when this returns (``durable``); the applier takes it from there. Under the lock."""
        state = self._state
        rejected: list[RejectedRecord] = []
        if state.pending.size >= PENDING_MAX:  # the applier is behind: memory stays bounded
            # Its apply in flight ends fast once this thread waits (while the loop runs Python, the applier's
            # statements wait for the GIL at every step); only what is still too much is applied here.
            state.wait_for_apply()
            if state.pending.size >= PENDING_MAX:
                rejected = self._apply_locked_reporting(what)
        seq = state.next()
        assert state.log is not None  # (a read-only store refused the write before)
        try:
            state.log.append(seq, rows.to_log(), sync=durable)
        except OSError as exc:
            raise self._log_error(what, exc, "Nothing of this write was kept") from exc
        state.pending.add(rows, seq)
        state.wrote_kv(rows.kv)
        if rows.runs:
            state.cache.finished((r[0] for r in rows.runs), (r[2] for r in rows.runs))
        state.last_write = time.monotonic()
        state.wrote()
        return rejected

    def _log_error(self, what: str, exc: OSError, kept: str) -> StorageError:
        folder = self._state.log.folder if self._state.log is not None else None
        return StorageError(
            f"{what} failed: cannot write the history log of the aether_nb store {self.location} ({folder}): "
            f"{exc}. {kept}; free disk space or check the folder's permissions, then write again.",
            code="io",
        )

    def _sync_log(self, what: str) -> None:
        """Make the batches written with ``durable=False`` durable (under the lock)."""
        if self._state.log is None:
            return
        try:
            self._state.log.sync()
        except OSError as exc:
            kept = "The batches written before are kept but may not survive a power loss"
            raise self._log_error(what, exc, kept) from exc

    def _apply_locked(self) -> None:
        """Apply the log now (a read needs the tables whole); its rejected rows are reported with the next write."""
        self._state.late_rejects += self._state.apply_now(self._con)

    def _apply_if_touched(self, what: str, tables: tuple[str, ...]) -> None:
        """Apply the log before a read of ``tables`` that cannot merge it; when that fails (a full disk) the read
        lays the log's rows over the tables instead (reads work while writes cannot), and a later apply retries."""
        if not self._read_only and self._state.pending.touches(*tables):
            try:
                self._apply_locked()
            except (duckdb.Error, OSError) as exc:
                _log.debug("aether_nb: %s reads %s with its log unapplied: %s", what, self.location, exc)

    def _apply_locked_reporting(self, what: str) -> list[RejectedRecord]:
        try:
            return self._state.apply_now(self._con)
        except duckdb.Error as exc:
            raise self._io_error(what, exc) from exc

    # -- runs, journal, waits, nodes, events ------------------------------------------------------------------
    def put_run(self, record: RunRecord) -> None:
        self._write_direct(HistoryBatch(runs=[record]), "put_run")

    def append_journal(self, entry: JournalEntry) -> None:
        self._write_direct(HistoryBatch(journal=[entry]), "append_journal")

    def append_journal_many(self, entries: Sequence[JournalEntry]) -> None:
        if entries:
            self._write_direct(HistoryBatch(journal=list(entries)), "append_journal_many")

    def put_wait(self, record: WaitRecord) -> None:
        self._write_direct(HistoryBatch(waits=[record]), "put_wait")

    def put_node(self, record: NodeRecord) -> None:
        self._write_direct(HistoryBatch(nodes=[record]), "put_node")

    def append_events(self, run_id: str, events: Sequence[JSON]) -> None:
        if events:
            self._write_direct(HistoryBatch(events=[(run_id, e) for e in events]), "append_events")

    # -- reads (the tables merged with the log's pending rows: aether_nb.store.reads) ---------------------------
    def get_run(self, run_id: str) -> RunRecord | None:
        with self._reading("get_run") as con:
            return reads.get_run(con, self._state, run_id, writable=not self._read_only)

    def list_runs(self, *, status: str | None = None, graph: str | None = None) -> list[RunRecord]:
        with self._reading("list_runs") as con:
            return reads.list_runs(con, self._state, status, graph)

    def load_journal(self, run_id: str) -> list[JournalEntry]:
        with self._reading("load_journal") as con:
            return reads.load_journal(con, self._state, run_id)

    def get_wait(self, token: str) -> WaitRecord | None:
        with self._reading("get_wait") as con:
            return reads.get_wait(con, self._state, token)

    def list_waits(self, run_id: str | None = None, *, status: str | None = "open") -> list[WaitRecord]:
        with self._reading("list_waits") as con:
            return reads.list_waits(con, self._state, run_id, status)

    def list_nodes(self, run_id: str) -> list[NodeRecord]:
        with self._reading("list_nodes") as con:
            return reads.list_nodes(con, self._state, run_id)

    def load_events(self, run_id: str) -> list[JSON]:
        with self._reading("load_events") as con:
            return reads.load_events(con, self._state, run_id)

    def kv_get(self, scope: str, key: str) -> tuple[JSON, float | None] | None:
        state = self._state
        with state.lock:  # the hot path: a cached key costs a dict lookup (LLM cache, checkpoints)
            self._check()
            entry = state.kv_cache.get((scope, key), _MISS)
        if entry is _MISS:
            with self._reading("kv_get") as con:
                entry = reads.kv_get(con, state, scope, key)
        return None if entry is None else (json.loads(entry[0]), entry[1])

    def kv_keys(self, scope: str, prefix: str = "") -> list[tuple[str, float | None]]:
        with self._reading("kv_keys") as con:
            return reads.kv_keys(con, self._state, scope, prefix)

    def memory_query(
        self, scope: str, *, kinds: Sequence[str] | None = None, limit: int | None = None
    ) -> list[MemoryRecord]:
        with self._reading("memory_query") as con:
            return reads.memory_query(con, self._state, scope, kinds, limit)

    def memory_search(
        self, scope: str, vector: Sequence[float], *, kinds: Sequence[str] | None = None, limit: int = 10
    ) -> list[tuple[MemoryRecord, float]]:
        with self._reading("memory_search") as con:
            self._apply_if_touched("memory_search", ("memory",))
            if not self._state.pending.touches("memory"):
                return reads.memory_search(con, scope, vector, kinds, limit)
            # Memory rows in the log that could not be applied (read-only, the log of a process that died; or a full
            # disk): searched with them laid over the table.
            cur = con.cursor()
            try:
                cur.execute("BEGIN TRANSACTION")
                try:
                    lay_over(cur, self._state, con, ("memory",))
                    return reads.memory_search(cur, scope, vector, kinds, limit)
                finally:
                    rollback(cur)
            finally:
                cur.close()

    def artifact_get(self, artifact_id: str) -> tuple[ArtifactRecord, bytes] | None:
        with self._reading("artifact_get") as con:
            found = reads.artifact_get(con, artifact_id)
        if found is None:
            return None
        record, inline, blob_file = found
        return record, (inline if blob_file is None else self._blobs.read(artifact_id, blob_file)) or b""

    def artifact_list(self) -> list[ArtifactRecord]:
        with self._reading("artifact_list") as con:
            return reads.artifact_list(con)

    def expect_reads(self, run_ids: Sequence[str]) -> None:
        """These runs are about to be resumed: the first of them read is read with all the others, in one
        statement (see :mod:`aether_nb.store.cache`)."""
        with self._state.lock:
            self._check()
            self._state.cache.expect(db_text(r) for r in run_ids if isinstance(r, str))

    # -- KV and memory (writes) --------------------------------------------------------------------------------
    def kv_set(self, scope: str, key: str, value: JSON, expires_at: float | None) -> None:
        self._write_direct(HistoryBatch(kv=[(scope, key, value, expires_at, False)]), "kv_set")

    def kv_delete(self, scope: str, key: str) -> bool:
        with self._state.lock:
            existed = self.kv_get(scope, key) is not None
            self._write_direct(HistoryBatch(kv=[(scope, key, None, None, True)]), "kv_delete")
            return existed

    def kv_purge(self, now: float) -> int:
        state = self._state
        with self._reading("kv_purge") as con:
            self._check_writable()
            if not state.min_expiry_known:
                row = con.execute("SELECT min(expires_at) FROM kv").fetchone()
                stored = row[0] if row else None
                pending = [op[3] for op in state.pending.kv_ops().values() if not op[4] and op[3] is not None]
                state.min_expiry = min([e for e in (stored, *pending) if e is not None], default=None)
                state.min_expiry_known = True
            if state.min_expiry is None or state.min_expiry > now:
                return 0  # nothing expires yet: no statement at all
            self._apply_locked()  # the DELETE below must not race the applier, nor miss the log's KV writes
            row = con.execute("DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?", [now]).fetchone()
            state.kv_cache.clear()
            state.purged_kv()
            state.min_expiry_known = False
            return int(row[0]) if row else 0

    def memory_append(self, record: MemoryRecord) -> None:
        self._write_direct(HistoryBatch(memory=[record]), "memory_append")

    # -- user SQL --------------------------------------------------------------------------------------------
    def sql(
        self, query: str, params: Sequence[Any] | None = None, *, unwritten: HistoryBatch | None = None
    ) -> QueryResult:
        """Run one read-only SQL statement over the store's tables (runs, nodes, events, journal, waits, kv,
        memory, artifacts) and return the rows. Nothing a statement does can change the store or touch the file
        system (see :mod:`aether_nb.store.query`); a statement that tries raises :class:`UsageError`.

        The rows are the store's whole history: a writable store applies its history log first; a store that
        cannot (read-only, on the file of a process that died; or a full disk) reads the tables with that log's
        rows laid over them (:mod:`aether_nb.store.overlay`), as its typed reads do. ``unwritten``: history the
        caller could not write (a full disk), laid over them too (:mod:`aether_nb.store.unwritten`)."""
        with self._reading("sql") as con:
            state = self._state
            self._apply_if_touched("sql", LOGGED_TABLES)
            missing = unwritten_rows(state, unwritten)
            if missing is None:
                return run_read_only(con, query, params)

            def whole(cur: duckdb.DuckDBPyConnection) -> None:
                shadow(cur, missing, state, con)

            return run_read_only(con, query, params, prepare=whole)

    # -- artifacts -------------------------------------------------------------------------------------------
    def artifact_put(self, record: ArtifactRecord, data: bytes) -> None:
        """Store the artifact: in the store when this returns. Its row is first one synced frame of the history
        log, then written to the table, so a ``.wal`` cut short loses it no more than history (see
        :mod:`aether_nb.store.artifact_log`)."""
        data = bytes(data)
        with self._state.lock:
            self._check()
            self._check_writable()
            head = artifact_row(record)
            inline: bytes | None = data
            blob_file: str | None = None
            if len(data) > INLINE_BLOB_MAX:
                blob_file = self._blobs.write(data)  # before the row: a row never points at a missing file
                inline = None
            row = [*head, self._state.next(), inline, blob_file]
            self._log_artifact(row[11], put_frame(row), "artifact_put")
            try:
                self._con.execute(ARTIFACT_UPSERT, row)
            except duckdb.Error as exc:
                raise self._io_error("artifact_put", exc) from exc

    def artifact_set_pinned(self, artifact_id: str, pinned: bool) -> bool:
        with self._reading("artifact_set_pinned") as con:
            self._check_writable()
            key = db_text(artifact_id)
            if con.execute("SELECT count(*) FROM artifacts WHERE id = ?", [key]).fetchone() in (None, (0,)):
                return False
            self._log_artifact(self._state.next(), pinned_frame(key, bool(pinned)), "artifact_set_pinned")
            row = con.execute("UPDATE artifacts SET pinned = ? WHERE id = ?", [bool(pinned), key])
            hit = row.fetchone()
            return bool(hit and hit[0])

    def _log_artifact(self, seq: int, text: str, what: str) -> None:
        """An artifact write as one synced frame of the history log, before its statement (under the lock)."""
        assert self._state.log is not None  # (a read-only store refused the write before)
        try:
            self._state.log.append(seq, text)
        except OSError as exc:
            raise self._log_error(what, exc, "Nothing of this write was kept") from exc

    # -- lifecycle -------------------------------------------------------------------------------------------
    def flush(self) -> None:
        """Make every write durable: those of ``write_history(durable=False)`` are synced to disk (every other
        write is durable when it returns; the log is applied to the tables on its own)."""
        with self._state.lock:
            self._check()
            if not self._read_only:
                self._sync_log("flush")

    def close(self) -> None:
        """Apply the history log to the tables (so the file is tidy for other readers) and close. If that fails,
        the log stays in the file and the next open applies it."""
        try:
            with self._state.lock:
                if self._closed:
                    return
                self._closed = True
                if not self._read_only and self._state.pending and self._state.users <= 1:
                    try:
                        self._apply_locked()
                    except duckdb.Error as exc:
                        _log.warning("aether_nb: %s closed with its history log unapplied (applied at the next "
                                     "open): %s", self.location, exc)  # fmt: skip
        finally:
            atexit.unregister(self._atexit)
            self._release_state()  # without the lock: it waits for the applier's thread, which takes it to commit
            with contextlib.suppress(duckdb.Error):
                self._con.close()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def shared(self) -> bool:
        """Whether another store of this process has the file open too (DuckDB's lock keeps other processes out,
        not other stores of this one)."""
        return self._state.users > 1

    def __enter__(self) -> DuckDBStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("read-only" if self._read_only else "open")
        return f"DuckDBStore({self.location!r}, {state})"


def _make_atexit(store: DuckDBStore) -> Callable[[], None]:
    """An exit hook that closes ``store`` if it is still open, without keeping it alive."""
    ref = weakref.ref(store)

    def _close_at_exit() -> None:
        s = ref()
        if s is not None and not s.closed:
            try:
                s.close()
            except Exception as exc:  # at exit there is nobody left to raise to
                _log.warning("aether_nb: closing %s at exit failed: %s", s.location, exc)

    return _close_at_exit
