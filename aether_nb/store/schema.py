"""The DuckDB store's schema and row mapping: what the file holds and how records become rows and back.

Kept apart from :mod:`aether_nb.store.duckdb` so the store class reads as behaviour (locking, buffering,
durability) while the table layout, its migrations (and :func:`migrate`, which applies them), the SQL text and
the record <-> row conversions live in one place that changes when the schema does.

Values are stored as JSON text (``VARCHAR``), not DuckDB's ``JSON`` type, which rejects ``NaN`` and
``Infinity``: ``json.dumps`` (and so the in-memory store) accepts them.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import duckdb

from aether_nb.errors import StorageError
from aether_nb.store.records import (
    ArtifactRecord,
    JournalEntry,
    MemoryRecord,
    NodeRecord,
    RunRecord,
    WaitRecord,
)
from aether_nb.store.redact import json_text, json_texts, redact_optional

__all__ = [
    "ARTIFACT_SELECT",
    "ARTIFACT_UPSERT",
    "EVENT_FLUSH_SQL",
    "JOURNAL_BULK_INSERT",
    "JOURNAL_INSERT",
    "JOURNAL_SELECT",
    "MEMORY_INSERT",
    "MEMORY_SELECT",
    "MIGRATIONS",
    "NODE_COLUMNS",
    "NODE_FLUSH_SQL",
    "ORDER_COLUMNS",
    "RUN_SELECT",
    "RUN_UPSERT",
    "SCHEMA_VERSION",
    "WAIT_SELECT",
    "WAIT_UPSERT",
    "artifact_from_row",
    "artifact_params",
    "dumps",
    "filters",
    "journal_from_row",
    "journal_params",
    "loads",
    "memory_from_row",
    "memory_params",
    "migrate",
    "node_from_row",
    "node_row",
    "run_from_row",
    "run_params",
    "wait_from_row",
    "wait_params",
]

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
                embedding FLOAT[])""",
            """CREATE TABLE artifacts (
                id VARCHAR PRIMARY KEY, name VARCHAR, kind VARCHAR, mime VARCHAR, size BIGINT, sha256 VARCHAR,
                labels VARCHAR, created_at DOUBLE, run_id VARCHAR, node_id VARCHAR, pinned BOOLEAN,
                ord BIGINT NOT NULL, data BLOB, blob_file VARCHAR)""",
        ),
    ),
]
"""``(version, statements)`` in order. Append a new entry to change the schema; never edit a released one."""

SCHEMA_VERSION = MIGRATIONS[-1][0]

