"""``ag.store().sql()``: read-only by construction (issue 13, item 1).

Every attack runs through ``DuckDBStore.sql``; afterwards the store must hold exactly what it held before (every
table, row for row), the database's settings must be unchanged, and no file may have appeared anywhere we can see
(the store's folder, the target paths named in the attacks, DuckDB's home folder). Some attacks are refused by the
statement-type check (a friendly message); the ones that get past it (``EXPLAIN ANALYZE DELETE``, a ``DELETE``
inside a ``WITH``, ``PRAGMA``...) are stopped by the engine: the rolled-back transaction, external access off, the
locked configuration. ``test_the_engine_stops_what_the_type_check_lets_through`` checks that layer alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aether_nb.errors import UsageError
from aether_nb.store.duckdb import DuckDBStore
from aether_nb.store.query import ENGINE_CONFIG, run_read_only
from aether_nb.store.records import ArtifactRecord, HistoryBatch, JournalEntry, MemoryRecord, NodeRecord, RunRecord

TABLES = (
    "runs",
    "nodes",
    "events",
    "journal",
    "waits",
    "kv",
    "memory",
    "artifacts",
    "history_log",
    "log_state",
    "schema_version",
)
SETTINGS = (
    "threads",
    "enable_external_access",
    "enable_profiling",
    "profiling_output",
    "memory_limit",
    "temp_directory",
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    (tmp_path / "store").mkdir()
    s = DuckDBStore(tmp_path / "store" / "s.duckdb")
    s.write_history(
        HistoryBatch(
            runs=[RunRecord("r1", "demo", "succeeded", {"x": 1}, "fp", 1.0, 2.0, outputs={"y": 2})],
            journal=[JournalEntry("r1", f"k{i}", "step", "tool", "f", {"i": i}, True, 1.0) for i in range(3)],
            nodes=[
                NodeRecord("r1", "k0", "step", "tool", "DONE", None, (), {"a": 1}, {"b": 2}, None, 1.0, 2.0),
            ],
            events=[("r1", {"kind": "run_started"}), ("r1", {"kind": "run_finished"})],
            memory=[MemoryRecord("m1", "notebook", "note", {"d": 1}, "hello", ("t",), 1.0)],
            kv=[("notebook", "k", {"v": 1}, None, False)],
        )
    )
    s.artifact_put(ArtifactRecord("a1", "a.txt", "text", "text/plain", 2, "sha", {}, 1.0), b"hi")
    try:
        yield s
    finally:
        s.close()


def snapshot(store: DuckDBStore) -> dict[str, Any]:
    """Every table's rows (sorted) and the settings an attack could change, read through the engine."""
    out: dict[str, Any] = {}
    for table in TABLES:
        rows = store.sql(f"select * from {table}").rows
        out[table] = sorted(rows, key=repr)
    names = ", ".join(f"'{n}'" for n in SETTINGS)
    out["settings"] = sorted(store.sql(f"select name, value from duckdb_settings() where name in ({names})").rows)
    out["catalog"] = sorted(store.sql("select database_name, schema_name, table_name from duckdb_tables()").rows)
    out["views"] = sorted(store.sql("select view_name from duckdb_views() where not internal").rows)
    out["databases"] = sorted(store.sql("select database_name from duckdb_databases()").rows)
    return out


def files_under(*roots: Path) -> set[str]:
    found: set[str] = set()
    for root in roots:
        if root.exists():
            for path, _, names in os.walk(root):
                found.update(os.path.join(path, n) for n in names)
    return found


