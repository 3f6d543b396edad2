"""Records <-> DuckDB rows: every check a record must pass before it may reach the file, in one place.

A history batch is written record by record in spirit but in one statement in fact, so a record DuckDB would
refuse must be found *before* the statement: one bad value would otherwise fail the whole batch, every time it is
retried, and block all later history (issue 12). :func:`encode_batch` turns each record of a
:class:`~aether_nb.store.records.HistoryBatch` into the row of its table and sets aside, with the reason, every
record that cannot be stored:

* **JSON columns** (inputs, outputs, values, answers, ...) hold ``json.dumps`` text: ASCII only (a lone surrogate
  becomes ``\\ud800`` and round-trips), secrets redacted, ``NaN``/``Infinity`` kept. A value that is not JSON, or
  is nested deeper than :data:`MAX_JSON_DEPTH` levels, is refused.
* **Text columns** (ids, keys, names, prompts, memory text, errors) take any Python ``str``, NUL included. A string
  DuckDB cannot hold (one with a lone surrogate, which is not UTF-8) is stored escaped as :data:`ESCAPE` followed
  by its JSON form, and read back as the original string (:func:`py_text`); so is a string that itself starts with
  :data:`ESCAPE` (U+FDD0, a Unicode noncharacter), so the mapping stays one to one. A text field that is not a
  string is refused.
* **Number columns** (times, deadlines, expiries) take ints and floats (``None`` where the column allows it).

:class:`~aether_nb.store.memory.MemoryStore` runs the same checks (it keeps what :func:`encode_batch` accepts), so
both stores refuse the same records.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import orjson

from aether_nb.errors import StorageError
from aether_nb.store.columns import Take, event_columns, journal_columns, kv_columns, node_columns
from aether_nb.store.records import (
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
from aether_nb.store.redact import redact_many, redact_text
from aether_nb.store.values import (
    MAX_JSON_DEPTH,
    db_text,
    dump_json,
    json_depth,
    pack_vector,
    plain_json,
    py_text,
)

__all__ = [
    "Rows",
    "artifact_from_row",
    "artifact_row",
    "encode_batch",
    "journal_from_row",
    "memory_from_row",
    "node_from_row",
    "reject_error",
    "run_from_row",
    "wait_from_row",
]


class RecordError(Exception):
    """A record the store cannot hold, with the reason (becomes a :class:`RejectedRecord`)."""


def _dumps(value: Any, what: str) -> str:
    """``value``'s JSON text (a :class:`JSONText` is its own), checked for depth."""
    if type(value) is JSONText:
        text = str(value)
    else:
        try:
            text = plain_json(value) or dump_json(value)
        except RecursionError:
            raise RecordError(
                f"{what} is nested too deeply to store (at most {MAX_JSON_DEPTH} levels of lists and dicts)"
            ) from None
        except (TypeError, ValueError, OverflowError) as exc:
            raise RecordError(
                f"{what} is not JSON ({exc}); encode values with aether_nb.runtime.codec before storing them"
            ) from None
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and json_depth(text) > MAX_JSON_DEPTH:
        raise RecordError(f"{what} is nested too deeply to store (at most {MAX_JSON_DEPTH} levels of lists and dicts)")
    return text


def _text(value: Any, what: str) -> str:
    if type(value) is not str:
        if not isinstance(value, str):
            raise RecordError(f"{what} must be a string, got {type(value).__name__}")
        value = str(value)
    return db_text(value)


def _opt_text(value: Any, what: str) -> str | None:
    return None if value is None else _text(value, what)


