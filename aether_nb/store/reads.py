"""The DuckDB store's reads: the typed tables merged with the history log's pending rows.

What this process wrote is durable in the history log before it reaches the typed tables
(:mod:`aether_nb.store.log`), and only this process writes the file, so a read is the table's rows plus the
:class:`~aether_nb.store.log.Delta`: appended rows (journal, events, memory) after the table's, keyed rows (runs,
waits, nodes, KV) replacing the table's row of the same key but keeping its order value. Each function takes the
connection and the file state; the store calls them under the file's lock.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import duckdb

from aether_nb.store.cache import Snapshot
from aether_nb.store.log import FileState
from aether_nb.store.records import JSON, ArtifactRecord, JournalEntry, MemoryRecord, NodeRecord, RunRecord, WaitRecord
from aether_nb.store.rows import (
    artifact_from_row,
    journal_from_row,
    memory_from_row,
    node_from_row,
    run_from_row,
    wait_from_row,
)
from aether_nb.store.schema import (
    ARTIFACT_SELECT,
    JOURNAL_SELECT,
    MEMORY_SELECT,
    NODE_SELECT,
    RUN_SELECT,
    WAIT_SELECT,
    filters,
)
from aether_nb.store.values import ESCAPE, db_text, py_text

__all__ = [
    "artifact_get",
    "artifact_list",
    "get_run",
    "get_wait",
    "kv_get",
    "kv_keys",
    "list_nodes",
    "list_runs",
    "list_waits",
    "load_events",
    "load_journal",
    "memory_query",
    "memory_search",
]

Row = tuple[Any, ...]
_MISS = object()

SQL_LIMIT_MAX = 2**62
"""The largest LIMIT a query passes to DuckDB (a BIGINT); a caller's larger limit means every row."""


def _snapshot(con: duckdb.DuckDBPyConnection, state: FileState, run: str) -> Snapshot | None:
    """The cached rows of ``run`` (read now, with the runs it brings along, when it is announced or unfinished),
    or None: a finished run not cached is read table by table (see aether_nb.store.cache)."""
    cache = state.cache
    snap = cache.get(run)
    if snap is not None:
        return snap
    if run in cache.expected:
        return cache.load(con, run)
    if state.unfinished(run, con):
        return cache.load(con, run, state.unfinished_runs(con))
    return None


def _keyed(
    con: duckdb.DuckDBPyConnection,
    table: str,
    key: str,
    select: str,
    where: str,
    params: list[Any],
    pending: dict[str, Row],
    match: Callable[[Row], bool],
) -> list[Row]:
    """The table's rows (``select`` plus ``ord`` last) merged with ``pending`` rows of the same table: a pending
    row replaces the stored one of its ``key`` (the first column) and keeps the stored order value."""
    stored = con.execute(f"{select.replace(' FROM ', ', ord FROM ', 1)}{where}", params).fetchall()
    if not pending:
        return stored
    ords = dict(
        con.execute(
            f"SELECT {key}, ord FROM {table} WHERE {key} IN (SELECT unnest(?::VARCHAR[]) AS k)", [list(pending)]
        ).fetchall()
    )
    out = [r for r in stored if r[0] not in pending]
    out += [(*row[:-1], ords.get(k, row[-1])) for k, row in pending.items() if match(row)]
    return out


# -- runs and waits --------------------------------------------------------------------------------------------
def get_run(con: duckdb.DuckDBPyConnection, state: FileState, run_id: str, *, writable: bool) -> RunRecord | None:
    key = db_text(run_id)
    row = state.pending.run(key)
    if row is not None:
        return run_from_row(row)
    snap = _snapshot(con, state, key)
    if snap is not None:
        return None if snap.run is None else run_from_row(snap.run)
    if writable and not state.known_run(key, con):  # this process knows every run the file holds
        return None
    found = con.execute(f"{RUN_SELECT} WHERE run_id = ?", [key]).fetchone()
    return None if found is None else run_from_row(found)


def list_runs(
    con: duckdb.DuckDBPyConnection, state: FileState, status: str | None, graph: str | None
) -> list[RunRecord]:
    where, params = filters(("status", status), ("graph", graph))
    want = {2: None if status is None else db_text(status), 1: None if graph is None else db_text(graph)}

    def match(row: Row) -> bool:
        return all(v is None or row[i] == v for i, v in want.items())

    rows = _keyed(con, "runs", "run_id", RUN_SELECT, where, params, state.pending.runs(), match)
    rows.sort(key=lambda r: (r[5], r[-1]), reverse=True)  # newest first, then last inserted first
    return [run_from_row(r) for r in rows]


