"""What the DuckDB store keeps in memory of the runs being resumed: their rows, read in one query for many runs.

Resuming a run reads its record, its waits, its journal and its events (to redraw its DAG and number new events):
four tables, and several reads of each, at ~0.5-1.5 ms a statement. :class:`RunCache` reads all four for a run in
**one** statement (:data:`SNAPSHOT_SQL`, a ``UNION ALL`` of the four tables in one column layout) and serves the
following reads from memory, merged with the history log's pending rows like any read. It reads several runs in
that one statement when it can:

* runs announced with :meth:`RunCache.expect` (the runtime announces the runs it is about to resume) are read
  together with the first of them that is read;
* reading a run that is not finished reads ahead the other unfinished runs not cached yet
  (:data:`READ_AHEAD` at most): runs that wait are usually answered together (a batch of approvals, the runs a
  restarted notebook resumes), and one statement for 256 runs costs about what two single reads do;
* when a file is opened, the most recent unfinished runs are read at once (:data:`OPEN_PREFETCH` runs at most).

A finished run is read table by table and not kept (a statement over four tables costs more than the one table a
single read needs).

A cached run stays exactly what the tables hold: every apply of the history log adds the rows it writes to the
runs cached (:meth:`RunCache.mirror`). Only this process writes the file, so nothing else can change them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import duckdb

from aether_nb.store.records import FINISHED_RUN_STATUSES
from aether_nb.store.rows import Rows

__all__ = ["MAX_CACHED_ROWS", "MAX_CACHED_RUNS", "OPEN_PREFETCH", "READ_AHEAD", "RunCache", "Snapshot"]

Row = tuple[Any, ...]

MAX_CACHED_RUNS = 4_096
"""Runs kept at most (the least recently loaded go first)."""
MAX_CACHED_ROWS = 20_000
"""A run with more rows than this is read but not kept (a big finished run read once, for its DAG, say)."""
OPEN_PREFETCH = 64
"""How many unfinished runs (newest first) are read when a file is opened."""
READ_AHEAD = 256
"""How many runs one read of an unfinished run may bring along."""

# One layout for the four tables: t, ten text columns, two doubles, a boolean, the order column.
_IDS = "(SELECT unnest(?::VARCHAR[]) AS id)"  # named: see schema.bulk_insert_sql
SNAPSHOT_SQL = f"""
SELECT 0 AS t, run_id, graph, status, inputs, inputs_fingerprint, outputs, error, kind, meta, NULL,
       created_at, updated_at, NULL::BOOLEAN, ord FROM runs WHERE run_id IN {_IDS}
UNION ALL
SELECT 1, token, run_id, node_id, kind, prompt, options, "schema", status, answer, meta,
       deadline, created_at, NULL, ord FROM waits WHERE run_id IN {_IDS}
UNION ALL
SELECT 2, run_id, "key", name, kind, fingerprint, value, NULL, NULL, NULL, NULL,
       created_at, NULL, durable, seq FROM journal WHERE run_id IN {_IDS}
UNION ALL
SELECT 3, run_id, data, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, seq FROM events WHERE run_id IN {_IDS}
ORDER BY t, 15
"""
UNFINISHED_SQL = (
    "SELECT run_id FROM runs WHERE status NOT IN ('succeeded', 'failed', 'cancelled') "
    f"ORDER BY updated_at DESC LIMIT {OPEN_PREFETCH}"
)


class Snapshot:
    """A run's rows as the typed tables hold them (rows in table column order, keys in their stored form)."""

    __slots__ = ("events", "journal", "run", "waits")

    def __init__(self) -> None:
        self.run: Row | None = None
        self.waits: dict[str, Row] = {}
        self.journal: list[Row] = []
        self.events: list[Row] = []

    def __len__(self) -> int:
        return 1 + len(self.waits) + len(self.journal) + len(self.events)