# The tables whose order column feeds the in-process counter (see ``_Counter`` in :mod:`aether_nb.store.duckdb`).
ORDER_COLUMNS = (
    ("runs", "ord"),
    ("journal", "seq"),
    ("waits", "ord"),
    ("nodes", "seq"),
    ("events", "seq"),
    ("memory", "seq"),
    ("artifacts", "ord"),
)


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """``BEGIN`` ... ``COMMIT``, or ``ROLLBACK`` and re-raise: every multi-statement write is all or nothing."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise


def migrate(con: duckdb.DuckDBPyConnection, location: str, *, read_only: bool) -> None:
    """Bring the file at ``location`` to :data:`SCHEMA_VERSION` in one transaction (a read-only open only checks
    it); StorageError when it is newer than this aether_nb, or cannot be migrated."""
    try:
        if read_only:
            try:
                row = con.execute("SELECT max(version) FROM schema_version").fetchone()
            except duckdb.CatalogException as exc:
                raise StorageError(
                    f"{location} holds no aether_nb store (no schema_version table); open it "
                    "read-write once to create one, or check the path.",
                    code="no_schema",
                ) from exc
            current = int(row[0] or 0) if row else 0
            _check_version(location, current)
            if current < SCHEMA_VERSION:
                raise StorageError(
                    f"{location} has schema version {current}, older than this aether_nb's "
                    f"{SCHEMA_VERSION}; open it once read-write to upgrade it (a read-only open cannot "
                    "migrate).",
                    code="schema_outdated",
                )
            return
        with transaction(con):
            con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at DOUBLE)")
            row = con.execute("SELECT max(version) FROM schema_version").fetchone()
            current = int(row[0] or 0) if row else 0
            _check_version(location, current)
            for version, statements in MIGRATIONS:
                if version <= current:
                    continue
                for statement in statements:
                    con.execute(statement)
                con.execute("INSERT INTO schema_version VALUES (?, ?)", [version, time.time()])
    except duckdb.Error as exc:
        raise StorageError(f"cannot set up the aether_nb schema in {location}: {exc}", code="open_failed") from exc


def _check_version(location: str, current: int) -> None:
    if current > SCHEMA_VERSION:
        raise StorageError(
            f"{location} was written by a newer aether_nb (schema version {current}; this one knows "
            f"up to {SCHEMA_VERSION}). Upgrade aether_nb (pip install -U aether_nb) to open it, or open "
            "another file.",
            code="schema_too_new",
        )


dumps = json_text
"""``value`` as JSON text with secrets redacted (StorageError when it is not JSON)."""
_plain = redact_optional


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


NODE_COLUMNS = (
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
NODE_FLUSH_SQL = (
    f"INSERT INTO nodes ({', '.join(NODE_COLUMNS)}) SELECT "
    + ", ".join(f"unnest(?::{t}[])" for t in _NODE_TYPES)
    + " ON CONFLICT (run_id, node_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in NODE_COLUMNS[2:-1])
)
EVENT_FLUSH_SQL = (
    "INSERT INTO events (run_id, seq, data) SELECT unnest(?::VARCHAR[]), unnest(?::BIGINT[]), unnest(?::VARCHAR[])"
)

RUN_SELECT = (
    "SELECT run_id, graph, status, inputs, inputs_fingerprint, created_at, updated_at, outputs, error, kind, "
    "meta FROM runs"
)
WAIT_SELECT = (
    'SELECT token, run_id, node_id, kind, prompt, options, "schema", deadline, created_at, status, answer, '
    "meta FROM waits"
)
JOURNAL_SELECT = 'SELECT run_id, "key", name, kind, fingerprint, value, durable, created_at FROM journal'
MEMORY_SELECT = 'SELECT id, scope, kind, data, "text", tags, created_at, run_id, node_id, role FROM memory'
ARTIFACT_SELECT = (
    "SELECT id, name, kind, mime, size, sha256, labels, created_at, run_id, node_id, pinned, data, blob_file "
    "FROM artifacts"
)


def run_from_row(row: tuple[Any, ...]) -> RunRecord:
    return RunRecord(
        run_id=row[0],
        graph=row[1],
        status=row[2],
        inputs=loads(row[3]),
        inputs_fingerprint=row[4],
        created_at=row[5],
        updated_at=row[6],
        outputs=loads(row[7]),
        error=row[8],
        kind=row[9],
        meta=loads(row[10]),
    )


def wait_from_row(row: tuple[Any, ...]) -> WaitRecord:
    return WaitRecord(
        token=row[0],
        run_id=row[1],
        node_id=row[2],
        kind=row[3],
        prompt=row[4],
        options=loads(row[5]),
        schema=loads(row[6]),
        deadline=row[7],
        created_at=row[8],
        status=row[9],
        answer=loads(row[10]),
        meta=loads(row[11]),
    )


def memory_from_row(row: tuple[Any, ...]) -> MemoryRecord:
    return MemoryRecord(
        id=row[0],
        scope=row[1],
        kind=row[2],
        data=loads(row[3]),
        text=row[4],
        tags=tuple(loads(row[5]) or ()),
        created_at=row[6],
        run_id=row[7],
        node_id=row[8],
        role=row[9],
    )


def artifact_from_row(row: tuple[Any, ...]) -> ArtifactRecord:
    return ArtifactRecord(
        id=row[0],
        name=row[1],
        kind=row[2],
        mime=row[3],
        size=row[4],
        sha256=row[5],
        labels=loads(row[6]),
        created_at=row[7],
        run_id=row[8],
        node_id=row[9],
        pinned=row[10],
    )


def filters(*pairs: tuple[str, str | None]) -> tuple[str, list[Any]]:
    clauses = [f"{col} = ?" for col, value in pairs if value is not None]
    params: list[Any] = [value for _, value in pairs if value is not None]
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def node_from_row(r: tuple[Any, ...]) -> NodeRecord:
    return NodeRecord(
        run_id=r[0],
        node_id=r[1],
        name=r[2],
        kind=r[3],
        status=r[4],
        parent=r[5],
        parents=tuple(loads(r[6]) or ()),
        inputs=loads(r[7]),
        outputs=loads(r[8]),
        error=loads(r[9]),
        started_at=r[10],
        ended_at=r[11],
        seq=r[12],
    )


def journal_from_row(r: tuple[Any, ...]) -> JournalEntry:
    return JournalEntry(
        run_id=r[0],
        key=r[1],
        name=r[2],
        kind=r[3],
        fingerprint=r[4],
        value=loads(r[5]),
        durable=r[6],
        created_at=r[7],
    )


# -- record -> row (``next_ord`` is called where the store took its next order value) ---------------------
def _set_excluded(*columns: str) -> str:
    """``a = excluded.a, b = excluded.b, ...`` for an upsert that replaces those columns."""
    return ", ".join(f"{c} = excluded.{c}" for c in columns)


RUN_UPSERT = (
    "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (run_id) DO UPDATE SET graph = excluded.graph, status = excluded.status, "
    "inputs = excluded.inputs, "
    "inputs_fingerprint = excluded.inputs_fingerprint, created_at = excluded.created_at, "
    "updated_at = excluded.updated_at, outputs = excluded.outputs, error = excluded.error, "
    "kind = excluded.kind, meta = excluded.meta"
)
RUN_BULK_UPSERT = (
    "INSERT INTO runs SELECT "
    + ", ".join(f"unnest(?::{t}[])" for t in ("VARCHAR",) * 5 + ("DOUBLE", "DOUBLE") + ("VARCHAR",) * 4 + ("BIGINT",))
    + RUN_UPSERT[RUN_UPSERT.index(" ON CONFLICT") :]
)
JOURNAL_INSERT = "INSERT INTO journal VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
JOURNAL_BULK_INSERT = "INSERT INTO journal SELECT " + ", ".join(
    f"unnest(?::{t}[])"
    for t in ("BIGINT", "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "BOOLEAN", "DOUBLE")
)
WAIT_UPSERT = (
    "INSERT INTO waits VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (token) DO UPDATE SET run_id = excluded.run_id, node_id = excluded.node_id, "
    "kind = excluded.kind, "
    'prompt = excluded.prompt, options = excluded.options, "schema" = excluded."schema", '
    "deadline = excluded.deadline, created_at = excluded.created_at, status = excluded.status, "
    "answer = excluded.answer, meta = excluded.meta"
)
WAIT_BULK_UPSERT = (
    "INSERT INTO waits SELECT "
    + ", ".join(f"unnest(?::{t}[])" for t in ("VARCHAR",) * 7 + ("DOUBLE", "DOUBLE") + ("VARCHAR",) * 3 + ("BIGINT",))
    + WAIT_UPSERT[WAIT_UPSERT.index(" ON CONFLICT") :]
)


def bulk_insert_sql(table: str, columns: Sequence[str], types: Sequence[str]) -> str:
    """``INSERT`` of column lists (one ``?`` list per column): DuckDB's fast path for many rows."""
    return f"INSERT INTO {table} ({', '.join(columns)}) SELECT " + ", ".join(f"unnest(?::{t}[])" for t in types)


