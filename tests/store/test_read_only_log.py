"""A read-only store on the file of a killed process: ``sql()`` and ``memory_search()`` see the history its log
holds, as the typed reads do.

The killed process's history log holds rows not applied to the tables yet; a read-only open cannot apply them. Its
typed reads merged them, but ``sql()`` and ``memory_search()`` read the bare tables: ``sql("select * from runs")``
showed a finished run as running and missed the runs only the log held, silently.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from aether_nb.store.duckdb import DuckDBStore
from aether_nb.store.records import RunRecord
from tests.store.conftest import log_frames

REPO = Path(__file__).resolve().parents[2]

KILLED_WITH_A_LOG = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, sys.argv[2])
    from aether_nb.store.duckdb import DuckDBStore
    from aether_nb.store.records import (
        HistoryBatch, JournalEntry, MemoryRecord, NodeRecord, RunRecord, WaitRecord,
    )
    store = DuckDBStore(sys.argv[1], apply_after_s=3600)
    store.put_run(RunRecord("old", "g", "running", {}, "fp", 1.0, 1.0))
    store.put_node(NodeRecord("old", "n1", "n1", "tool", "running", None, (), None, None, None, 1.0, None))
    store.append_events("old", [{"i": 0}])
    store.append_journal(JournalEntry("old", "k0", "step", "tool", "f", {"i": 0}, True, 1.0))
    store.kv_set("s", "gone", 1, None)
    store.kv_set("s", "kept", 1, None)
    store.memory_append(MemoryRecord("m0", "mem", "note", {}, "applied", (), 1.0, embedding=(0.0, 1.0)))
    store.sql("select 1")  # all of the above applied to the tables
    batch = HistoryBatch(
        runs=[
            RunRecord("old", "g", "succeeded", {}, "fp", 1.0, 2.0, outputs={"y": 1}),
            RunRecord("new", "g", "waiting", {}, "fp", 3.0, 3.0),
        ],
        nodes=[
            NodeRecord("old", "n1", "n1", "tool", "succeeded", None, (), None, {"y": 1}, None, 1.0, 2.0),
            NodeRecord("new", "n2", "n2", "tool", "running", None, (), None, None, None, 3.0, None),
        ],
        waits=[WaitRecord("t1", "new", "n2", "text", "Name?", None, None, None, 3.0)],
        journal=[JournalEntry("old", "k1", "step", "tool", "f", {"i": 1}, True, 2.0)],
        events=[("old", {"i": 1}), ("new", {"i": 0})],
        memory=[MemoryRecord("m1", "mem", "note", {}, "logged", (), 3.0, embedding=(1.0, 0.0))],
        kv=[("s", "gone", None, None, True), ("s", "kept", 2, None, False), ("s", "added", 3, None, False)],
    )
    assert store.write_history(batch, durable=False) == []  # as the runtime's "async" history: not synced
    print("written", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # before any apply: those rows are only in the log
    """
)


@pytest.fixture
def killed(tmp_path: Path) -> Path:
    """A store file whose writer was SIGKILLed with history in its log that the tables lack."""
    script = tmp_path / "die.py"
    script.write_text(KILLED_WITH_A_LOG)
    db = tmp_path / "s.duckdb"
    res = subprocess.run([sys.executable, str(script), str(db), str(REPO)], capture_output=True, text=True, timeout=120)
    assert res.returncode == -signal.SIGKILL, res.stderr
    assert res.stdout.strip() == "written"
    assert log_frames(db) == 1  # the batch is in the log, not in the tables
    return db


def test_sql_on_a_read_only_store_sees_the_log_of_a_killed_process(killed: Path) -> None:
    with DuckDBStore(killed, read_only=True) as ro:
        typed = [(r.run_id, r.status) for r in ro.list_runs()]
        assert sorted(typed) == [("new", "waiting"), ("old", "succeeded")]
        assert ro.sql("select run_id, status from runs order by ord").rows == [("old", "succeeded"), ("new", "waiting")]
        assert ro.sql("select outputs from runs where run_id = 'old'").rows == [('{"y":1}',)]
        assert ro.sql("select run_id, node_id, status from nodes order by seq").rows == [
            ("old", "n1", "succeeded"),
            ("new", "n2", "running"),
        ]
        assert ro.sql("select token, status from waits").rows == [("t1", "open")]
        assert ro.sql("select \"key\" from journal where run_id = 'old' order by seq").rows == [("k0",), ("k1",)]
        assert [e.key for e in ro.load_journal("old")] == ["k0", "k1"]
        assert ro.sql("select run_id, data from events order by seq").rows == [
            ("old", '{"i":0}'),
            ("old", '{"i":1}'),
            ("new", '{"i":0}'),
        ]
        assert ro.sql('select "key", value from kv order by "key"').rows == [("added", "3"), ("kept", "2")]
        assert ro.sql("select id from memory order by seq").rows == [("m0",), ("m1",)]
        # main.<table> is the same whole table; a statement still changes nothing, and nothing outlives it
        assert ro.sql("select count(*) from main.runs").rows == [(2,)]
        assert ro.sql("select count(*) from runs").rows == [(2,)]
        assert ro.get_run("new") == RunRecord("new", "g", "waiting", {}, "fp", 3.0, 3.0)
    assert log_frames(killed) == 1  # the read-only store applied nothing


def test_memory_search_on_a_read_only_store_sees_the_log_of_a_killed_process(killed: Path) -> None:
    with DuckDBStore(killed, read_only=True) as ro:
        assert [m.id for m in ro.memory_query("mem")] == ["m1", "m0"]
        found = ro.memory_search("mem", [1.0, 0.0])
        assert [(m.id, round(score, 6)) for m, score in found] == [("m1", 1.0), ("m0", 0.0)]
    with DuckDBStore(killed) as rw:  # the same answers once the log is applied
        assert [(m.id, round(s, 6)) for m, s in rw.memory_search("mem", [1.0, 0.0])] == [("m1", 1.0), ("m0", 0.0)]
        assert rw.sql("select run_id, status from runs order by ord").rows == [("old", "succeeded"), ("new", "waiting")]