class RunCache:
    """Snapshots of runs by their stored run id, the waits' tokens they hold, and runs announced for reading."""

    def __init__(self) -> None:
        self.runs: OrderedDict[str, Snapshot] = OrderedDict()
        self.tokens: dict[str, str] = {}
        self.expected: set[str] = set()

    def get(self, run_id: str) -> Snapshot | None:
        return self.runs.get(run_id)

    def expect(self, run_ids: Iterable[str]) -> None:
        """These runs will be read soon: read them with the next run that is read."""
        self.expected.update(r for r in run_ids if r not in self.runs)

    def load(self, con: duckdb.DuckDBPyConnection, run_id: str, others: Iterable[str] = ()) -> Snapshot:
        """The snapshot of ``run_id``, reading it with every run announced and ``others`` (those not cached, up to
        :data:`READ_AHEAD`) in one statement when it is not cached."""
        hit = self.runs.get(run_id)
        if hit is not None:
            return hit
        wanted = {run_id} | self.expected
        self.expected.clear()
        for other in others:
            if len(wanted) > READ_AHEAD:
                break
            if other not in self.runs:
                wanted.add(other)
        return self.read(con, wanted)[run_id]

    def read(self, con: duckdb.DuckDBPyConnection, run_ids: Iterable[str]) -> dict[str, Snapshot]:
        ids = sorted(set(run_ids))
        snaps = {r: Snapshot() for r in ids}
        for t, *c in con.execute(SNAPSHOT_SQL, [ids, ids, ids, ids]).fetchall():
            if t == 0:
                snaps[c[0]].run = (c[0], c[1], c[2], c[3], c[4], c[10], c[11], c[5], c[6], c[7], c[8], c[13])
            elif t == 1:
                snaps[c[1]].waits[c[0]] = (*c[0:7], c[10], c[11], c[7], c[8], c[9], c[13])
            elif t == 2:
                snaps[c[0]].journal.append((c[13], *c[0:6], c[12], c[10]))
            else:
                snaps[c[0]].events.append((c[0], c[13], c[1]))
        for r, snap in snaps.items():
            if len(snap) <= MAX_CACHED_ROWS:
                self._keep(r, snap)
        return snaps

    def prefetch_unfinished(self, con: duckdb.DuckDBPyConnection) -> None:
        """Read the newest unfinished runs of a file just opened: the runs a restarted notebook resumes."""
        ids = [r[0] for r in con.execute(UNFINISHED_SQL).fetchall()]
        if ids:
            self.read(con, ids)

    def _keep(self, run_id: str, snap: Snapshot) -> None:
        old = self.runs.pop(run_id, None)
        if old is not None:
            for token in old.waits:
                self.tokens.pop(token, None)
        self.runs[run_id] = snap
        for token in snap.waits:
            self.tokens[token] = run_id
        while len(self.runs) > MAX_CACHED_RUNS:
            _, gone = self.runs.popitem(last=False)
            for token in gone.waits:
                self.tokens.pop(token, None)

    def mirror(self, rows: Rows) -> None:
        """Rows just written to the tables: the cached runs they belong to take them as the tables did (an update
        keeps the row's order value; appended rows go last)."""
        if not self.runs:
            return
        for r in rows.runs:
            snap = self.runs.get(r[0])
            if snap is not None:
                snap.run = r if snap.run is None else (*r[:-1], snap.run[-1])
        for w in rows.waits:
            snap = self.runs.get(w[1])
            if snap is not None:
                old = snap.waits.get(w[0])
                snap.waits[w[0]] = w if old is None else (*w[:-1], old[-1])
                self.tokens[w[0]] = w[1]
        for e in rows.journal:
            snap = self.runs.get(e[1])
            if snap is not None:
                snap.journal.append(e)
        for ev in rows.events:
            snap = self.runs.get(ev[0])
            if snap is not None:
                snap.events.append(ev)
        for run_id in [r for r, snap in self.runs.items() if len(snap) > MAX_CACHED_ROWS]:
            self._drop(run_id)

    def _drop(self, run_id: str) -> None:
        gone = self.runs.pop(run_id, None)
        if gone is not None:
            for token in gone.waits:
                self.tokens.pop(token, None)

    def finished(self, run_ids: Iterable[str], statuses: Iterable[str]) -> None:
        """Runs whose finished record was just written leave the cache (their resume is over)."""
        for run_id, status in zip(run_ids, statuses, strict=True):
            if status in FINISHED_RUN_STATUSES:
                self._drop(run_id)
