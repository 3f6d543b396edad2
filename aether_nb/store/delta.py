"""What the DuckDB store's history log holds and the typed tables do not yet: the rows every read merges.

:class:`Delta` is one generation of such rows, merged the way the tables would hold them. :class:`Pending` is what
reads see: the generation being applied to the tables right now (by the background applier of
:mod:`aether_nb.store.log`), if any, and the current one, which takes every new write meanwhile. Keys are the
stored (``db_text``) forms; a run, wait or node keeps its first order value (an update never changes the order
column of the tables); journal entries, events and memory events are appended; for a KV key the last write wins.
"""

from __future__ import annotations

from itertools import chain
from operator import itemgetter
from typing import Any

from aether_nb.store.rows import Rows

__all__ = ["Delta", "Pending", "one_run"]

Row = tuple[Any, ...]
TABLES = ("runs", "waits", "journal", "nodes", "events", "memory", "kv")


class Delta:
    """One generation of rows not applied to the tables (see the module docstring)."""

    def __init__(self) -> None:
        self.log_seqs: list[int] = []
        self.runs: dict[str, Row] = {}
        self.waits: dict[str, Row] = {}
        self.waits_by_run: dict[str, dict[str, None]] = {}
        self.journal: dict[str, list[Row]] = {}
        self.nodes: dict[str, dict[str, Row]] = {}
        self.events: dict[str, list[Row]] = {}
        self.memory: list[Row] = []
        self.kv: dict[tuple[str, str], Row] = {}
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
            self.waits_by_run.setdefault(w[1], {})[w[0]] = None
        _append(self.journal, rows.journal, 1)
        if rows.nodes:
            self._add_nodes(rows.nodes)
        _append(self.events, rows.events, 0)
        self.memory.extend(rows.memory)
        for op in rows.kv:
            self.kv[(op[0], op[1])] = op
        self.size += len(rows)

    def _add_nodes(self, nodes: list[Row]) -> None:
        """A node seen before keeps its first order value. A batch of one run whose nodes are all new (a W1
        batch) is added in one ``update``, no Python step per row."""
        run = one_run(nodes, 0)
        if run is not None:
            known = self.nodes.setdefault(run, {})
            ids = list(map(itemgetter(1), nodes))
            if len(set(ids)) == len(ids) and known.keys().isdisjoint(ids):
                known.update(zip(ids, nodes, strict=True))
                return
        for n in nodes:
            known = self.nodes.setdefault(n[0], {})
            prev = known.get(n[1])
            known[n[1]] = n if prev is None else (*n[:-1], prev[-1])

    def rows(self) -> Rows:
        """Everything in this generation, one row per key, in the shape the apply writes."""
        return Rows(
            runs=list(self.runs.values()),
            waits=list(self.waits.values()),
            journal=list(chain.from_iterable(self.journal.values())),
            nodes=list(chain.from_iterable(map(dict.values, self.nodes.values()))),
            events=list(chain.from_iterable(self.events.values())),
            memory=list(self.memory),
            kv=list(self.kv.values()),
        )

    def touches(self, *tables: str) -> bool:
        return any(getattr(self, t) for t in tables)


def one_run(rows: list[Row], col: int) -> str | None:
    """The run id every row holds at ``col``, or None when they name more than one (or none)."""
    first = rows[0][col]
    return first if rows[-1][col] == first and len(set(map(itemgetter(col), rows))) == 1 else None


def _append(by_run: dict[str, list[Row]], rows: list[Row], col: int) -> None:
    """Append ``rows`` (journal entries or events, their run id at ``col``) to their runs' lists: a batch of one
    run (nearly all of them) in one ``extend``, no Python step per row."""
    if not rows:
        return
    run = one_run(rows, col)
    if run is not None:
        by_run.setdefault(run, []).extend(rows)
        return
    for r in rows:
        by_run.setdefault(r[col], []).append(r)


def _keep_first_order(new: Row | None, old: Row | None) -> Row | None:
    if new is None or old is None:
        return new if new is not None else old
    return (*new[:-1], old[-1])


class Pending:
    """The rows reads merge: the generation being applied (``applying``) and the current one (``current``)."""

    def __init__(self) -> None:
        self.applying: Delta | None = None
        self.current = Delta()

    def __bool__(self) -> bool:
        return bool(self.current) or bool(self.applying)

    @property
    def size(self) -> int:
        return self.current.size + (self.applying.size if self.applying is not None else 0)

    def _gens(self) -> list[Delta]:
        return [self.current] if self.applying is None else [self.applying, self.current]

    def add(self, rows: Rows, log_seq: int | None = None) -> None:
        self.current.add(rows, log_seq)

    def touches(self, *tables: str) -> bool:
        return any(g.touches(*tables) for g in self._gens())

    # -- the apply's hand-over ------------------------------------------------------------------------------------
    def freeze(self) -> Delta:
        """Hand the current generation to an apply; new writes go to a fresh one."""
        assert self.applying is None, "one apply at a time"
        self.applying, self.current = self.current, Delta()
        return self.applying

    def applied(self) -> None:
        """The frozen generation is in the tables now."""
        self.applying = None

    def thaw(self) -> None:
        """The apply failed: the frozen generation is pending again, before the rows written since."""
        if self.applying is None:
            return
        merged = Delta()
        merged.add(self.applying.rows())
        merged.add(self.current.rows())
        merged.log_seqs = self.applying.log_seqs + self.current.log_seqs
        merged.size = self.applying.size + self.current.size
        self.applying, self.current = None, merged

    # -- reads ------------------------------------------------------------------------------------------------------
    def run(self, key: str) -> Row | None:
        old = None if self.applying is None else self.applying.runs.get(key)
        return _keep_first_order(self.current.runs.get(key), old)

    def runs(self) -> dict[str, Row]:
        if self.applying is None:
            return self.current.runs
        out = dict(self.applying.runs)
        for k, r in self.current.runs.items():
            out[k] = _keep_first_order(r, out.get(k))  # type: ignore[assignment]
        return out

    def wait(self, token: str) -> Row | None:
        old = None if self.applying is None else self.applying.waits.get(token)
        return _keep_first_order(self.current.waits.get(token), old)

    def waits(self, run: str | None = None) -> dict[str, Row]:
        """Pending waits (of ``run``), by token."""
        out: dict[str, Row] = {}
        for g in self._gens():
            tokens = g.waits if run is None else g.waits_by_run.get(run, {})
            for t in tokens:
                out[t] = _keep_first_order(g.waits[t], out.get(t))  # type: ignore[assignment]
        return out

    def journal(self, run: str) -> list[Row]:
        return [e for g in self._gens() for e in g.journal.get(run, ())]

    def nodes(self, run: str) -> dict[str, Row]:
        out: dict[str, Row] = {}
        for g in self._gens():
            for node_id, n in g.nodes.get(run, {}).items():
                out[node_id] = _keep_first_order(n, out.get(node_id))  # type: ignore[assignment]
        return out

    def events(self, run: str) -> list[Row]:
        return [ev for g in self._gens() for ev in g.events.get(run, ())]

    def memory(self) -> list[Row]:
        return [m for g in self._gens() for m in g.memory]

    def kv(self, key: tuple[str, str]) -> Row | None:
        hit = self.current.kv.get(key)
        if hit is None and self.applying is not None:
            hit = self.applying.kv.get(key)
        return hit

    def kv_ops(self) -> dict[tuple[str, str], Row]:
        if self.applying is None:
            return self.current.kv
        return {**self.applying.kv, **self.current.kv}
