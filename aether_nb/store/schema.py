"""The DuckDB store's schema: the tables, their migrations (:func:`migrate`) and the SQL text that reads and writes
them, in the one place that changes when the schema does.

Rows are built and read back in :mod:`aether_nb.store.rows`; the write path (the history log and how it reaches
these tables) is :mod:`aether_nb.store.log`. Values are stored as JSON text (``VARCHAR``), not DuckDB's ``JSON``
type, which rejects ``NaN`` and ``Infinity``: ``json.dumps`` (and so the in-memory store) accepts them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from typing import Any

import duckdb

from aether_nb.errors import StorageError
from aether_nb.store.values import db_text

__all__ = [
    "ARTIFACT_SELECT",
    "ARTIFACT_UPSERT",
    "EVENT_INSERT",
    "INGEST",
    "JOURNAL_INSERT",
    "JOURNAL_SELECT",
    "KV_DELETE",
    "KV_INSERT",
    "LOG_APPLIED",
    "LOG_DELETE",
    "LOG_SELECT",
    "LOG_STATE_SELECT",
    "MEMORY_INSERT",
    "MEMORY_SELECT",
    "MIGRATIONS",
    "NODE_INSERT",
    "NODE_SELECT",
    "NODE_UPDATE",
    "ORDER_COLUMNS",
    "RUN_INSERT",
    "RUN_SELECT",
    "RUN_UPDATE",
    "SCHEMA_VERSION",
    "WAIT_INSERT",
    "WAIT_SELECT",
    "WAIT_UPDATE",
    "filters",
    "migrate",
    "transaction",
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
    # The history log: one row per batch (its rows as JSON), written in one statement; applied to the tables
    # above later (aether_nb.store.log). A file with rows here must not be opened by an aether_nb that would
    # ignore them, hence a new version.
    (2, ("CREATE TABLE history_log (seq BIGINT NOT NULL, batch VARCHAR NOT NULL)",)),
    # The history log moved to segment files beside the database (aether_nb.store.logfile): ``db_id`` marks the
    # segments as this database's, ``applied_upto`` is the highest log seq the tables hold (written with every
    # apply, so a segment a crash left behind is never applied twice). ``history_log`` stays, for files an
    # earlier aether_nb left with rows in it (applied at open).
    (
        3,
        (
            "CREATE TABLE log_state (db_id VARCHAR NOT NULL, applied_upto BIGINT NOT NULL)",
            "INSERT INTO log_state VALUES (CAST(uuid() AS VARCHAR), 0)",
        ),
    ),
]
"""``(version, statements)`` in order. Append a new entry to change the schema; never edit a released one."""

SCHEMA_VERSION = MIGRATIONS[-1][0]

# The tables whose order column feeds the in-process counter (see ``FileState`` in :mod:`aether_nb.store.log`).
ORDER_COLUMNS = (
    ("runs", "ord"),
    ("journal", "seq"),
    ("waits", "ord"),
    ("nodes", "seq"),
    ("events", "seq"),
    ("memory", "seq"),
    ("artifacts", "ord"),
    ("history_log", "seq"),
    ("log_state", "applied_upto"),
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


# -- SQL text --------------------------------------------------------------------------------------------------
INGEST = "aether_ingest"
"""The name under which a bulk statement's column arrays are registered on the connection while it runs (see
:func:`aether_nb.store.apply.execute`)."""


def bulk_insert_sql(table: str, columns: Sequence[str], types: Sequence[str]) -> str:
    """``INSERT`` of column arrays, read as the relation :data:`INGEST` (columns ``c0``, ``c1``...).

    Why arrays and not bound lists (``unnest(?::T[])``): DuckDB converts a bound Python list value by value into
    its own values with the GIL held (~0.5-0.8 µs each, ~3 µs per row of ``nodes``), in one stretch: a 30,000-row
    apply in the background froze the kernel's loop for up to 160 ms. It scans a NumPy object array in its C++
    scanner instead, taking the GIL a vector at a time (gaps of at most ~8 ms), and the apply costs ~40 % less.
    Each column is cast to the table's type: an embedding arrives as a list literal in text (see
    :func:`aether_nb.store.values.vector_literal`) that DuckDB casts to ``FLOAT[]`` itself.
    """
    if len(columns) != len(types):
        raise ValueError(f"{table}: {len(columns)} columns but {len(types)} types")
    parts = ", ".join(f"CAST(c{i} AS {t})" for i, t in enumerate(types))
    return f"INSERT INTO {table} ({', '.join(columns)}) SELECT {parts} FROM {INGEST}"


def bulk_update_sql(table: str, columns: Sequence[str], types: Sequence[str], keys: Sequence[str]) -> str:
    """``UPDATE`` of existing rows from column arrays (as :func:`bulk_insert_sql`), matched on ``keys``; every
    other column but the order column (the last one) is replaced. Several times cheaper in DuckDB than
    ``INSERT ... ON CONFLICT``."""
    sets = ", ".join(f"{c} = u.{c}" for c in columns[:-1] if c not in keys)
    source = ", ".join(f"CAST(c{i} AS {t}) AS {c}" for i, (c, t) in enumerate(zip(columns, types, strict=True)))
    match = " AND ".join(f"{table}.{k} = u.{k}" for k in keys)
    return f"UPDATE {table} SET {sets} FROM (SELECT {source} FROM {INGEST}) AS u WHERE {match}"


RUN_COLUMNS = (
    "run_id", "graph", "status", "inputs", "inputs_fingerprint", "created_at", "updated_at", "outputs", "error",
    "kind", "meta", "ord",
)  # fmt: skip
RUN_TYPES = ("VARCHAR",) * 5 + ("DOUBLE", "DOUBLE") + ("VARCHAR",) * 4 + ("BIGINT",)
WAIT_COLUMNS = (
    "token", "run_id", "node_id", "kind", "prompt", "options", '"schema"', "deadline", "created_at", "status",
    "answer", "meta", "ord",
)  # fmt: skip
WAIT_TYPES = ("VARCHAR",) * 7 + ("DOUBLE", "DOUBLE") + ("VARCHAR",) * 3 + ("BIGINT",)
JOURNAL_COLUMNS = ("seq", "run_id", '"key"', "name", "kind", "fingerprint", "value", "durable", "created_at")
JOURNAL_TYPES = ("BIGINT",) + ("VARCHAR",) * 6 + ("BOOLEAN", "DOUBLE")
NODE_COLUMNS = (
    "run_id", "node_id", "name", "kind", "status", "parent", "parents", "inputs", "outputs", "error", "started_at",
    "ended_at", "seq",
)  # fmt: skip
NODE_TYPES = ("VARCHAR",) * 10 + ("DOUBLE", "DOUBLE", "BIGINT")
EVENT_COLUMNS = ("run_id", "seq", "data")
EVENT_TYPES = ("VARCHAR", "BIGINT", "VARCHAR")
MEMORY_COLUMNS = (
    "seq", "id", "scope", "kind", "data", '"text"', "tags", "created_at", "run_id", "node_id", "role", "embedding",
)  # fmt: skip
MEMORY_TYPES = ("BIGINT",) + ("VARCHAR",) * 6 + ("DOUBLE",) + ("VARCHAR",) * 3 + ("FLOAT[]",)

RUN_SELECT = f"SELECT {', '.join(RUN_COLUMNS[:-1])} FROM runs"
WAIT_SELECT = f"SELECT {', '.join(WAIT_COLUMNS[:-1])} FROM waits"
JOURNAL_SELECT = f"SELECT {', '.join(JOURNAL_COLUMNS[1:])} FROM journal"
NODE_SELECT = f"SELECT {', '.join(NODE_COLUMNS)} FROM nodes"
MEMORY_SELECT = 'SELECT id, scope, kind, data, "text", tags, created_at, run_id, node_id, role FROM memory'
ARTIFACT_SELECT = (
    "SELECT id, name, kind, mime, size, sha256, labels, created_at, run_id, node_id, pinned, data, blob_file "
    "FROM artifacts"
)

RUN_INSERT = bulk_insert_sql("runs", RUN_COLUMNS, RUN_TYPES)
RUN_UPDATE = bulk_update_sql("runs", RUN_COLUMNS, RUN_TYPES, ["run_id"])
WAIT_INSERT = bulk_insert_sql("waits", WAIT_COLUMNS, WAIT_TYPES)
WAIT_UPDATE = bulk_update_sql("waits", WAIT_COLUMNS, WAIT_TYPES, ["token"])
JOURNAL_INSERT = bulk_insert_sql("journal", JOURNAL_COLUMNS, JOURNAL_TYPES)
NODE_INSERT = bulk_insert_sql("nodes", NODE_COLUMNS, NODE_TYPES)
NODE_UPDATE = bulk_update_sql("nodes", NODE_COLUMNS, NODE_TYPES, ["run_id", "node_id"])
EVENT_INSERT = bulk_insert_sql("events", EVENT_COLUMNS, EVENT_TYPES)
# The embedding arrives as a list literal (text) that DuckDB casts itself: see aether_nb.store.values.vector_literal
MEMORY_INSERT = bulk_insert_sql("memory", MEMORY_COLUMNS, MEMORY_TYPES)
KV_DELETE = f'DELETE FROM kv WHERE (scope, "key") IN (SELECT CAST(c0 AS VARCHAR), CAST(c1 AS VARCHAR) FROM {INGEST})'
KV_INSERT = bulk_insert_sql(
    "kv", ("scope", '"key"', "value", "expires_at"), ("VARCHAR", "VARCHAR", "VARCHAR", "DOUBLE")
)
LOG_DELETE = "DELETE FROM history_log WHERE list_contains(?, seq)"
LOG_SELECT = "SELECT seq, batch FROM history_log ORDER BY seq"
LOG_STATE_SELECT = "SELECT db_id, applied_upto FROM log_state"
LOG_APPLIED = "UPDATE log_state SET applied_upto = greatest(applied_upto, ?)"
ARTIFACT_UPSERT = (
    f"INSERT INTO artifacts VALUES ({', '.join('?' * 14)}) ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(
        f"{c} = excluded.{c}"
        for c in (
            "name", "kind", "mime", "size", "sha256", "labels", "created_at", "run_id", "node_id", "pinned", "data",
            "blob_file",
        )
    )
)  # fmt: skip


def filters(*pairs: tuple[str, str | None]) -> tuple[str, list[Any]]:
    """``WHERE a = ? AND b = ?`` for the pairs whose value is not None (text values escaped as stored)."""
    clauses = [f"{col} = ?" for col, value in pairs if value is not None]
    params: list[Any] = [db_text(value) for _, value in pairs if value is not None]
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params