def _free_text(value: Any, what: str) -> str | None:
    """A text column that may hold anything a user typed (prompts, errors, memory text): redacted, then escaped."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordError(f"{what} must be a string, got {type(value).__name__}")
    return db_text(redact_text(str(value)))


def _number(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:
            pass
    raise RecordError(f"{what} must be a number or None, got {value!r:.40}")


def _flag(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    raise RecordError(f"{what} must be True or False, got {value!r:.40}")


# -- records -> rows --------------------------------------------------------------------------------------------
@dataclass
class Rows:
    """One batch as rows of the typed tables (order values assigned), and the records refused on the way.

    A row lists its table's columns in table order (see :mod:`aether_nb.store.schema`); JSON columns hold
    redacted JSON text, text columns :func:`db_text`. ``kv`` rows are ``(scope, key, value text, expires_at,
    deleted)`` operations in call order.
    """

    runs: list[tuple[Any, ...]] = field(default_factory=list)
    waits: list[tuple[Any, ...]] = field(default_factory=list)
    journal: list[tuple[Any, ...]] = field(default_factory=list)
    nodes: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    memory: list[tuple[Any, ...]] = field(default_factory=list)
    kv: list[tuple[Any, ...]] = field(default_factory=list)
    rejected: list[RejectedRecord] = field(default_factory=list)
    bad: set[tuple[str, int]] = field(default_factory=set)
    """``(field of HistoryBatch, index)`` of each rejected record, so a caller can leave it out."""
    typed: frozenset[str] = frozenset()
    """The tables whose rows the column encoders built (:mod:`aether_nb.store.columns`): each value an exact
    ``str``, ``int``, ``bool``, ``float`` or None, so :meth:`to_json` checks only their floats."""

    def __len__(self) -> int:
        return (
            len(self.runs)
            + len(self.waits)
            + len(self.journal)
            + len(self.nodes)
            + len(self.events)
            + len(self.memory)
            + len(self.kv)
        )

    def to_json(self) -> str:
        """The rows as one JSON text (ASCII): what the history log stores for the batch (by orjson when the rows
        are plain JSON, ~2x cheaper with the check: the rows' JSON columns are strings escaped again here)."""
        return self.to_log().decode()

    def to_log(self) -> bytes:
        """:meth:`to_json` as the bytes a log frame holds, made without a round trip through ``str`` (a W1
        batch's text is ~220 KB)."""
        data = [self.runs, self.waits, self.journal, self.nodes, self.events, self.memory, self.kv]
        if self.typed:
            raw = self._typed_json(data)
            if raw is not None:
                return raw
        else:
            text = plain_json(data)
            if text is not None:
                return text.encode()
        return json.dumps(data, allow_nan=True).encode()

    def _typed_json(self, data: list[list[tuple[Any, ...]]]) -> bytes | None:
        """:func:`plain_json` of ``data`` (the same text, or None), without walking the rows of the
        :attr:`typed` tables value by value: only their number columns are checked (a NaN or an infinity is
        not plain JSON). A W1 step's three rows cost ~1.2 µs less."""
        parts: list[bytes] = []
        for table, rows in zip(_TABLES, data, strict=True):
            if not rows:
                parts.append(b"[]")
                continue
            if table in self.typed and all(
                math.isfinite(sum(filter(None, map(itemgetter(i), rows)))) for i in _FLOAT_COLUMNS[table]
            ):  # (an overflow of the sum says "not finite" too: then the walk decides)
                try:
                    raw = orjson.dumps(rows)
                except orjson.JSONEncodeError:
                    whole = plain_json(data)
                    return None if whole is None else whole.encode()
                if not raw.isascii():
                    return None
                parts.append(raw)
            else:
                text = plain_json(rows)
                if text is None:
                    return None
                parts.append(text.encode())
        return b"[" + b",".join(parts) + b"]"

    @classmethod
    def from_json(cls, text: str) -> Rows:
        runs, waits, journal, nodes, events, memory, kv = json.loads(text)
        return cls(
            runs=[tuple(r) for r in runs],
            waits=[tuple(r) for r in waits],
            journal=[tuple(r) for r in journal],
            nodes=[tuple(r) for r in nodes],
            events=[tuple(r) for r in events],
            memory=[tuple(r) for r in memory],
            kv=[tuple(r) for r in kv],
        )


_TABLES = ("runs", "waits", "journal", "nodes", "events", "memory", "kv")
_FLOAT_COLUMNS = {"journal": (8,), "nodes": (10, 11), "events": ()}
"""The number columns of the tables the column encoders build (``None`` allowed)."""


class _Encoder:
    """Builds :class:`Rows`: each record's fields are checked and its JSON values dumped one record at a time
    (a failure sets only that record aside); :func:`encode_batch` then redacts every JSON text in one pass.

    A row is built as a list and kept as a tuple at once: nothing of a record is kept beside its row until the
    batch ends (objects alive that long count towards the garbage collector's next collection, see
    ``aether_nb.runtime.history.MAX_PENDING``)."""

    def __init__(self, next_ord: Callable[[], int]) -> None:
        self.next_ord = next_ord
        self.rows = Rows()

    def add(
        self,
        where: tuple[str, int],
        kind: str,
        run_id: Any,
        key: Any,
        build: Callable[[_Encoder, Any], list[Any]],
        record: Any,
        node_id: Any = None,
    ) -> None:
        try:
            row = build(self, record)
        except RecordError as exc:
            self.rows.rejected.append(RejectedRecord(kind, _label(run_id), _label(key), str(exc), _label(node_id)))
            self.rows.bad.add(where)
            return
        target: list[Any] = getattr(self.rows, where[0])
        target.append(tuple(row))

    def json(self, row: list[Any], value: Any, what: str) -> None:
        """Append ``value``'s JSON text to ``row`` (redacted by :func:`encode_batch` with the whole batch)."""
        row.append(_dumps(value, what))

    def finish(self) -> Rows:
        """The rows, JSON texts in place (not redacted yet: :func:`encode_batch` redacts the whole batch at once)."""
        return self.rows


_JSON_COLUMNS = {
    "runs": (3, 7, 10),
    "waits": (5, 6, 10, 11),
    "journal": (6,),
    "nodes": (6, 7, 8, 9),
    "events": (2,),
    "memory": (4, 6),
    "kv": (2,),
}
"""Where each table's rows hold JSON text (what redaction scans)."""


def _redact(rows: Rows) -> None:
    """Redact every JSON text of the batch in one pass (a second, row by row, only when there is a secret)."""
    texts: list[str] = []
    for t, cols in _JSON_COLUMNS.items():
        table = getattr(rows, t)
        if table:
            for i in cols:  # (a column at a time: no Python step per row; the order of the texts does not matter)
                texts.extend(filter(None, map(itemgetter(i), table)))  # (None: no text; "": nothing to redact)
    if redact_many(texts) is texts:
        return
    for table, cols in _JSON_COLUMNS.items():
        setattr(
            rows,
            table,
            [
                tuple(redact_text(v) if i in cols and v is not None else v for i, v in enumerate(r))
                for r in getattr(rows, table)
            ],
        )


def _label(value: Any) -> str | None:
    return value if isinstance(value, str) or value is None else repr(value)[:80]


def encode_batch(batch: HistoryBatch, next_ord: Callable[[], int], take: Take | None = None) -> Rows:
    """The rows of ``batch``, each with its order value; records that cannot be stored go to ``rejected``.
    ``take(n)``: ``n`` consecutive order values at once, as ``n`` calls of ``next_ord`` would give.

    The journal, nodes and events (most of any batch) are first encoded a column at a time, checked a column at a
    time; a table with any record that fails a check is encoded again record by record, to set that one aside.
    """
    enc = _Encoder(next_ord)
    fast = {
        "journal": journal_columns(batch.journal, next_ord, take),
        "nodes": node_columns(batch.nodes, next_ord, take),
        "events": event_columns(batch.events, next_ord, take),
        "kv": kv_columns(batch.kv),
    }
    for i, r in enumerate(batch.runs):
        enc.add(("runs", i), "run", r.run_id, r.run_id, _run_row, r)
    for i, w in enumerate(batch.waits):
        enc.add(("waits", i), "wait", w.run_id, w.node_id, _wait_row, w, w.node_id)
    if fast["journal"] is None:
        for i, e in enumerate(batch.journal):
            enc.add(("journal", i), "journal", e.run_id, e.key, _journal_row, e, e.key)
    if fast["nodes"] is None:
        for i, n in enumerate(batch.nodes):
            enc.add(("nodes", i), "node", n.run_id, n.node_id, _node_row, n, n.node_id)
    for i, m in enumerate(batch.memory):
        enc.add(("memory", i), "memory", m.run_id, m.id, _memory_row, m, m.node_id)
    for i, op in enumerate(batch.kv if fast["kv"] is None else ()):
        key = op[1] if isinstance(op, tuple) and len(op) > 1 else None
        enc.add(("kv", i), "kv", None, key, _kv_row, op)
    if fast["events"] is None:
        for i, item in enumerate(batch.events):
            pair = isinstance(item, tuple) and len(item) == 2
            data = item[1] if pair and isinstance(item[1], dict) else {}
            enc.add(
                ("events", i),
                "event",
                item[0] if pair else None,
                data.get("kind"),
                _event_row,
                item,
                data.get("node_id"),
            )
    rows = enc.finish()
    for table, done in fast.items():
        if done is not None:
            setattr(rows, table, done)
    rows.typed = frozenset(t for t in _FLOAT_COLUMNS if fast[t] is not None)
    _redact(rows)
    return rows


def _run_row(enc: _Encoder, r: RunRecord) -> list[Any]:
    if r.meta is not None and not isinstance(r.meta, dict):
        raise RecordError(f"run meta must be a dict, got {type(r.meta).__name__}")
    meta = r.meta or {}
    row: list[Any] = [_text(r.run_id, "run_id"), _text(r.graph, "graph"), _text(r.status, "status")]
    enc.json(row, r.inputs, "the run's inputs")
    row += [_text(r.inputs_fingerprint, "inputs_fingerprint"), _number(r.created_at, "created_at")]
    row.append(_number(r.updated_at, "updated_at"))
    enc.json(row, r.outputs, "the run's outputs")
    row += [_free_text(r.error, "error"), _text(r.kind, "kind")]
    enc.json(row, meta, "the run's meta")
    row.append(enc.next_ord())
    return row


def _wait_row(enc: _Encoder, w: WaitRecord) -> list[Any]:
    row: list[Any] = [_text(w.token, "token"), _text(w.run_id, "run_id"), _text(w.node_id, "node_id")]
    row += [_text(w.kind, "kind"), _free_text(w.prompt, "prompt")]
    options: Any = w.options
    if options is None:
        row.append(None)
    else:
        if isinstance(options, (str, bytes)) or not isinstance(options, Sequence):
            raise RecordError(f"wait options must be a list of strings, got {type(options).__name__}")
        enc.json(row, list(options), "the wait's options")
    enc.json(row, w.schema, "the wait's schema")
    row += [_number(w.deadline, "deadline"), _number(w.created_at, "created_at"), _text(w.status, "status")]
    enc.json(row, w.answer, "the answer")
    enc.json(row, w.meta, "the wait's meta")
    row.append(enc.next_ord())
    return row


def _journal_row(enc: _Encoder, e: JournalEntry) -> list[Any]:
    row: list[Any] = [None, _text(e.run_id, "run_id"), _text(e.key, "key"), _text(e.name, "name")]
    row += [_text(e.kind, "kind"), _text(e.fingerprint, "fingerprint")]
    enc.json(row, e.value, f"the value of step {e.key!r:.60}")
    row += [_flag(e.durable, "durable"), _number(e.created_at, "created_at")]
    row[0] = enc.next_ord()
    return row


def _node_row(enc: _Encoder, n: NodeRecord) -> list[Any]:
    row: list[Any] = [_text(n.run_id, "run_id"), _text(n.node_id, "node_id"), _text(n.name, "name")]
    row += [_text(n.kind, "kind"), _text(n.status, "status"), _opt_text(n.parent, "parent")]
    parents = list(n.parents)
    for p in parents:
        _text(p, "a parent node id")
    enc.json(row, parents, "the node's parents")
    enc.json(row, n.inputs, "the node's inputs")
    enc.json(row, n.outputs, "the node's outputs")
    enc.json(row, n.error, "the node's error")
    row += [_number(n.started_at, "started_at"), _number(n.ended_at, "ended_at"), enc.next_ord()]
    return row


def _event_row(enc: _Encoder, item: Any) -> list[Any]:
    if not (isinstance(item, tuple) and len(item) == 2):
        raise RecordError("an event must be a (run_id, JSON value) pair")
    row: list[Any] = [_text(item[0], "run_id"), enc.next_ord()]
    enc.json(row, item[1], "the event")
    return row


def _memory_row(enc: _Encoder, m: MemoryRecord) -> list[Any]:
    row: list[Any] = [None, _text(m.id, "id"), _text(m.scope, "scope"), _text(m.kind, "kind")]
    enc.json(row, m.data, "the memory data")
    if m.text is None:
        raise RecordError("memory text must be a string, got None")
    row.append(_free_text(m.text, "text"))
    tags = list(m.tags)
    for t in tags:
        if not isinstance(t, str):
            raise RecordError(f"memory tags must be strings, got {type(t).__name__}")
    enc.json(row, tags, "the memory tags")
    row += [_number(m.created_at, "created_at"), _opt_text(m.run_id, "run_id"), _opt_text(m.node_id, "node_id")]
    row.append(_opt_text(m.role, "role"))
    if m.embedding is None:
        row.append(None)
    else:
        try:
            row.append(pack_vector(m.embedding))
        except ValueError as exc:
            raise RecordError(str(exc)) from None
    row[0] = enc.next_ord()
    return row


def _kv_row(enc: _Encoder, op: Any) -> list[Any]:
    if not (isinstance(op, tuple) and len(op) == 5):
        raise RecordError("a KV write must be (scope, key, value, expires_at, deleted)")
    scope, key, value, expires_at, deleted = op
    row: list[Any] = [_text(scope, "KV scope"), _text(key, "KV key")]
    if deleted:
        row.append("null")
    else:
        enc.json(row, value, f"the value of KV key {key!r:.60}")
    row += [_number(expires_at, "expires_at"), bool(deleted)]
    return row


def artifact_row(record: ArtifactRecord) -> list[Any]:
    """The ``artifacts`` row of ``record`` up to ``pinned`` (the store adds order, inline bytes, blob file).

    Raises:
        StorageError: a field the store cannot hold (``code="bad_record"``, or ``"not_json"`` for the labels).
    """
    try:
        row: list[Any] = [_text(record.id, "id"), _text(record.name, "name"), _text(record.kind, "kind")]
        row += [_text(record.mime, "mime")]
        if not isinstance(record.size, int) or isinstance(record.size, bool):
            raise RecordError(f"size must be an int, got {record.size!r:.40}")
        row += [record.size, _text(record.sha256, "sha256")]
        row.append(redact_text(_dumps(record.labels, "the artifact's labels")))
        row += [_number(record.created_at, "created_at"), _opt_text(record.run_id, "run_id")]
        row += [_opt_text(record.node_id, "node_id"), _flag(record.pinned, "pinned")]
    except RecordError as exc:
        return_error = reject_error([RejectedRecord("artifact", _label(record.run_id), _label(record.id), str(exc))])
        raise return_error from None
    return row


def reject_error(rejected: Sequence[RejectedRecord]) -> StorageError:
    """The error of a direct write whose record(s) the store refused (nothing of it was written)."""
    first = rejected[0]
    where = " ".join(
        x for x in (first.kind, first.key and f"{first.key!r}", first.run_id and f"of run {first.run_id}") if x
    )
    code = "not_json" if "not JSON" in first.error else "bad_record"
    return StorageError(f"cannot store {where}: {first.error}", run_id=first.run_id, code=code)


# -- rows -> records ----------------------------------------------------------------------------------------------
def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def run_from_row(row: Sequence[Any]) -> RunRecord:
    return RunRecord(
        run_id=py_text(row[0]),
        graph=py_text(row[1]),
        status=py_text(row[2]),
        inputs=_loads(row[3]),
        inputs_fingerprint=py_text(row[4]),
        created_at=row[5],
        updated_at=row[6],
        outputs=_loads(row[7]),
        error=py_text(row[8]),
        kind=py_text(row[9]),
        meta=_loads(row[10]),
    )


def wait_from_row(row: Sequence[Any]) -> WaitRecord:
    return WaitRecord(
        token=py_text(row[0]),
        run_id=py_text(row[1]),
        node_id=py_text(row[2]),
        kind=py_text(row[3]),
        prompt=py_text(row[4]),
        options=_loads(row[5]),
        schema=_loads(row[6]),
        deadline=row[7],
        created_at=row[8],
        status=py_text(row[9]),
        answer=_loads(row[10]),
        meta=_loads(row[11]),
    )


def journal_from_row(r: Sequence[Any]) -> JournalEntry:
    """From a ``journal`` row without its ``seq`` column (run_id first)."""
    return JournalEntry(
        run_id=py_text(r[0]),
        key=py_text(r[1]),
        name=py_text(r[2]),
        kind=py_text(r[3]),
        fingerprint=py_text(r[4]),
        value=_loads(r[5]),
        durable=r[6],
        created_at=r[7],
    )


def node_from_row(r: Sequence[Any]) -> NodeRecord:
    return NodeRecord(
        run_id=py_text(r[0]),
        node_id=py_text(r[1]),
        name=py_text(r[2]),
        kind=py_text(r[3]),
        status=py_text(r[4]),
        parent=py_text(r[5]),
        parents=tuple(_loads(r[6]) or ()),
        inputs=_loads(r[7]),
        outputs=_loads(r[8]),
        error=_loads(r[9]),
        started_at=r[10],
        ended_at=r[11],
        seq=r[12],
    )


def memory_from_row(row: Sequence[Any]) -> MemoryRecord:
    """From a ``memory`` row without ``seq`` and ``embedding`` (id first)."""
    return MemoryRecord(
        id=py_text(row[0]),
        scope=py_text(row[1]),
        kind=py_text(row[2]),
        data=_loads(row[3]),
        text=py_text(row[4]),
        tags=tuple(_loads(row[5]) or ()),
        created_at=row[6],
        run_id=py_text(row[7]),
        node_id=py_text(row[8]),
        role=py_text(row[9]),
    )


def artifact_from_row(row: Sequence[Any]) -> ArtifactRecord:
    return ArtifactRecord(
        id=py_text(row[0]),
        name=py_text(row[1]),
        kind=py_text(row[2]),
        mime=py_text(row[3]),
        size=row[4],
        sha256=row[5],
        labels=_loads(row[6]),
        created_at=row[7],
        run_id=py_text(row[8]),
        node_id=py_text(row[9]),
        pinned=row[10],
    )
