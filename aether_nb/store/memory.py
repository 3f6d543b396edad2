"""The in-memory store: the default for scripts and tests, and the reference the DuckDB store must match.

Values pass through ``json.dumps``/``json.loads`` on the way in and out, exactly as they would through a real
file, so a value that only works in memory (an object, a tuple turned list) shows up here first.
"""

from __future__ import annotations

import copy
import json
import math
import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from aether_nb.errors import StorageError, UsageError
from aether_nb.store.columns import quick_types
from aether_nb.store.records import (
    JSON,
    ArtifactRecord,
    HistoryBatch,
    JournalEntry,
    JSONText,
    MemoryRecord,
    NodeRecord,
    RejectedRecord,
    RunRecord,
    WaitRecord,
)
from aether_nb.store.redact import clears_gate, json_text, redact_many, redact_optional, redact_text
from aether_nb.store.rows import artifact_row, encode_batch, reject_error
from aether_nb.store.values import json_column, json_dumps, plain_json


def _kv_texts(values: list[Any]) -> list[str]:
    """The KV values' stored texts: :func:`json_text` of each, without serialising a :class:`JSONText` again, and
    redacted in one pass (a state graph writes one checkpoint a superstep)."""
    known = iter(redact_many([str(v) for v in values if type(v) is JSONText]))
    return [next(known) if type(v) is JSONText else json_text(v) for v in values]


def _roundtrip(value: Any) -> Any:
    return json.loads(json_text(value))


def _check(batch: HistoryBatch) -> None:
    """Refuse (StorageError) a single write the DuckDB store would refuse: both stores hold the same records."""
    rows = encode_batch(batch, lambda: 0)
    if rows.rejected:
        raise reject_error(rows.rejected)


_plain = redact_optional


def _zero() -> int:
    return 0


def _without(batch: HistoryBatch, bad: set[tuple[str, int]]) -> HistoryBatch:
    """``batch`` without the records at ``bad`` (``(field, index)`` pairs)."""
    return HistoryBatch(
        **{
            name: [item for i, item in enumerate(getattr(batch, name)) if (name, i) not in bad]
            for name in ("runs", "waits", "journal", "nodes", "events", "memory", "kv")
        }
    )


_Fields = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[str]]
"""The fields of a batch's journal entries, nodes and events that its JSON text does not hold (see
:func:`_fields`)."""


def _fields(batch: HistoryBatch) -> _Fields:
    """What the store keeps of a written batch until it is read, besides its JSON text: flat tuples of strings
    and numbers. Why not the batch itself: its records, their ``__dict__`` and the events' dicts are ~10 objects
    per step the garbage collector walks at every full collection, for history that is mostly never read back
    (a quarter of a 1,000-step chain's time went to collecting them)."""
    journal = [(e.run_id, e.key, e.name, e.kind, e.fingerprint, e.durable, e.created_at) for e in batch.journal]
    nodes = [
        (n.run_id, n.node_id, n.name, n.kind, n.status, n.parent, tuple(n.parents), n.started_at, n.ended_at)
        for n in batch.nodes
    ]
    return journal, nodes, [run_id for run_id, _ in batch.events]


