"""``sql()`` on a full disk: the query reads the whole history and writes nothing.

A writable DuckDB store applies its history log before a query, and the runtime writes the history it holds in
memory first; on a full disk both fail, and the query failed with them. Now it reads the tables with the log's
rows and the unwritten history (``unwritten=``) laid over them, for that query only. Here the apply fails by
fault injection (``apply_generation`` raises DuckDB's "No space left on device").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from aether_nb.store import log as store_log
from aether_nb.store.duckdb import DuckDBStore
from aether_nb.store.records import HistoryBatch, JournalEntry, MemoryRecord, RejectedRecord, RunRecord
from tests.store.conftest import log_frames


def _run(status: str, at: float) -> RunRecord:
    return RunRecord("r1", "g", status, {}, "fp", 1.0, at)


def test_sql_on_a_full_disk_reads_the_log_and_the_unwritten_history_laid_over_the_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = DuckDBStore(tmp_path / "s.duckdb", apply_after_s=3600)
    try:
        store.write_history(HistoryBatch(runs=[_run("running", 1.0)], events=[("r1", {"i": 0})]))  # (in the log)

        def full(*args: Any, **kwargs: Any) -> list[RejectedRecord]:
            raise duckdb.IOException("No space left on device")

        monkeypatch.setattr(store_log, "apply_generation", full)
        assert store.sql("select status from runs").rows == [("running",)]  # the log's rows, unapplied
        unwritten = HistoryBatch(
            runs=[_run("succeeded", 2.0)],
            events=[("r1", {"i": 1})],
            journal=[JournalEntry("r1", "inc_1", "inc", "tool", "fp", {"y": 1}, True, 2.0)],
            memory=[MemoryRecord("m1", "notebook", "note", {"t": 1}, "t", (), 2.0)],
            kv=[("notebook", "k", 1, None, False)],
        )
        whole = "select (select status from runs), (select count(*) from events), (select count(*) from journal), "
        whole += "(select count(*) from memory), (select count(*) from kv)"
        assert store.sql(whole, unwritten=unwritten).rows == [("succeeded", 2, 1, 1, 1)]
        assert store.sql(whole).rows == [("running", 1, 0, 0, 0)]  # laid over for that query only: nothing written
        monkeypatch.undo()  # space is back
        assert store.sql(whole).rows == [("running", 1, 0, 0, 0)]  # applied now
        assert log_frames(tmp_path / "s.duckdb") == 0
    finally:
        store.close()


def test_memory_search_on_a_full_disk_searches_the_log_laid_over_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = DuckDBStore(tmp_path / "s.duckdb", apply_after_s=3600)
    try:
        note = MemoryRecord("m1", "notebook", "note", {"t": 1}, "t", (), 1.0, embedding=(1.0, 0.0))
        store.memory_append(note)  # (in the log)

        def full(*args: Any, **kwargs: Any) -> list[RejectedRecord]:
            raise duckdb.IOException("No space left on device")

        monkeypatch.setattr(store_log, "apply_generation", full)
        assert [(m.id, s) for m, s in store.memory_search("notebook", [1.0, 0.0])] == [("m1", 1.0)]
        monkeypatch.undo()
        assert [m.id for m, _ in store.memory_search("notebook", [1.0, 0.0])] == ["m1"]
        assert log_frames(tmp_path / "s.duckdb") == 0  # applied once it could be
    finally:
        store.close()