def bulk_update_sql(table: str, columns: Sequence[str], types: Sequence[str], keys: Sequence[str]) -> str:
    """``UPDATE`` of existing rows from column lists, matched on ``keys``; every other column but the order
    column (the last one) is replaced. Several times cheaper in DuckDB than ``INSERT ... ON CONFLICT``."""
    sets = ", ".join(f"{c} = u.{c}" for c in columns[:-1] if c not in keys)
    source = ", ".join(f"unnest(?::{t}[]) AS {c}" for c, t in zip(columns, types, strict=True))
    match = " AND ".join(f"{table}.{k} = u.{k}" for k in keys)
    return f"UPDATE {table} SET {sets} FROM (SELECT {source}) AS u WHERE {match}"


RUN_COLUMNS = (
    "run_id", "graph", "status", "inputs", "inputs_fingerprint", "created_at", "updated_at", "outputs", "error",
    "kind", "meta", "ord",
)  # fmt: skip
_RUN_TYPES = ("VARCHAR",) * 5 + ("DOUBLE", "DOUBLE") + ("VARCHAR",) * 4 + ("BIGINT",)
WAIT_COLUMNS = (
    "token", "run_id", "node_id", "kind", "prompt", "options", '"schema"', "deadline", "created_at", "status",
    "answer", "meta", "ord",
)  # fmt: skip
_WAIT_TYPES = ("VARCHAR",) * 7 + ("DOUBLE", "DOUBLE") + ("VARCHAR",) * 3 + ("BIGINT",)
RUN_BULK_INSERT = bulk_insert_sql("runs", RUN_COLUMNS, _RUN_TYPES)
RUN_BULK_UPDATE = bulk_update_sql("runs", RUN_COLUMNS, _RUN_TYPES, ["run_id"])
WAIT_BULK_INSERT = bulk_insert_sql("waits", WAIT_COLUMNS, _WAIT_TYPES)
WAIT_BULK_UPDATE = bulk_update_sql("waits", WAIT_COLUMNS, _WAIT_TYPES, ["token"])
NODE_BULK_INSERT = bulk_insert_sql("nodes", NODE_COLUMNS, _NODE_TYPES)
NODE_BULK_UPDATE = bulk_update_sql("nodes", NODE_COLUMNS, _NODE_TYPES, ["run_id", "node_id"])
MEMORY_INSERT = (
    'INSERT INTO memory (seq, id, scope, kind, data, "text", tags, created_at, run_id, node_id, '
    "role, embedding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::FLOAT[])"
)
KV_BULK_UPSERT = (
    "INSERT INTO kv SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::DOUBLE[]) "
    'ON CONFLICT (scope, "key") DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at'
)
MEMORY_BULK_INSERT = (
    'INSERT INTO memory (seq, id, scope, kind, data, "text", tags, created_at, run_id, node_id, role, embedding) '
    "SELECT "
    + ", ".join(
        f"unnest(?::{t}[])" for t in ("BIGINT",) + ("VARCHAR",) * 6 + ("DOUBLE",) + ("VARCHAR",) * 3 + ("FLOAT[]",)
    )
)
ARTIFACT_UPSERT = (
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
    )
)