def get_wait(con: duckdb.DuckDBPyConnection, state: FileState, token: str) -> WaitRecord | None:
    key = db_text(token)
    row = state.pending.wait(key)
    if row is not None:
        return wait_from_row(row)
    run_key = state.cache.tokens.get(key)
    if run_key is not None:
        snap = state.cache.get(run_key)
        if snap is not None and key in snap.waits:
            return wait_from_row(snap.waits[key])
    found = con.execute(f"{WAIT_SELECT} WHERE token = ?", [key]).fetchone()
    return None if found is None else wait_from_row(found)


def list_waits(
    con: duckdb.DuckDBPyConnection, state: FileState, run_id: str | None, status: str | None
) -> list[WaitRecord]:
    run = None if run_id is None else db_text(run_id)
    want = None if status is None else db_text(status)
    pending = state.pending.waits(run)
    snap = None if run is None else _snapshot(con, state, run)
    if snap is not None:  # a run's waits: from its snapshot (one statement reads the run's four tables)
        stored = snap.waits
        merged = {**stored, **{t: (*w[:-1], stored[t][-1]) if t in stored else w for t, w in pending.items()}}
        rows = [w for w in merged.values() if want is None or w[9] == want]
        rows.sort(key=lambda w: (w[8], w[-1]))
        return [wait_from_row(r) for r in rows]
    where, params = filters(("run_id", run_id), ("status", status))
    rows = _keyed(con, "waits", "token", WAIT_SELECT, where, params, pending, lambda w: want is None or w[9] == want)
    rows.sort(key=lambda w: (w[8], w[-1]))  # oldest first, then first inserted first
    return [wait_from_row(r) for r in rows]


# -- journal, nodes, events -----------------------------------------------------------------------------------
def load_journal(con: duckdb.DuckDBPyConnection, state: FileState, run_id: str) -> list[JournalEntry]:
    key = db_text(run_id)
    snap = _snapshot(con, state, key)
    if snap is not None:
        stored = [journal_from_row(r[1:]) for r in snap.journal]
    else:
        rows = con.execute(f"{JOURNAL_SELECT} WHERE run_id = ? ORDER BY seq", [key]).fetchall()
        stored = [journal_from_row(r) for r in rows]
    return stored + [journal_from_row(r[1:]) for r in state.pending.journal(key)]


def list_nodes(con: duckdb.DuckDBPyConnection, state: FileState, run_id: str) -> list[NodeRecord]:
    key = db_text(run_id)
    rows = con.execute(f"{NODE_SELECT} WHERE run_id = ? ORDER BY seq", [key]).fetchall()
    pending = state.pending.nodes(key)
    if pending:
        by_id = {r[1]: r for r in rows}
        for node_id, row in pending.items():
            old = by_id.get(node_id)
            by_id[node_id] = row if old is None else (*row[:-1], old[-1])  # an update keeps the node's place
        rows = sorted(by_id.values(), key=lambda r: r[-1])
    return [node_from_row(r) for r in rows]


def load_events(con: duckdb.DuckDBPyConnection, state: FileState, run_id: str) -> list[JSON]:
    key = db_text(run_id)
    snap = _snapshot(con, state, key)
    if snap is not None:
        texts = [ev[2] for ev in snap.events]
    else:
        texts = [r[0] for r in con.execute("SELECT data FROM events WHERE run_id = ? ORDER BY seq", [key]).fetchall()]
    return [json.loads(t) for t in texts] + [json.loads(ev[2]) for ev in state.pending.events(key)]


# -- KV ---------------------------------------------------------------------------------------------------------
def kv_get(con: duckdb.DuckDBPyConnection, state: FileState, scope: str, key: str) -> tuple[str, float | None] | None:
    """The stored JSON text and expiry of a key (served from the file state's cache when it can be)."""
    cached = state.kv_cache.get((scope, key), _MISS)
    if cached is not _MISS:
        return cached  # type: ignore[return-value]
    sc, k = db_text(scope), db_text(key)
    op = state.pending.kv((sc, k))
    if op is not None:
        entry = None if op[4] else (op[2], op[3])
    elif state.kv_absent(sc, k, con):
        entry = None
    else:
        row = con.execute('SELECT value, expires_at FROM kv WHERE scope = ? AND "key" = ?', [sc, k]).fetchone()
        entry = None if row is None else (row[0], row[1])
    state.cache_kv(scope, key, entry)
    return entry


