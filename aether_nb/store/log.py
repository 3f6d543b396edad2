"""The DuckDB store's write path: one synced append per durable batch, applied to the typed tables later.

Why: on this machine a DuckDB statement with its commit costs ~0.75 ms in a tight loop and 1.1-1.25 ms in the
running store whatever it carries, where appending to a file and syncing it costs ~0.2 ms. So a batch of history
is written as **one frame of the history log**, a segment file beside the database (its rows as JSON text, see
:meth:`~aether_nb.store.rows.Rows.to_json`; the format and its guarantees: :mod:`aether_nb.store.logfile`): once
the append returns, the batch is durable. The typed tables (runs, waits, journal, nodes, events, memory, kv) are
brought up to date from the log later (:mod:`aether_nb.store.apply`), in one transaction that also records the
highest log seq applied, after which the segments it covers are deleted:

* in the background (:class:`~aether_nb.store.apply.Applier`), when the store has been idle for ``apply_after_s``,
  or once the log holds :data:`APPLY_ROWS` rows or :data:`APPLY_BATCHES` batches and the writer pauses for
  :data:`APPLY_PAUSE_S` (see there why not while it writes);
* at once, at ``sql()`` and the few other reads that need whole tables, at ``close()``, when the log holds more
  than :data:`PENDING_MAX` rows (the writer waits: memory stays bounded), and when the file is opened again after
  a process died with frames in its log (:meth:`FileState.recover`).

Until then the log's rows are kept in memory (:class:`~aether_nb.store.delta.Pending`), and every read merges
them: only this process can write the file (DuckDB's lock), so what it wrote is all the file lacks.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any

import duckdb

from aether_nb.store.apply import Applier, apply_generation
from aether_nb.store.artifact_log import ArtifactOp, artifact_op, redo, report_missing
from aether_nb.store.cache import RunCache
from aether_nb.store.delta import Delta, Pending, one_run
from aether_nb.store.logfile import LogFile, Recovered
from aether_nb.store.records import FINISHED_RUN_STATUSES, RejectedRecord
from aether_nb.store.rows import Rows
from aether_nb.store.schema import LOG_SELECT
from aether_nb.store.values import py_text

__all__ = ["APPLY_BATCHES", "APPLY_PAUSE_S", "APPLY_ROWS", "KV_KEYS_MAX", "PENDING_MAX", "FileState"]

_log = logging.getLogger("aether_nb")

APPLY_ROWS = 5_000
"""The background applier starts once the log holds this many rows and the writer pauses (:data:`APPLY_PAUSE_S`)."""
APPLY_BATCHES = 500
"""... or this many batches."""
APPLY_PAUSE_S = 0.05
"""How long the writer must pause before the background applier takes a log of :data:`APPLY_ROWS` rows. Not at
once: beside a thread that keeps running Python (a kernel executing a long chain of steps), the applier gets the
GIL only in switch-interval slices (DuckDB's client takes it at every execution task), so its apply costs that
thread more than applying inline would; a writer that never pauses applies at :data:`PENDING_MAX` itself (~9 %
faster per W1 step, bench/README). A pause of the loop (a model call, a user's answer, the next cell) is when the
applier runs unopposed."""
PENDING_MAX = 20_000
"""A writer that finds this many rows waiting to be applied applies them itself first (memory stays bounded: a
pending row takes ~1 KB)."""
KV_PRELOAD_ROWS = 10_000
KV_PRELOAD_BYTES = 4 << 20
"""A KV table this small is read whole into the read cache when the file is opened."""
KV_KEYS_MAX = 200_000
"""Up to this many KV keys, the store keeps the set of keys the table holds, so a read of a missing key costs no
query (a state graph's first checkpoint reads, say)."""


class FileState:
    """What this process knows of one file, shared by every DuckDBStore of the process open on it (DuckDB gives
    them one database): the lock, the next order value, the keys the typed tables hold, the rows of the log not
    applied yet, the background applier, the read caches and rejected rows not reported yet.

    Only one process can have a file open for writing, so the counter starts from the file's largest order value
    and the key sets, read once per table, stay true while this process holds the file.
    """

    def __init__(self, start: int, apply_after_s: float, log: LogFile | None = None) -> None:
        self.lock = threading.RLock()
        self.log = log
        """The log's segment files (None when the file is open read-only: nothing is written)."""
        self.legacy_seqs: list[int] = []
        """Rows of the ``history_log`` table an earlier aether_nb left (deleted by the apply that applies them)."""
        self._applying_segments: list[Path] = []
        self.changed = threading.Condition(self.lock)
        """Notified when rows are written or an apply ends (the applier and the writers that wait use it)."""
        self.users = 0
        self.pending = Pending()
        self.apply_after_s = apply_after_s
        self.last_write = 0.0
        self.applier: Applier | None = None
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

    def take(self, n: int) -> range:
        """``n`` consecutive order values at once (what ``n`` calls of :meth:`next` return): a batch's rows."""
        start = self._value + 1
        self._value += n
        return range(start, self._value + 1)

    # -- keys the typed tables hold ----------------------------------------------------------------------------
    def _run_table(self, con: duckdb.DuckDBPyConnection) -> dict[str, bool]:
        if self._runs is None:
            rows = con.execute("SELECT run_id, status FROM runs").fetchall()
            self._runs = {r: py_text(st) in FINISHED_RUN_STATUSES for r, st in rows}
        return self._runs

    def known_run(self, run_id: str, con: duckdb.DuckDBPyConnection) -> bool:
        """Whether the ``runs`` table holds this run (ids read once; the log's runs are in :attr:`pending`)."""
        return run_id in self._run_table(con)

    def unfinished(self, run_id: str, con: duckdb.DuckDBPyConnection) -> bool:
        """Whether the file holds this run, not finished (the log's record first, then the table's)."""
        row = self.pending.run(run_id)
        if row is not None:
            return py_text(row[2]) not in FINISHED_RUN_STATUSES
        done = self._run_table(con).get(run_id)
        return done is not None and not done

    def unfinished_runs(self, con: duckdb.DuckDBPyConnection) -> list[str]:
        """Every run of the file that is not finished (stored ids)."""
        out = {r for r, done in self._run_table(con).items() if not done}
        for r, row in self.pending.runs().items():
            if py_text(row[2]) in FINISHED_RUN_STATUSES:
                out.discard(r)
            else:
                out.add(r)
        return sorted(out)

    def known_wait(self, token: str, con: duckdb.DuckDBPyConnection) -> bool:
        if self._tokens is None:
            self._tokens = {r[0] for r in con.execute("SELECT token FROM waits").fetchall()}
        return token in self._tokens

    def known_nodes(self, keys: Sequence[Sequence[Any]], con: duckdb.DuckDBPyConnection) -> list[bool]:
        """Whether the ``nodes`` table holds each ``(run id, node id)``: the first two fields of each of ``keys``
        (node rows as they are, no pair made per row). Node ids are read per run, once, and forgotten when the
        run finishes (see :meth:`applied`); the runs not read yet are read in **one** statement (a resume of many
        runs applies their nodes together: a statement per run cost ~0.7 ms each)."""
        nodes = self._nodes
        runs = set(map(itemgetter(0), keys))
        missing = runs.difference(nodes)
        if missing:
            found: dict[str, set[str]] = {r: set() for r in missing}  # a run the table lacks has no nodes there
            stored = [r for r in missing if self.known_run(r, con)]
            if stored:
                rows = con.execute(
                    "SELECT run_id, node_id FROM nodes WHERE run_id IN (SELECT unnest(?::VARCHAR[]))", [stored]
                ).fetchall()
                for run_id, node_id in rows:
                    found[run_id].add(node_id)
            nodes.update(found)  # (only once read: a failed read leaves them unknown, to be read again)
        if len(runs) == 1 and nodes[next(iter(runs))].isdisjoint(map(itemgetter(1), keys)):
            return [False] * len(keys)  # (one run's new nodes, as a W1 apply: no Python step per row)
        return [k[1] in nodes[k[0]] for k in keys]

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
        if rows.nodes:
            run = one_run(rows.nodes, 0)
            if run is not None:  # (one run's nodes: one update)
                self._nodes.setdefault(run, set()).update(map(itemgetter(1), rows.nodes))
            else:
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
    def recover(
        self, con: duckdb.DuckDBPyConnection, found: Recovered, applied_upto: int, *, location: str, writable: bool
    ) -> None:
        """Read the log a dead process left (its segments, ``found``, and rows of the ``history_log`` table an
        earlier aether_nb wrote) into :attr:`pending`, and apply it when the file is writable. Frames the tables
        already hold (``seq <= applied_upto``) are skipped; a batch that cannot be read is reported and kept (its
        table row stays, its segment is renamed ``.unreadable``), the others are applied.

        The artifact writes among those frames are written again (:mod:`aether_nb.store.artifact_log`: what a
        ``.wal`` cut short lost comes back), or, read-only, the artifacts the table lacks are named."""
        batches: list[tuple[int, str, Any]] = [(int(s), t, None) for s, t in con.execute(LOG_SELECT).fetchall()]
        batches += [(r.seq, r.text, r.segment) for r in found.records if r.seq > applied_upto]
        for problem in found.problems:
            _log.error("aether_nb: %s", problem)
        artifacts: list[ArtifactOp] = []
        artifact_segments: list[Path] = []
        for seq, text, segment in sorted(batches, key=lambda b: b[0]):
            try:
                op = artifact_op(text)
                if op is not None:
                    artifacts.append(op)
                    if segment is not None and segment not in artifact_segments:
                        artifact_segments.append(segment)
                    continue
                rows = Rows.from_json(text)
            except (ValueError, TypeError) as exc:
                _log.error(
                    "aether_nb: history batch %s in %s cannot be read and stays in its log: %s", seq, location, exc
                )
                if segment is not None and segment not in found.unreadable:
                    found.unreadable.append(segment)
                continue
            self.pending.add(rows, seq)
            if segment is None:
                self.legacy_seqs.append(seq)
        if self.log is not None:
            self.log.hold(found.unreadable)  # kept, whatever is applied
        if writable:
            try:
                with self.lock:
                    try:
                        redo(con, artifacts, location)
                    except duckdb.Error:
                        if self.log is not None:
                            self.log.hold(artifact_segments)  # never deleted here: written again at the next open
                        raise
                    self.late_rejects += self.apply_now(con)
                    if self.log is not None:
                        self.log.discard(self.log.rotate())  # frames all applied before (or none at all)
                        self.log.set_aside(found)
            except duckdb.Error as exc:  # kept in the log and in memory: the next apply retries
                _log.warning("aether_nb: applying the history log of %s failed (will retry): %s", location, exc)
        else:
            report_missing(con, artifacts, location)
        self.cache.prefetch_unfinished(con)  # the runs a restarted notebook resumes: read now, in one statement
        self._read_kv(con)

    def _read_kv(self, con: duckdb.DuckDBPyConnection) -> None:
        """At open: the KV table's earliest expiry (so a resume's purge needs no statement) and, when the table is
        small, all of it into the read cache (a state graph's checkpoints, read when its thread resumes)."""
        count, size, earliest = con.execute(
            "SELECT count(*), coalesce(sum(strlen(value)), 0), min(expires_at) FROM kv"
        ).fetchone() or (0, 0, None)
        pending = [op[3] for op in self.pending.kv_ops().values() if not op[4] and op[3] is not None]
        self.min_expiry = min([e for e in (earliest, *pending) if e is not None], default=None)
        self.min_expiry_known = True
        if count <= KV_PRELOAD_ROWS and size <= KV_PRELOAD_BYTES:
            rows = con.execute('SELECT scope, "key", value, expires_at FROM kv').fetchall()
            self._kv_keys = {(sc, k) for sc, k, _, _ in rows}
            self._kv_keys_read = True
            for sc, k, value, expires_at in rows:
                if self.pending.kv((sc, k)) is None:
                    self.cache_kv(py_text(sc), py_text(k), (value, expires_at))

    # -- applying ----------------------------------------------------------------------------------------------------
    def apply_due(self, now: float) -> float | None:
        """For the applier: 0 when an apply is due, else the seconds until one will be (None: nothing pending, or
        an apply in flight)."""
        cur = self.pending.current
        if not cur or self.pending.applying is not None:
            return None
        idle = self.apply_after_s
        if cur.size >= APPLY_ROWS or len(cur.log_seqs) >= APPLY_BATCHES:
            idle = min(idle, APPLY_PAUSE_S)
        return max(0.0, self.last_write + idle - now)

    def wrote(self) -> None:
        """A write made rows pending (caller holds the lock): wake the applier."""
        self.changed.notify_all()

    def wait_for_apply(self) -> None:
        """Wait (releasing the lock) until no background apply is in flight."""
        while self.pending.applying is not None:
            self.changed.wait()

    def apply_now(self, con: duckdb.DuckDBPyConnection) -> list[RejectedRecord]:
        """Apply every pending row now, on ``con`` (caller holds the lock); waits for a background apply first.
        Returns the rows DuckDB refused. Raises duckdb.Error when the apply failed (the rows stay pending)."""
        self.wait_for_apply()
        if not self.pending.current:
            return []
        gen = self.freeze()
        try:
            rejected = apply_generation(con, self, gen)
        except BaseException:
            self.pending.thaw()
            self.changed.notify_all()
            raise
        self.committed()
        return rejected

    def freeze(self) -> Delta:
        """Hand the pending rows to an apply (caller holds the lock): new writes go to a new generation, and to a
        new log segment, so the segments closed now hold nothing the apply does not cover."""
        gen = self.pending.freeze()
        self._applying_segments = self.log.rotate() if self.log is not None else []
        return gen

    def committed(self) -> None:
        """The frozen generation is in the tables (committed, with its highest log seq): its segments go."""
        self.pending.applied()
        self.legacy_seqs = []
        if self.log is not None:
            self.log.discard(self._applying_segments)
        self._applying_segments = []
        self.changed.notify_all()

    def start_applier(self, connect: Callable[[], duckdb.DuckDBPyConnection], location: str) -> None:
        if self.applier is None:
            self.applier = Applier(self, connect, location)
            atexit.register(self._at_exit)

    def stop_applier(self) -> None:
        """End the background applier (after its apply in flight) and close its connection, then the log's open
        segment (deleting the segments when everything is applied). Without the lock."""
        applier, self.applier = self.applier, None
        if applier is not None:
            atexit.unregister(self._at_exit)
            applier.stop()
        with self.lock:
            if self.log is not None:
                self.log.close(applied=not self.pending)

    def _at_exit(self) -> None:
        """A normal exit with the file still open (a store dropped without ``close()``): apply the log, so the file
        is tidy for the next reader, and end the applier. (Its rows are durable in the log anyway.)"""
        applier = self.applier
        if applier is None:
            return
        with self.lock:
            self.wait_for_apply()
            if self.pending:
                try:
                    self.late_rejects += self.apply_now(applier.con)
                except duckdb.Error as exc:  # at exit: nobody to raise to, and the log keeps the rows
                    _log.warning("aether_nb: applying the history log at exit failed (applied at next open): %s", exc)
        self.stop_applier()