def attacks(tmp: Path) -> list[str]:
    out = tmp / "out"
    return [
        "DELETE FROM journal",
        "UPDATE waits SET status = 'open'",
        "INSERT INTO runs (run_id, ord) VALUES ('evil', 1)",
        "DROP TABLE journal",
        "ALTER TABLE journal ADD COLUMN evil INT",
        "TRUNCATE journal",
        "EXPLAIN ANALYZE DELETE FROM journal",
        "EXPLAIN ANALYZE UPDATE runs SET status = 'failed'",
        "EXPLAIN ANALYZE INSERT INTO kv VALUES ('s', 'evil', '1', NULL)",
        "EXPLAIN ANALYZE CREATE TABLE evil AS SELECT 1",
        "WITH x AS (DELETE FROM journal RETURNING *) SELECT * FROM x",
        "WITH x AS (UPDATE runs SET status = 'failed' RETURNING *) SELECT count(*) FROM x",
        "WITH x AS (INSERT INTO kv VALUES ('s', 'evil', '1', NULL) RETURNING *) SELECT * FROM x",
        "WITH x AS (DELETE FROM history_log RETURNING *) SELECT 1",
        "CREATE TABLE evil AS SELECT * FROM runs",
        "CREATE VIEW evil AS SELECT 1",
        "CREATE MACRO evil(a) AS a + 1",
        "CREATE SEQUENCE evil",
        "CREATE TEMP TABLE evil AS SELECT 1",
        "CREATE INDEX evil ON journal (run_id)",
        "CREATE SCHEMA evil",
        "CREATE TYPE evil AS ENUM ('a')",
        f"COPY journal TO '{out}.csv'",
        f"COPY (SELECT * FROM runs) TO '{out}.parquet' (FORMAT parquet)",
        f"COPY journal FROM '{out}.csv'",
        f"EXPORT DATABASE '{out}_export'",
        f"IMPORT DATABASE '{out}_export'",
        "PRAGMA enable_profiling",
        "PRAGMA enable_profiling = 'json'",
        f"PRAGMA profiling_output = '{out}.json'",
        "PRAGMA threads = 8",
        f"SET profiling_output = '{out}.json'",
        "SET threads = 8",
        "SET enable_external_access = true",
        "RESET enable_external_access",
        "SET memory_limit = '1GB'",
        f"SET temp_directory = '{out}_tmp'",
        f"ATTACH '{out}.db' AS evil",
        "ATTACH ':memory:' AS evil",
        "DETACH s",
        "INSTALL httpfs",
        "LOAD httpfs",
        "FORCE INSTALL json",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM read_blob('/etc/hostname')",
        "SELECT * FROM read_json('/etc/passwd')",
        "SELECT * FROM read_parquet('/etc/passwd')",
        "SELECT * FROM '/etc/passwd'",
        "SELECT * FROM glob('/*')",
        "SELECT getenv('HOME')",
        "CHECKPOINT",
        "FORCE CHECKPOINT",
        "VACUUM",
        "ANALYZE",
        "CALL enable_logging()",
        "SET enable_logging = true",
        f"SET log_query_path = '{out}.log'",
        "CREATE PERSISTENT SECRET evil (TYPE s3, KEY_ID 'a', SECRET 'b')",
        "CREATE SECRET evil (TYPE s3, KEY_ID 'a', SECRET 'b')",
        "USE memory",
        "BEGIN TRANSACTION",
        "COMMIT",
        "ROLLBACK",
        "PREPARE evil AS DELETE FROM journal",
        "SET VARIABLE evil = 1",
        "DELETE FROM journal; SELECT 1",
        "SELECT 1; DELETE FROM journal",
    ]


def test_no_statement_changes_the_store_or_writes_a_file(store: DuckDBStore, tmp_path: Path) -> None:
    home = Path.home() / ".duckdb"
    home_before = files_under(home)
    before = snapshot(store)
    files_before = files_under(tmp_path)
    refused = 0
    for attack in attacks(tmp_path):
        try:
            store.sql(attack)
        except UsageError:
            refused += 1
        assert snapshot(store) == before, f"{attack!r} changed the store"
        new = files_under(tmp_path) - files_before
        assert not {f for f in new if not f.startswith(store.location)}, f"{attack!r} wrote {new}"
        assert files_under(home) == home_before, f"{attack!r} wrote under {home}"
    assert refused >= 50  # most attacks fail loudly; the rest ran, harmlessly
    # connection state from one call does not reach the next one
    assert store.sql("select getvariable('evil')").rows == [(None,)]
    with pytest.raises(UsageError):
        store.sql("EXECUTE evil")
    # and the store still works
    store.put_run(RunRecord("r2", "demo", "running", {}, "fp", 3.0, 3.0))
    assert [r.run_id for r in store.list_runs()] == ["r2", "r1"]
    assert len(store.load_journal("r1")) == 3


def test_the_engine_stops_what_the_type_check_lets_through(store: DuckDBStore, tmp_path: Path) -> None:
    # run_read_only's type check refuses obvious writes; here each attack goes to the engine directly, on a cursor
    # of the store's connection, as run_read_only runs it: in a transaction that is rolled back.
    before = snapshot(store)
    outcomes = {"ran": 0, "refused": 0}
    con = duckdb.connect(store.location, config=dict(ENGINE_CONFIG))  # same process: the store's database
    try:
        for attack in attacks(tmp_path):
            if ";" in attack:
                continue
            cur = con.cursor()
            try:
                cur.execute("BEGIN TRANSACTION")
                outcome = _outcome(cur, attack)
                if attack not in ("COMMIT", "ROLLBACK"):
                    cur.execute("ROLLBACK")
            finally:
                cur.close()
            outcomes[outcome] += 1
            assert snapshot(store) == before, f"{attack!r} changed the store past the engine"
            assert not list(tmp_path.glob("out*")), f"{attack!r} wrote a file past the engine"
    finally:
        con.close()
    assert outcomes["ran"] >= 10 and outcomes["refused"] >= 30  # both layers of the engine were exercised


