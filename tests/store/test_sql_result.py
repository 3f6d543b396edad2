"""What ``ag.store().sql()`` returns, as a user reads it: iterated row by row (as a DB-API cursor is), counted,
turned into dicts. (A user's first notebook wrote ``for (kind,) in ag.store().sql(...)`` and got "'QueryResult'
object is not iterable", although ``len()`` worked.)"""

from __future__ import annotations

from pathlib import Path

from aether_nb.store.duckdb import DuckDBStore
from aether_nb.store.records import RunRecord


def test_a_query_result_iterates_its_rows_as_tuples(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "s.duckdb")
    try:
        for i, status in enumerate(["succeeded", "waiting", "failed"]):
            store.put_run(RunRecord(f"r{i}", "g", status, {}, "fp", float(i), float(i)))
        res = store.sql("select run_id, status from runs order by run_id")
        assert [(run_id, status) for run_id, status in res] == [
            ("r0", "succeeded"),
            ("r1", "waiting"),
            ("r2", "failed"),
        ]
        assert list(res) == res.rows and len(res) == 3
        assert res.to_dicts()[1] == {"run_id": "r1", "status": "waiting"}
        assert list(store.sql("select * from runs where false")) == []
    finally:
        store.close()
