"""How a :class:`~aether_nb.store.records.HistoryBatch` becomes DuckDB statements, and what makes that cheap.

DuckDB's ``INSERT ... ON CONFLICT`` costs ~6 ms even for one row here, while a plain insert or update of column
lists costs ~1 ms. Only one process can write a file, so that process can know which keys the file holds
(:class:`FileState`, read once per table and kept up to date by every write) and insert the new rows and update
the known ones instead of upserting. The store runs the statements in one transaction
(:meth:`~aether_nb.store.duckdb.DuckDBStore.write_history`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import duckdb

from aether_nb.store.records import FINISHED_RUN_STATUSES, HistoryBatch
from aether_nb.store.redact import json_texts
from aether_nb.store.schema import (
    EVENT_FLUSH_SQL,
    JOURNAL_BULK_INSERT,
    KV_BULK_UPSERT,
    MEMORY_BULK_INSERT,
    NODE_BULK_INSERT,
    NODE_BULK_UPDATE,
    RUN_BULK_INSERT,
    RUN_BULK_UPDATE,
    WAIT_BULK_INSERT,
    WAIT_BULK_UPDATE,
    journal_columns,
    memory_params,
    node_columns,
    run_params,
    wait_params,
)

__all__ = ["BatchPlan", "FileState", "Statement", "history_statements"]

Statement = tuple[str, list[list[Any]]]
"""SQL and its parameters: one list per column (DuckDB binds column lists fastest)."""

KV_BULK_DELETE = 'DELETE FROM kv WHERE (scope, "key") IN (SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]))'


@dataclass
class BatchPlan:
    """The statements of one batch, the runs it adds to the file, and the KV cache entries it changes."""

    statements: list[Statement] = field(default_factory=list)
    new_runs: frozenset[str] = frozenset()
    kv_cache: list[tuple[str, str, tuple[str, float | None] | None]] = field(default_factory=list)


def history_statements(batch: HistoryBatch, state: FileState, con: duckdb.DuckDBPyConnection) -> BatchPlan:
    """Bulk statements for ``batch``: inserts of new rows, updates of known ones, in the order the tables need."""
    plan = BatchPlan()
    out = plan.statements
    nxt = state.next
    if batch.runs:
        new = [not state.known_run(r.run_id, con) for r in batch.runs]
        plan.new_runs = frozenset(r.run_id for r, is_new in zip(batch.runs, new, strict=True) if is_new)
        out += _split([run_params(r, nxt) for r in batch.runs], new, RUN_BULK_INSERT, RUN_BULK_UPDATE)
    if batch.waits:
        new = [not state.known_wait(w.token, con) for w in batch.waits]
        out += _split([wait_params(w, nxt) for w in batch.waits], new, WAIT_BULK_INSERT, WAIT_BULK_UPDATE)
    if batch.journal:
        out.append((JOURNAL_BULK_INSERT, journal_columns(batch.journal, nxt)))
    if batch.nodes:
        new = [not state.known_node(n.run_id, n.node_id, con) for n in batch.nodes]
        rows = [list(r) for r in zip(*node_columns(batch.nodes, nxt), strict=True)]
        out += _split(rows, new, NODE_BULK_INSERT, NODE_BULK_UPDATE)
    if batch.memory:
        out.append((MEMORY_BULK_INSERT, _columns([memory_params(m, nxt) for m in batch.memory])))
    if batch.kv:
        last = {(sc, k): (v, exp, gone) for sc, k, v, exp, gone in batch.kv}  # the last write of a key wins
        gone_keys = [(sc, k) for (sc, k), (_, _, gone) in last.items() if gone]
        sets = [(sc, k, v, exp) for (sc, k), (v, exp, gone) in last.items() if not gone]
        if gone_keys:
            out.append((KV_BULK_DELETE, [[sc for sc, _ in gone_keys], [k for _, k in gone_keys]]))
            plan.kv_cache += [(sc, k, None) for sc, k in gone_keys]
        if sets:
            texts = json_texts([v for _, _, v, _ in sets])
            out.append(
                (KV_BULK_UPSERT, [[sc for sc, *_ in sets], [k for _, k, *_ in sets], texts, [e for *_, e in sets]])
            )
            plan.kv_cache += [(sc, k, (t, e)) for (sc, k, _, e), t in zip(sets, texts, strict=True)]
    if batch.events:
        ids = [run_id for run_id, _ in batch.events]
        out.append((EVENT_FLUSH_SQL, [ids, [nxt() for _ in ids], json_texts([data for _, data in batch.events])]))
    return plan


def _columns(rows: list[list[Any]]) -> list[list[Any]]:
    return [list(c) for c in zip(*rows, strict=True)]


def _split(rows: list[list[Any]], new: list[bool], insert: str, update: str) -> list[Statement]:
    """The statements writing ``rows``: one insert of the new ones, one update of the others."""
    out: list[Statement] = []
    for flag, sql in ((True, insert), (False, update)):
        part = [row for row, is_new in zip(rows, new, strict=True) if is_new is flag]
        if part:
            out.append((sql, _columns(part)))
    return out


class FileState:
    """What this process knows of one file: the next insertion order value and the keys the file holds. Shared
    by every DuckDBStore of the process open on that file.

    Only one process can have a file open for writing, so the counter starts from the file's largest order
    value when the first store of the process opens it, and is shared with later stores of the process on the
    same file (DuckDB gives them one database instance).
    """

    def __init__(self, start: int) -> None:
        self._value = start
        self._lock = threading.Lock()
        self.users = 0
        self._run_ids: set[str] | None = None
        self._tokens: set[str] | None = None
        self._nodes: dict[str, set[str]] = {}

    def known_run(self, run_id: str, con: duckdb.DuckDBPyConnection) -> bool:
        """Whether the file holds this run: answered from memory (the ids are read once), since the process
        holding the counter is the file's only writer. Starting a run asks this to keep its id unique."""
        with self._lock:
            if self._run_ids is None:
                self._run_ids = {r[0] for r in con.execute("SELECT run_id FROM runs").fetchall()}
            return run_id in self._run_ids

    def known_wait(self, token: str, con: duckdb.DuckDBPyConnection) -> bool:
        with self._lock:
            if self._tokens is None:
                self._tokens = {r[0] for r in con.execute("SELECT token FROM waits").fetchall()}
            return token in self._tokens

    def known_node(self, run_id: str, node_id: str, con: duckdb.DuckDBPyConnection) -> bool:
        """Node ids are read per run, once, and forgotten when the run finishes (see :meth:`wrote`)."""
        with self._lock:
            ids = self._nodes.get(run_id)
        if ids is None:
            if self.known_run(run_id, con):
                rows = con.execute("SELECT node_id FROM nodes WHERE run_id = ?", [run_id]).fetchall()
                found = {r[0] for r in rows}
            else:
                found = set()  # a run the file does not hold has no nodes there either
            with self._lock:
                ids = self._nodes.setdefault(run_id, found)
        return node_id in ids

    def wrote(self, batch: HistoryBatch, new_runs: frozenset[str] = frozenset()) -> None:
        """Remember the keys a committed batch added (``new_runs``: its runs the file did not hold before)."""
        with self._lock:
            if self._run_ids is not None:
                self._run_ids.update(r.run_id for r in batch.runs)
            if self._tokens is not None:
                self._tokens.update(w.token for w in batch.waits)
            for n in batch.nodes:
                self._nodes.setdefault(n.run_id, set()).add(n.node_id)
            for r in batch.runs:
                if r.status in FINISHED_RUN_STATUSES:
                    self._nodes.pop(r.run_id, None)  # read again if the run is ever resumed
                elif r.run_id in new_runs:
                    self._nodes.setdefault(r.run_id, set())  # new in the file: its nodes all come through here

    def next(self) -> int:
        with self._lock:
            self._value += 1
            return self._value