def _outcome(cur: duckdb.DuckDBPyConnection, statement: str) -> str:
    try:
        cur.execute(statement)
    except duckdb.Error:
        return "refused"
    return "ran"


_WRITES = st.sampled_from(
    [
        "DELETE FROM journal",
        "DELETE FROM runs WHERE true",
        "UPDATE runs SET status = 'x'",
        "UPDATE kv SET value = '2'",
        "INSERT INTO journal SELECT * FROM journal",
        "INSERT INTO kv VALUES ('s', 'evil', '1', NULL)",
        "DELETE FROM history_log",
        "DELETE FROM artifacts",
    ]
)
_WRAPPERS = st.sampled_from(
    [
        "{w}",
        "EXPLAIN ANALYZE {w}",
        "WITH x AS ({w} RETURNING *) SELECT * FROM x",
        "WITH x AS ({w} RETURNING *) SELECT count(*) FROM x",
        "WITH a AS (SELECT 1), x AS ({w} RETURNING 1) SELECT * FROM a, x",
        "SELECT * FROM (WITH x AS ({w} RETURNING *) SELECT * FROM x)",
        "EXPLAIN ANALYZE WITH x AS ({w} RETURNING *) SELECT * FROM x",
    ]
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(write=_WRITES, wrapper=_WRAPPERS)
def test_writes_wrapped_any_way_change_nothing(store: DuckDBStore, write: str, wrapper: str) -> None:
    before = snapshot(store)
    with pytest.raises(UsageError):  # refused by the type check, or by the engine, or run and rolled back
        store.sql(wrapper.format(w=write))
        raise UsageError("ran")  # it ran (and was rolled back): checked below like the others
    assert snapshot(store) == before


def test_ordinary_queries_work(store: DuckDBStore) -> None:
    res = store.sql("select run_id, status from runs where graph = ?", ["demo"])
    assert res.columns == ["run_id", "status"] and res.rows == [("r1", "succeeded")]
    assert store.sql("select json_extract(value, '$.i')::INT as i from journal order by seq").rows == [(0,), (1,), (2,)]
    assert store.sql("explain select * from runs").columns  # EXPLAIN of a read runs
    assert store.sql("pragma table_info('runs')").rows  # so does a PRAGMA that reads
    assert store.sql("describe journal").rows
    pivot = store.sql("pivot runs on status in ('succeeded', 'failed') using count(*) group by graph")
    assert pivot.columns == ["graph", "succeeded", "failed"] and pivot.rows == [("demo", 1, 0)]
    # the history written since the last apply is visible at once
    store.append_events("r1", [{"kind": "late"}])
    assert store.sql("select count(*) from events").rows == [(3,)]


def test_a_pivot_without_its_columns_says_to_name_them(store: DuckDBStore) -> None:
    """It read "sql() is read-only (MULTI refused)" for a query that only reads (found by a tester)."""
    with pytest.raises(UsageError, match=r"PIVOT runs ON status IN \('succeeded', 'failed'\)") as caught:
        store.sql("PIVOT runs ON status USING count(*)")
    assert caught.value.code == "bad_sql" and "read-only (MULTI" not in str(caught.value)


@pytest.mark.parametrize(
    "query, params",
    [
        ("", None),
        ("   ", None),
        (1, None),
        ("select '\ud800'", None),
        ("select ?", "abc"),
        ("select ?", [object()]),
        ("select * from nowhere", None),
        ("select 1; select 2", None),
        ("not sql at all", None),
    ],
)
def test_bad_queries_raise_usage_errors(store: DuckDBStore, query: Any, params: Any) -> None:
    with pytest.raises(UsageError):
        store.sql(query, params)


def test_run_read_only_closes_its_cursor_even_when_the_query_fails(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "x.duckdb"), config=dict(ENGINE_CONFIG))
    try:
        con.execute("create table t (a int)")
        for _ in range(50):
            with pytest.raises(UsageError):
                run_read_only(con, "select * from missing", None)
        assert run_read_only(con, "select count(*) from t", None).rows == [(0,)]
    finally:
        con.close()