def run_params(record: RunRecord, next_ord: Callable[[], int]) -> list[Any]:
    meta = dict(json.loads(dumps(record.meta)) or {})
    meta.pop("_order", None)  # MemoryStore keeps its own order there and strips it on read
    return [
        record.run_id,
        record.graph,
        record.status,
        dumps(record.inputs),
        record.inputs_fingerprint,
        record.created_at,
        record.updated_at,
        dumps(record.outputs),
        _plain(record.error),
        record.kind,
        dumps(meta),
        next_ord(),
    ]


def journal_params(entry: JournalEntry, next_ord: Callable[[], int]) -> list[Any]:
    return [
        next_ord(),
        entry.run_id,
        entry.key,
        entry.name,
        entry.kind,
        entry.fingerprint,
        dumps(entry.value),
        entry.durable,
        entry.created_at,
    ]


def wait_params(record: WaitRecord, next_ord: Callable[[], int]) -> list[Any]:
    return [
        record.token,
        record.run_id,
        record.node_id,
        record.kind,
        _plain(record.prompt),
        None if record.options is None else dumps(list(record.options)),
        dumps(record.schema),
        record.deadline,
        record.created_at,
        record.status,
        dumps(record.answer),
        dumps(record.meta),
        next_ord(),
    ]


def node_row(record: NodeRecord) -> tuple[Any, ...]:
    """The ``nodes`` row of ``record`` without its ``seq`` (the write buffer adds that)."""
    return (
        record.run_id,
        record.node_id,
        record.name,
        record.kind,
        record.status,
        record.parent,
        dumps(list(record.parents)),
        dumps(record.inputs),
        dumps(record.outputs),
        dumps(record.error),
        record.started_at,
        record.ended_at,
    )


def journal_columns(entries: Sequence[JournalEntry], next_ord: Callable[[], int]) -> list[list[Any]]:
    """The column lists of :data:`JOURNAL_BULK_INSERT` for ``entries``, their values redacted in one pass."""
    values = json_texts([e.value for e in entries])
    return [
        [next_ord() for _ in entries],
        [e.run_id for e in entries],
        [e.key for e in entries],
        [e.name for e in entries],
        [e.kind for e in entries],
        [e.fingerprint for e in entries],
        values,
        [e.durable for e in entries],
        [e.created_at for e in entries],
    ]


def node_columns(records: Sequence[NodeRecord], next_ord: Callable[[], int]) -> list[list[Any]]:
    """The column lists of :data:`NODE_FLUSH_SQL` for ``records`` (new seq each; an upsert keeps the old one)."""
    texts = json_texts([v for r in records for v in (list(r.parents), r.inputs, r.outputs, r.error)])
    return [
        [r.run_id for r in records],
        [r.node_id for r in records],
        [r.name for r in records],
        [r.kind for r in records],
        [r.status for r in records],
        [r.parent for r in records],
        texts[0::4],
        texts[1::4],
        texts[2::4],
        texts[3::4],
        [r.started_at for r in records],
        [r.ended_at for r in records],
        [next_ord() for _ in records],
    ]


def memory_params(record: MemoryRecord, next_ord: Callable[[], int]) -> list[Any]:
    return [
        next_ord(),
        record.id,
        record.scope,
        record.kind,
        dumps(record.data),
        _plain(record.text),
        dumps(list(record.tags)),
        record.created_at,
        record.run_id,
        record.node_id,
        record.role,
        None if record.embedding is None else list(record.embedding),
    ]


def artifact_params(
    record: ArtifactRecord, labels: str, inline: bytes | None, blob_file: str | None, next_ord: Callable[[], int]
) -> list[Any]:
    """``labels`` is already JSON text: the store encodes it before writing any blob file."""
    return [
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
        next_ord(),
        inline,
        blob_file,
    ]