class MemoryStore:
    """A :class:`~aether_nb.store.protocol.Store` held in dictionaries; thread-safe; gone with the process."""

    location = ":memory:"

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._closed = False
        self._runs: dict[str, RunRecord] = {}
        self._run_order: dict[str, int] = {}
        self._journal: dict[str, list[JournalEntry]] = {}
        self._waits: dict[str, WaitRecord] = {}
        self._run_waits: dict[str, dict[str, None]] = {}  # run id -> its wait tokens, so listing is not O(all)
        self._nodes: dict[str, dict[str, NodeRecord]] = {}
        self._events: dict[str, list[JSON]] = {}
        self._kv: dict[tuple[str, str], tuple[str, float | None]] = {}
        self._memory: list[MemoryRecord] = []
        self._artifacts: dict[str, tuple[ArtifactRecord, bytes]] = {}
        self._seq = 0
        self._undecoded: list[tuple[_Fields, str]] = []

    def _check(self) -> None:
        if self._closed:
            raise StorageError("this store is closed; open a new one (ag.configure(store=...))", code="closed")

    def _tick(self) -> int:
        self._seq += 1
        return self._seq

    # -- runs ----------------------------------------------------------------------------------------------------
    def put_run(self, record: RunRecord) -> None:
        with self._lock:
            self._check()
            _check(HistoryBatch(runs=[record]))
            self._run_order.setdefault(record.run_id, self._tick())
            self._runs[record.run_id] = replace(
                record,
                error=_plain(record.error),
                inputs=_roundtrip(record.inputs),
                outputs=_roundtrip(record.outputs),
                meta=_roundtrip(record.meta or {}),
            )

    def get_run(self, run_id: str) -> RunRecord | None:
        with self._lock:
            self._check()
            rec = self._runs.get(run_id)
            return None if rec is None else copy.deepcopy(rec)

    def list_runs(self, *, status: str | None = None, graph: str | None = None) -> list[RunRecord]:
        with self._lock:
            self._check()
            rows = [
                r
                for r in self._runs.values()
                if (status is None or r.status == status) and (graph is None or r.graph == graph)
            ]
            rows.sort(key=lambda r: (r.created_at, self._run_order[r.run_id]), reverse=True)
            return copy.deepcopy(rows)

    # -- journal ---------------------------------------------------------------------------------------------------
    def append_journal(self, entry: JournalEntry) -> None:
        with self._lock:
            self._check()
            _check(HistoryBatch(journal=[entry]))
            self._decode_history()
            self._journal.setdefault(entry.run_id, []).append(replace(entry, value=_roundtrip(entry.value)))

    def append_journal_many(self, entries: Sequence[JournalEntry]) -> None:
        with self._lock:
            self._check()
            _check(HistoryBatch(journal=list(entries)))
            self._decode_history()
            staged = [replace(e, value=_roundtrip(e.value)) for e in entries]  # all or nothing
            for e in staged:
                self._journal.setdefault(e.run_id, []).append(e)

    def load_journal(self, run_id: str) -> list[JournalEntry]:
        with self._lock:
            self._check()
            self._decode_history()
            return copy.deepcopy(self._journal.get(run_id, []))

    # -- waits -------------------------------------------------------------------------------------------------------
    def put_wait(self, record: WaitRecord) -> None:
        with self._lock:
            self._check()
            _check(HistoryBatch(waits=[record]))
            self._run_waits.setdefault(record.run_id, {})[record.token] = None
            self._waits[record.token] = replace(
                record,
                prompt=_plain(record.prompt),
                options=_roundtrip(record.options),
                schema=_roundtrip(record.schema),
                answer=_roundtrip(record.answer),
                meta=_roundtrip(record.meta),
            )

    def get_wait(self, token: str) -> WaitRecord | None:
        with self._lock:
            self._check()
            return copy.deepcopy(self._waits.get(token))

    def list_waits(self, run_id: str | None = None, *, status: str | None = "open") -> list[WaitRecord]:
        with self._lock:
            self._check()
            rows = [
                w
                for w in (
                    self._waits.values()
                    if run_id is None
                    else (self._waits[t] for t in self._run_waits.get(run_id, ()) if t in self._waits)
                )
                if (run_id is None or w.run_id == run_id) and (status is None or w.status == status)
            ]
            rows.sort(key=lambda w: w.created_at)
            return copy.deepcopy(rows)

    def expect_reads(self, run_ids: Sequence[str]) -> None:
        """Nothing to prepare: every read is from memory."""
        with self._lock:
            self._check()

    # -- nodes and events -----------------------------------------------------------------------------------------
    def put_node(self, record: NodeRecord) -> None:
        with self._lock:
            self._check()
            _check(HistoryBatch(nodes=[record]))
            self._decode_history()
            nodes = self._nodes.setdefault(record.run_id, {})
            prev = nodes.get(record.node_id)
            seq = prev.seq if prev is not None else self._tick()
            nodes[record.node_id] = replace(
                record,
                inputs=_roundtrip(record.inputs),
                outputs=_roundtrip(record.outputs),
                error=_roundtrip(record.error),
                seq=seq,
            )

    def list_nodes(self, run_id: str) -> list[NodeRecord]:
        with self._lock:
            self._check()
            self._decode_history()
            return copy.deepcopy(sorted(self._nodes.get(run_id, {}).values(), key=lambda n: n.seq))

    def append_events(self, run_id: str, events: Sequence[JSON]) -> None:
        with self._lock:
            self._check()
            _check(HistoryBatch(events=[(run_id, e) for e in events]))
            self._decode_history()
            self._events.setdefault(run_id, []).extend(_roundtrip(list(events)))

    def load_events(self, run_id: str) -> list[JSON]:
        with self._lock:
            self._check()
            self._decode_history()
            return copy.deepcopy(self._events.get(run_id, []))

    def write_history(self, batch: HistoryBatch, *, durable: bool = True) -> list[RejectedRecord]:
        """Every record of ``batch`` the store can hold, at once; returns the others (the DuckDB store refuses the
        same ones); ``durable`` changes nothing in memory. Run and wait records take the JSON round trip at once;
        the journal, nodes and events are serialised and redacted now (so a bad value is found here) but decoded
        only when first read, since most history is written and never read back."""
        with self._lock:
            self._check()
            rejected: list[RejectedRecord] = []
            # The few run, wait, memory and KV records are checked one by one; the journal, nodes and events
            # (most of a batch) only when a cheap check says one of them may fail.
            small = encode_batch(
                HistoryBatch(runs=batch.runs, waits=batch.waits, memory=batch.memory, kv=batch.kv), _zero
            )
            bad = set(small.bad)
            rejected += small.rejected
            rest = None
            if batch.journal or batch.nodes or batch.events:
                rest = self._history_text(batch)
                if rest is None:
                    big = encode_batch(
                        HistoryBatch(journal=batch.journal, nodes=batch.nodes, events=batch.events), _zero
                    )
                    bad |= big.bad
                    rejected += big.rejected
            if bad:
                batch = _without(batch, bad)
                if rest is None and (batch.journal or batch.nodes or batch.events):
                    rest = self._history_text(batch, checked=True)
            runs, waits = _roundtrip(
                [
                    [[r.inputs, r.outputs, r.meta or {}] for r in batch.runs],
                    [[w.options, w.schema, w.answer, w.meta] for w in batch.waits],
                ]
            )
            memory = [self._memory_record(m) for m in batch.memory]
            live = _kv_texts([value for _, _, value, _, gone in batch.kv if not gone])[::-1]
            kv = [(scope, key, None if gone else live.pop(), exp, gone) for scope, key, _, exp, gone in batch.kv]
            for r, (inputs, outputs, meta) in zip(batch.runs, runs, strict=True):
                self._run_order.setdefault(r.run_id, self._tick())
                self._runs[r.run_id] = replace(r, error=_plain(r.error), inputs=inputs, outputs=outputs, meta=meta)
            for w, (options, schema, answer, meta) in zip(batch.waits, waits, strict=True):
                self._run_waits.setdefault(w.run_id, {})[w.token] = None
                self._waits[w.token] = replace(
                    w, prompt=_plain(w.prompt), options=options, schema=schema, answer=answer, meta=meta
                )
            if rest is not None:
                self._undecoded.append((_fields(batch), rest))
            self._memory.extend(memory)
            for scope, key, text, exp, gone in kv:
                if gone:
                    self._kv.pop((scope, key), None)
                else:
                    self._kv[(scope, key)] = (text, exp)  # type: ignore[assignment]
            return rejected

    @staticmethod
    def _history_text(batch: HistoryBatch, *, checked: bool = False) -> str | None:
        """The journal values, node payloads and events of ``batch`` as one redacted JSON text, or None when one
        of those records cannot be stored (``checked``: every record is known to be fine)."""
        if not checked and not quick_types(batch):
            return None
        values = [e.value for e in batch.journal]
        values += [
            v
            for n in batch.nodes
            for v in (n.parents if type(n.parents) is tuple else list(n.parents), n.inputs, n.outputs, n.error)
        ]
        values += [data for _, data in batch.events]
        # Nearly every batch: all its values plain JSON and no word the gate stops at, so the array is one orjson
        # call and one search (~16 k instructions a W1 step less than a text per value, joined; bench/README.md).
        try:
            whole = plain_json(values)
        except RecursionError:  # (too deep: json_column refuses it below)
            whole = None
        if whole is not None and clears_gate(whole):
            return whole
        texts = json_column(values)
        if texts is None:
            if checked:  # pragma: no cover - encode_batch accepted these records
                raise StorageError("a record the store accepted could not be serialised", code="not_json")
            return None
        return "[" + ",".join(redact_many(texts)) + "]"

    def _decode_history(self) -> None:
        """Decode the journal, nodes and events of batches written since the last read (under the lock)."""
        pending, self._undecoded = self._undecoded, []
        unreadable: list[str] = []
        for (journal_fields, node_fields, event_runs), text in pending:
            try:
                values = json.loads(text)
            except ValueError as exc:  # (never expected: each batch on its own, so one cannot take the others)
                n = len(journal_fields) + len(node_fields) + len(event_runs)
                unreadable.append(f"a batch of {n} record{'' if n == 1 else 's'} ({exc})")
                continue
            j, k = len(journal_fields), 4 * len(node_fields)
            journal, events = values[:j], values[j + k :]
            nodes = [values[i : i + 4] for i in range(j, j + k, 4)]
            # Records built field by field: dataclasses.replace costs several times more.
            for (run_id, key, name, kind, fp, durable, created_at), value in zip(journal_fields, journal, strict=True):
                self._journal.setdefault(run_id, []).append(
                    JournalEntry(run_id, key, name, kind, fp, value, durable, created_at)
                )
            for (run_id, node_id, name, kind, status, parent, parents, started, ended), (
                _,
                inputs,
                outputs,
                error,
            ) in zip(node_fields, nodes, strict=True):
                known = self._nodes.setdefault(run_id, {})
                prev = known.get(node_id)
                known[node_id] = NodeRecord(
                    run_id, node_id, name, kind, status, parent, parents, inputs, outputs, error, started, ended,
                    prev.seq if prev is not None else self._tick(),
                )  # fmt: skip
            for run_id, data in zip(event_runs, events, strict=True):
                self._events.setdefault(run_id, []).append(data)
        if unreadable:
            raise StorageError(
                f"history written to the in-memory store could not be read back: {'; '.join(unreadable)}. The rest "
                "of the history reads as written; please report this with the values the run wrote.",
                code="unreadable",
            )

    # -- KV --------------------------------------------------------------------------------------------------------
    def kv_get(self, scope: str, key: str) -> tuple[JSON, float | None] | None:
        with self._lock:
            self._check()
            hit = self._kv.get((scope, key))
            return None if hit is None else (json.loads(hit[0]), hit[1])

    def kv_set(self, scope: str, key: str, value: JSON, expires_at: float | None) -> None:
        with self._lock:
            self._check()
            _check(HistoryBatch(kv=[(scope, key, value, expires_at, False)]))
            self._kv[(scope, key)] = (redact_text(json_dumps(value)), expires_at)

    def kv_delete(self, scope: str, key: str) -> bool:
        with self._lock:
            self._check()
            return self._kv.pop((scope, key), None) is not None

    def kv_keys(self, scope: str, prefix: str = "") -> list[tuple[str, float | None]]:
        with self._lock:
            self._check()
            return sorted((k, exp) for (s, k), (_, exp) in self._kv.items() if s == scope and k.startswith(prefix))

    def kv_purge(self, now: float) -> int:
        with self._lock:
            self._check()
            dead = [k for k, (_, exp) in self._kv.items() if exp is not None and exp <= now]
            for k in dead:
                del self._kv[k]
            return len(dead)

    # -- memory ------------------------------------------------------------------------------------------------------
    def memory_append(self, record: MemoryRecord) -> None:
        with self._lock:
            self._check()
            _check(HistoryBatch(memory=[record]))
            self._memory.append(self._memory_record(record))

    @staticmethod
    def _memory_record(record: MemoryRecord) -> MemoryRecord:
        emb = None if record.embedding is None else tuple(map(float, record.embedding))
        return replace(record, data=_roundtrip(record.data), text=redact_text(record.text), embedding=emb)

    def memory_query(
        self, scope: str, *, kinds: Sequence[str] | None = None, limit: int | None = None
    ) -> list[MemoryRecord]:
        with self._lock:
            self._check()
            rows = [m for m in reversed(self._memory) if m.scope == scope and (kinds is None or m.kind in kinds)]
            return [replace(m, embedding=None) for m in copy.deepcopy(rows if limit is None else rows[:limit])]

    def memory_search(
        self, scope: str, vector: Sequence[float], *, kinds: Sequence[str] | None = None, limit: int = 10
    ) -> list[tuple[MemoryRecord, float]]:
        with self._lock:
            self._check()
            q = [float(x) for x in vector]
            qn = math.sqrt(sum(x * x for x in q)) or 1.0
            scored = []
            for i, m in enumerate(self._memory):
                if m.scope != scope or m.embedding is None or (kinds is not None and m.kind not in kinds):
                    continue
                if len(m.embedding) != len(q):  # vectors from another embedder are not comparable
                    continue
                en = math.sqrt(sum(x * x for x in m.embedding)) or 1.0
                dot = sum(a * b for a, b in zip(q, m.embedding, strict=True))
                scored.append((dot / (qn * en), -i, m))
            scored.sort(key=lambda t: (t[0], t[1]), reverse=True)
            return [(replace(copy.deepcopy(m), embedding=None), score) for score, _, m in scored[:limit]]

    # -- artifacts ------------------------------------------------------------------------------------------------
    def artifact_put(self, record: ArtifactRecord, data: bytes) -> None:
        with self._lock:
            self._check()
            artifact_row(record)
            self._artifacts[record.id] = (replace(record, labels=_roundtrip(record.labels)), bytes(data))

    def artifact_get(self, artifact_id: str) -> tuple[ArtifactRecord, bytes] | None:
        with self._lock:
            self._check()
            return copy.deepcopy(self._artifacts.get(artifact_id))

    def artifact_set_pinned(self, artifact_id: str, pinned: bool) -> bool:
        with self._lock:
            self._check()
            hit = self._artifacts.get(artifact_id)
            if hit is None:
                return False
            self._artifacts[artifact_id] = (replace(hit[0], pinned=bool(pinned)), hit[1])
            return True

    def artifact_list(self) -> list[ArtifactRecord]:
        with self._lock:
            self._check()
            return sorted((r for r, _ in self._artifacts.values()), key=lambda r: r.created_at, reverse=True)

    def sql(self, query: str, params: Sequence[Any] | None = None) -> Any:
        """SQL needs the DuckDB store; the in-memory store has no tables to query."""
        raise UsageError(
            "SQL queries need the DuckDB store: ag.configure(store='notebook.aether.duckdb') (in a notebook, "
            "%load_ext aether_nb opens one beside the notebook)",
            code="no_sql",
        )

    # -- lifecycle -------------------------------------------------------------------------------------------------
    def flush(self) -> None:
        self._check()

    def close(self) -> None:
        self._closed = True