def kv_keys(
    con: duckdb.DuckDBPyConnection, state: FileState, scope: str, prefix: str
) -> list[tuple[str, float | None]]:
    sc = db_text(scope)
    # Escaped keys (see aether_nb.store.rows) do not start with their prefix in the table: fetch them too.
    rows = con.execute(
        'SELECT "key", expires_at FROM kv WHERE scope = ? AND (starts_with("key", ?) OR starts_with("key", ?))',
        [sc, prefix if prefix.isascii() else db_text(prefix), ESCAPE],
    ).fetchall()
    keys = {py_text(k): exp for k, exp in rows}
    for (s, k), op in state.pending.kv_ops().items():
        if s == sc:
            if op[4]:
                keys.pop(py_text(k), None)
            else:
                keys[py_text(k)] = op[3]
    # Sorted in Python: the order MemoryStore gives (code points), whatever the database collation.
    return sorted((k, exp) for k, exp in keys.items() if k.startswith(prefix))


# -- memory -----------------------------------------------------------------------------------------------------
def memory_query(
    con: duckdb.DuckDBPyConnection, state: FileState, scope: str, kinds: Sequence[str] | None, limit: int | None
) -> list[MemoryRecord]:
    sc = db_text(scope)
    kind_set = None if kinds is None else {db_text(k) for k in kinds}
    pending = [m for m in reversed(state.pending.memory()) if m[2] == sc and (kind_set is None or m[3] in kind_set)]
    sql = f"{MEMORY_SELECT} WHERE scope = ?"
    params: list[Any] = [sc]
    if kinds is not None:
        sql += " AND list_contains(?::VARCHAR[], kind)"
        params.append(sorted(kind_set or ()))
    sql += " ORDER BY seq DESC"
    if limit is not None and limit >= 0:
        if len(pending) >= limit:
            return [memory_from_row(m[1:11]) for m in pending[:limit]]
        sql += " LIMIT ?"
        params.append(min(limit - len(pending), SQL_LIMIT_MAX))
    rows = [memory_from_row(m[1:11]) for m in pending] + [
        memory_from_row(r) for r in con.execute(sql, params).fetchall()
    ]
    return rows if limit is None or limit >= 0 else rows[:limit]


def memory_search(
    con: duckdb.DuckDBPyConnection, scope: str, vector: Sequence[float], kinds: Sequence[str] | None, limit: int
) -> list[tuple[MemoryRecord, float]]:
    """Cosine similarity in DuckDB; the caller applies the log's memory rows first."""
    sql = (
        'SELECT id, scope, kind, data, "text", tags, created_at, run_id, node_id, role, '
        # (a note without words embeds as zeros: its cosine is NaN, which DuckDB sorts above every number, so
        # blanks crowded out the notes that matched; 0.0, as the in-memory store scores it)
        "coalesce(nullif(list_cosine_similarity(embedding, ?::FLOAT[]), 'NaN'::FLOAT), 0.0) AS score FROM memory "
        "WHERE scope = ? AND embedding IS NOT NULL AND len(embedding) = ?"
    )
    params: list[Any] = [[float(x) for x in vector], db_text(scope), len(vector)]
    if kinds is not None:
        sql += " AND list_contains(?::VARCHAR[], kind)"
        params.append([db_text(k) for k in kinds])
    sql += " ORDER BY score DESC NULLS LAST, seq ASC LIMIT ?"
    params.append(min(int(limit), SQL_LIMIT_MAX))  # (a limit beyond BIGINT means all of them)
    rows = con.execute(sql, params).fetchall()
    return [(memory_from_row(r[:10]), float(r[-1] or 0.0)) for r in rows]


# -- artifacts ------------------------------------------------------------------------------------------------
def artifact_get(
    con: duckdb.DuckDBPyConnection, artifact_id: str
) -> tuple[ArtifactRecord, bytes | None, str | None] | None:
    """The record, its inline bytes and its blob file name (one of the two is None)."""
    row = con.execute(f"{ARTIFACT_SELECT} WHERE id = ?", [db_text(artifact_id)]).fetchone()
    if row is None:
        return None
    return artifact_from_row(row), (None if row[12] is not None else bytes(row[11] or b"")), row[12]


def artifact_list(con: duckdb.DuckDBPyConnection) -> list[ArtifactRecord]:
    # Ties keep first-insert order, as MemoryStore's stable sort does.
    rows = con.execute(f"{ARTIFACT_SELECT} ORDER BY created_at DESC, ord").fetchall()
    return [artifact_from_row(r) for r in rows]
