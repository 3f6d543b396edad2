"""What only the DuckDB store does: reopening, batching, the file lock, crashes, schema versions."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aether_nb.errors import StorageError
from aether_nb.store import log as store_log
from aether_nb.store.duckdb import SCHEMA_VERSION, DuckDBStore
from aether_nb.store.query import ENGINE_CONFIG
from aether_nb.store.records import (
    ArtifactRecord,
    HistoryBatch,
    JournalEntry,
    MemoryRecord,
    NodeRecord,
    RunRecord,
    WaitRecord,
)
from aether_nb.store.rows import Rows
from tests.store.conftest import log_frames

WRITER = Path(__file__).with_name("_writer.py")
REPO = Path(__file__).resolve().parents[2]


# -- helpers -------------------------------------------------------------------------------------------------
def node(node_id: str, status: str = "running") -> NodeRecord:
    return NodeRecord(
        run_id="r1",
        node_id=node_id,
        name=node_id,
        kind="tool",
        status=status,
        parent=None,
        parents=(),
        inputs={"x": 1},
        outputs=None,
        error=None,
        started_at=1.0,
        ended_at=None,
    )


def raw_count(path: Path, table: str) -> int:
    """Rows of ``table`` in the file itself, not merged with the history log (a connection with the store's
    settings shares the store's open database)."""
    con = duckdb.connect(str(path), config=dict(ENGINE_CONFIG))
    try:
        row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
        assert row is not None
        return int(row[0])
    finally:
        con.close()


class Child:
    """``_writer.py`` in a subprocess, with its stdout read line by line under a timeout."""

    def __init__(self, path: Path, mode: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(WRITER), str(path), mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        assert self.proc.stdout is not None
        threading.Thread(target=self._pump, args=(self.proc.stdout,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def readline(self, timeout: float = 30.0) -> str:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no output from the child within {timeout} s") from None
        if line is None:
            self.proc.wait(timeout=5)
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise AssertionError(f"the child exited ({self.proc.returncode}) early: {err}")
        return line

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "t.duckdb"


@pytest.fixture
def child_factory() -> Iterator[list[Child]]:
    children: list[Child] = []
    yield children
    for c in children:
        c.stop()


# -- (1) reopening -------------------------------------------------------------------------------------------
def test_reopen_sees_everything(db: Path) -> None:
    run = RunRecord("r1", "g", "succeeded", {"x": 1}, "fp", 1.0, 2.0, outputs={"y": 2}, meta={"m": 1})
    journal = JournalEntry("r1", "k0", "step", "tool", "f", {"v": [1, 2]}, True, 1.0)
    wait = WaitRecord("t1", "r1", "n1", "ask_text", "name?", ["a", "b"], {"type": "string"}, 9.0, 1.0)
    memory = MemoryRecord("m1", "nb", "note", {"d": 1}, "hello", ("t1", "t2"), 1.0, role="user")
    small = ArtifactRecord("a1", "a.txt", "file", "text/plain", 3, "sha", {"l": 1}, 1.0)
    big_data = os.urandom(1024 * 1024 + 1)
    big = ArtifactRecord("a2", "b.bin", "file", "application/octet-stream", len(big_data), "sha2", {}, 2.0)

    store = DuckDBStore(db, apply_after_s=3600)
    store.put_run(run)
    store.append_journal(journal)
    store.put_wait(wait)
    store.put_node(node("n1"))
    store.append_events("r1", [{"type": "start"}, {"type": "end"}])
    store.kv_set("s", "k", {"v": True}, 5.0)
    store.memory_append(memory)
    store.artifact_put(small, b"abc")
    store.artifact_put(big, big_data)
    store.put_node(node("n2", status="succeeded"))
    assert raw_count(db, "nodes") == 0 and log_frames(db) > 0  # in the log, not yet in the tables
    store.close()  # applies the log
    assert log_frames(db) == 0 and raw_count(db, "nodes") == 2

    again = DuckDBStore(db)
    try:
        assert again.get_run("r1") == run
        assert again.load_journal("r1") == [journal]
        assert again.get_wait("t1") == wait
        assert [(n.node_id, n.status) for n in again.list_nodes("r1")] == [
            ("n1", "running"),
            ("n2", "succeeded"),
        ]
        assert again.load_events("r1") == [{"type": "start"}, {"type": "end"}]
        assert again.kv_get("s", "k") == ({"v": True}, 5.0)
        assert again.memory_query("nb") == [memory]
        assert again.artifact_get("a1") == (small, b"abc")
        assert again.artifact_get("a2") == (big, big_data)
        # Order values continue after the reopen: new rows sort after the old ones.
        again.put_node(node("n3"))
        again.put_node(node("n1", status="succeeded"))
        assert [n.node_id for n in again.list_nodes("r1")] == ["n1", "n2", "n3"]
        again.append_journal(JournalEntry("r1", "k1", "step", "tool", "f", None, True, 0.5))
        assert [e.key for e in again.load_journal("r1")] == ["k0", "k1"]
    finally:
        again.close()


def test_history_batches_update_rows_an_earlier_process_wrote(db: Path) -> None:
    # A batch inserts rows it has not seen and updates known ones; after a reopen the keys come from the file.
    run = RunRecord("r1", "g", "waiting", {"x": 1}, "fp", 1.0, 2.0)
    wait = WaitRecord("t1", "r1", "n1", "ask_text", "name?", None, None, None, 1.0)
    with DuckDBStore(db) as store:
        store.write_history(HistoryBatch(runs=[run], waits=[wait], nodes=[node("n1", "WAITING_HUMAN")]))
    with DuckDBStore(db) as store:
        store.write_history(
            HistoryBatch(
                runs=[RunRecord("r1", "g", "succeeded", {"x": 1}, "fp", 1.0, 3.0, outputs={"y": 2})],
                waits=[WaitRecord("t1", "r1", "n1", "ask_text", "name?", None, None, None, 1.0, "answered", "Ada")],
                nodes=[node("n1", "DONE"), node("n2", "DONE")],
            )
        )
        store.put_node(node("n3"))  # a single write the next batch must know about
        store.write_history(HistoryBatch(nodes=[node("n3", "DONE")]))
        got = store.get_run("r1")
        assert got is not None and (got.status, got.outputs) == ("succeeded", {"y": 2})
        assert (store.get_wait("t1") or wait).answer == "Ada"
        assert [(n.node_id, n.status) for n in store.list_nodes("r1")] == [
            ("n1", "DONE"),
            ("n2", "DONE"),
            ("n3", "DONE"),
        ]


def test_nodes_of_many_stored_runs_are_updated_and_their_ids_read_in_one_statement(db: Path) -> None:
    # A resume of many runs applies nodes of runs the file holds (update the known ones, insert the new): their
    # node ids are read for all the runs at once, not a statement per run (~0.7 ms each, a thousand in a resume).
    runs = [f"r{i}" for i in range(5)]

    def nodes_of(run_id: str, *pairs: tuple[str, str]) -> list[NodeRecord]:
        return [NodeRecord(run_id, n, n, "tool", st, None, (), {}, None, None, 1.0, 2.0) for n, st in pairs]

    with DuckDBStore(db) as store:
        records = [RunRecord(r, "g", "waiting", {}, "fp", 1.0, 1.0) for r in runs]
        store.write_history(HistoryBatch(runs=records, nodes=[n for r in runs for n in nodes_of(r, ("a", "WAITING"))]))
    with DuckDBStore(db) as store:
        store.write_history(HistoryBatch(nodes=[n for r in runs for n in nodes_of(r, ("a", "DONE"), ("b", "DONE"))]))
        store.sql("SELECT 1")  # (applies the log)
        for r in runs:
            assert [(n.node_id, n.status) for n in store.list_nodes(r)] == [("a", "DONE"), ("b", "DONE")]
    assert raw_count(db, "nodes") == 2 * len(runs)

    class Recording:
        def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
            self.con = con
            self.statements: list[str] = []

        def execute(self, sql: str, params: object = None) -> duckdb.DuckDBPyConnection:
            self.statements.append(sql)
            return self.con.execute(sql, params)

    state = store_log.FileState(0, 1.0)
    con = duckdb.connect(str(db), config=dict(ENGINE_CONFIG))
    try:
        rec = Recording(con)
        keys = [(r, n) for r in [*runs, "unknown"] for n in ("a", "b", "c")]
        known = state.known_nodes(keys, rec)  # type: ignore[arg-type]
        assert known == [r != "unknown" and n != "c" for r, n in keys]
        assert sum("FROM nodes" in sql for sql in rec.statements) == 1
        rec.statements.clear()
        assert state.known_nodes(keys, rec) == known  # type: ignore[arg-type]
        assert rec.statements == []  # read once per run

        class Failing(Recording):
            def execute(self, sql: str, params: object = None) -> duckdb.DuckDBPyConnection:
                if "FROM nodes" in sql:
                    raise duckdb.IOException("disk went away")
                return super().execute(sql, params)

        fresh = store_log.FileState(0, 1.0)
        with pytest.raises(duckdb.IOException):
            fresh.known_nodes(keys, Failing(con))  # type: ignore[arg-type]
        # a read that failed is not taken for "no nodes" (the next apply would insert them twice)
        assert fresh.known_nodes(keys, Recording(con)) == known  # type: ignore[arg-type]
    finally:
        con.close()


def test_read_only_reads_but_refuses_writes(db: Path) -> None:
    with DuckDBStore(db) as store:
        store.kv_set("s", "k", 1, None)
    ro = DuckDBStore(db, read_only=True)
    try:
        assert ro.kv_get("s", "k") == (1, None)
        with pytest.raises(StorageError) as info:
            ro.kv_set("s", "k", 2, None)
        assert info.value.code == "read_only"
        with pytest.raises(StorageError):
            ro.put_node(node("n"))
        ro.flush()
    finally:
        ro.close()


# -- (2) the history log ------------------------------------------------------------------------------------
def test_a_write_is_one_log_frame_and_reads_merge_it(db: Path) -> None:
    store = DuckDBStore(db, apply_after_s=3600)
    try:
        store.put_run(RunRecord("r1", "g", "running", {}, "fp", 1.0, 1.0))
        store.write_history(
            HistoryBatch(
                runs=[RunRecord("r1", "g", "waiting", {}, "fp", 1.0, 2.0)],
                nodes=[node("a"), node("b")],
                journal=[JournalEntry("r1", "a", "a", "tool", "f", 1, True, 1.0)],
                events=[("r1", {"i": 0}), ("r1", {"i": 1})],
            )
        )
        store.put_node(node("a", status="succeeded"))
        assert log_frames(db) == 3  # three writes, three frames of the log: one synced append each
        assert [raw_count(db, t) for t in ("runs", "nodes", "journal", "events")] == [0, 0, 0, 0]
        got = store.get_run("r1")
        assert got is not None and got.status == "waiting"
        assert [(n.node_id, n.status) for n in store.list_nodes("r1")] == [("a", "succeeded"), ("b", "running")]
        assert [e.key for e in store.load_journal("r1")] == ["a"]
        assert store.load_events("r1") == [{"i": 0}, {"i": 1}]
        store.sql("select 1")  # a read of whole tables applies the log first
        assert log_frames(db) == 0
        assert [raw_count(db, t) for t in ("runs", "nodes", "journal", "events")] == [1, 2, 1, 2]
        # after the apply, new writes merge with what the tables hold: an update keeps the node's place
        store.put_node(node("a", status="failed"))
        store.put_node(node("c"))
        assert [(n.node_id, n.status) for n in store.list_nodes("r1")] == [
            ("a", "failed"),
            ("b", "running"),
            ("c", "running"),
        ]
    finally:
        store.close()


def test_the_log_is_applied_when_the_store_is_idle(db: Path) -> None:
    store = DuckDBStore(db, apply_after_s=0.05)
    try:
        store.append_events("r1", [{"i": 0}])
        deadline = time.monotonic() + 10
        while raw_count(db, "events") == 0:
            assert time.monotonic() < deadline, "the idle timer never applied the log"
            time.sleep(0.02)
        assert log_frames(db) == 0
        assert store.load_events("r1") == [{"i": 0}]
    finally:
        store.close()


def _eventually(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_a_long_log_is_applied_in_the_background_once_the_writer_pauses(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_log, "APPLY_ROWS", 200)
    store = DuckDBStore(db, apply_after_s=3600)  # never idle long enough: only the size starts the applier
    try:
        for i in range(40):  # 40 writes of 10 rows: the applier starts past 200, once the writes pause
            store.append_events("r1", [{"i": i * 10 + j} for j in range(10)])
        _eventually(lambda: raw_count(db, "events") >= 200, "the applier never applied the log")
        assert store.load_events("r1") == [{"i": i} for i in range(400)]  # tables + log: each row once, in order
        store.sql("select 1")
        assert raw_count(db, "events") == 400 and log_frames(db) == 0
    finally:
        store.close()


def test_a_writer_that_never_pauses_applies_the_log_itself(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Beside a thread that keeps running Python the background apply gets the GIL in slices and costs that thread
    more than an inline apply: while the writer does not pause, a long log waits for it (at PENDING_MAX)."""
    from aether_nb.store import duckdb as store_duckdb

    monkeypatch.setattr(store_duckdb, "PENDING_MAX", 50)
    monkeypatch.setattr(store_log, "APPLY_ROWS", 20)
    monkeypatch.setattr(store_log, "APPLY_PAUSE_S", 3600.0)  # no pause between these writes is long enough
    store = DuckDBStore(db, apply_after_s=3600)
    try:
        for i in range(5):
            store.append_events("r1", [{"i": i * 10 + j} for j in range(10)])
        assert raw_count(db, "events") == 0 and log_frames(db) == 5  # 50 rows pending, none applied meanwhile
        store.append_events("r1", [{"i": 50 + j} for j in range(10)])
        assert raw_count(db, "events") == 50  # the 6th write found 50 pending and applied them first
        assert store.load_events("r1") == [{"i": i} for i in range(60)]
    finally:
        store.close()


def test_when_the_applier_is_due() -> None:
    """Idle for ``apply_after_s``: any log; a long log (rows or batches): after a short pause of the writer."""
    state = store_log.FileState(0, 1.0)
    assert state.apply_due(100.0) is None  # nothing pending
    state.pending.add(_rows(store_log.APPLY_ROWS - 1), 1)
    state.last_write = 100.0
    assert state.apply_due(100.0) == pytest.approx(1.0)
    assert state.apply_due(101.5) == 0.0
    state.pending.add(_rows(1), 2)
    assert state.apply_due(100.0) == pytest.approx(store_log.APPLY_PAUSE_S)
    assert state.apply_due(100.0 + store_log.APPLY_PAUSE_S) == 0.0
    state.apply_after_s = 0.01  # a store idle-applying sooner than the pause keeps its own delay
    assert state.apply_due(100.0) == pytest.approx(0.01)
    batches = store_log.FileState(0, 1.0)
    for seq in range(store_log.APPLY_BATCHES):
        batches.pending.add(_rows(1), seq)
    batches.last_write = 100.0
    assert batches.apply_due(100.0) == pytest.approx(store_log.APPLY_PAUSE_S)


def _rows(n: int) -> Rows:
    return Rows(events=[("r1", i, "{}") for i in range(n)])


def test_many_batches_are_applied_in_the_background(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_log, "APPLY_BATCHES", 5)
    store = DuckDBStore(db, apply_after_s=3600)
    try:
        for i in range(5):
            store.append_events("r1", [{"i": i}])
        _eventually(lambda: log_frames(db) == 0, "five batches were not applied")
        assert raw_count(db, "events") == 5 and store.load_events("r1") == [{"i": i} for i in range(5)]
    finally:
        store.close()


def test_a_writer_far_ahead_of_the_applier_applies_first(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aether_nb.store import duckdb as store_duckdb

    monkeypatch.setattr(store_duckdb, "PENDING_MAX", 30)
    monkeypatch.setattr(store_log, "APPLY_ROWS", 10**9)  # the background applier never starts on size
    store = DuckDBStore(db, apply_after_s=3600)
    try:
        for i in range(4):
            store.append_events("r1", [{"i": i * 10 + j} for j in range(10)])
        assert raw_count(db, "events") == 30  # the 4th write found 30 rows pending and applied them first
        assert store.load_events("r1") == [{"i": i} for i in range(40)]
    finally:
        store.close()


def test_a_writer_far_ahead_of_an_apply_in_flight_waits_for_it_and_leaves_the_rest_to_it(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the loop runs Python, the background apply waits for the GIL at every step; a writer that finds too
    many rows pending waits for it (it then ends fast) rather than applying the newer rows itself too."""
    from aether_nb.store import apply as store_apply
    from aether_nb.store import duckdb as store_duckdb

    monkeypatch.setattr(store_duckdb, "PENDING_MAX", 30)
    monkeypatch.setattr(store_log, "APPLY_ROWS", 20)
    started, first, later = threading.Event(), threading.Event(), threading.Event()
    real_execute = store_apply.execute

    def gated(con: duckdb.DuckDBPyConnection, statement: store_apply.Statement) -> None:
        # each background apply (one events statement each here) waits at its gate, its rows frozen
        if threading.current_thread().name == "aether-duckdb-apply" and statement[0].startswith("INSERT INTO events"):
            gate = later if started.is_set() else first
            started.set()
            assert gate.wait(timeout=30), "the test never opened the gate"
        real_execute(con, statement)

    monkeypatch.setattr(store_apply, "execute", gated)
    store = DuckDBStore(db, apply_after_s=3600)
    try:
        for i in range(2):  # 20 rows: the applier freezes them and stops at the gate
            store.append_events("r1", [{"i": i * 10 + j} for j in range(10)])
        assert started.wait(timeout=30), "the background applier never started"
        store.append_events("r1", [{"i": 20 + j} for j in range(10)])  # 30 pending now
        writer = threading.Thread(target=store.append_events, args=("r1", [{"i": 30 + j} for j in range(10)]))
        writer.start()  # finds 30 pending: waits for the apply in flight
        first.set()
        writer.join(timeout=30)
        assert not writer.is_alive()
        # the applier's 20 rows are in the table; the 10 written meanwhile were left to it (its next apply is held
        # at the gate), not applied by the writer
        assert raw_count(db, "events") == 20
        assert store.load_events("r1") == [{"i": i} for i in range(40)]
        later.set()
        store.sql("select 1")
        assert raw_count(db, "events") == 40 and store.load_events("r1") == [{"i": i} for i in range(40)]
    finally:
        first.set()
        later.set()
        store.close()


def test_atexit_applies_the_log_of_an_unclosed_store(db: Path, child_factory: list[Child]) -> None:
    child = Child(db, "unclosed")
    child_factory.append(child)
    assert child.readline() == "written"
    assert child.proc.wait(timeout=30) == 0
    assert log_frames(db) == 0 and raw_count(db, "nodes") == 3
    with DuckDBStore(db) as store:
        assert [n.node_id for n in store.list_nodes("r")] == ["n0", "n1", "n2"]
        assert store.load_events("r") == [{"i": 0}, {"i": 1}, {"i": 2}]


def test_concurrent_threads(db: Path) -> None:
    store = DuckDBStore(db, apply_after_s=0.01)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(50):
                store.append_events(f"r{t}", [{"i": i}])
                store.put_node(node(f"t{t}-{i}"))
                if i % 10 == 0:
                    store.kv_set("s", f"{t}-{i}", i, None)
                    store.list_nodes("r1")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    try:
        assert not errors
        for t in range(4):
            assert store.load_events(f"r{t}") == [{"i": i} for i in range(50)]
        assert len(store.list_nodes("r1")) == 200
        assert len(store.kv_keys("s")) == 20
    finally:
        store.close()


# -- (3) two processes ---------------------------------------------------------------------------------------
def test_second_process_gets_a_clear_locked_error(db: Path, child_factory: list[Child]) -> None:
    DuckDBStore(db).close()  # create the file first, so the child opens quickly
    child = Child(db, "hold")
    child_factory.append(child)
    assert child.readline() == "ready"

    for read_only in (False, True):
        start = time.monotonic()
        with pytest.raises(StorageError) as info:
            DuckDBStore(db, read_only=read_only)
        elapsed = time.monotonic() - start
        assert elapsed < 2.0, f"opening a locked file took {elapsed:.2f} s"
        err = info.value
        assert err.code == "locked"
        assert f"PID {child.proc.pid}" in err.message
        assert str(db) in err.message and "read-only" in err.message

    assert child.proc.stdin is not None
    child.proc.stdin.close()  # the child closes its store and exits
    assert child.proc.wait(timeout=30) == 0
    with DuckDBStore(db) as store:
        assert store.list_runs() == []


def test_a_process_only_reading_the_file_is_not_said_to_write_it(db: Path, child_factory: list[Child]) -> None:
    DuckDBStore(db).close()
    child = Child(db, "read")
    child_factory.append(child)
    assert child.readline() == "ready"
    with pytest.raises(StorageError) as info:
        DuckDBStore(db)
    assert info.value.code == "locked" and f"PID {child.proc.pid}" in info.value.message
    # (it said the reader "has it open for writing" and to close the store "in the other kernel")
    assert "open for writing" not in info.value.message and "only reading it" in info.value.message
    assert child.proc.stdin is not None
    child.proc.stdin.close()
    assert child.proc.wait(timeout=30) == 0


# -- (4) a writer killed mid-stream --------------------------------------------------------------------------
def test_sigkill_mid_stream_loses_no_durable_entry(db: Path, child_factory: list[Child]) -> None:
    child = Child(db, "journal")
    child_factory.append(child)
    assert child.readline() == "ready"
    printed = [child.readline() for _ in range(200)]
    child.proc.send_signal(signal.SIGKILL)
    assert child.proc.wait(timeout=30) == -signal.SIGKILL

    with DuckDBStore(db) as store:
        keys = [e.key for e in store.load_journal("r")]
        # Every key the child saw acknowledged is there, in order, and nothing else is garbled.
        assert keys[: len(printed)] == printed
        assert keys == [f"k{i}" for i in range(len(keys))]
        assert all(e.value == {"i": i, "pad": "x" * 100} for i, e in enumerate(store.load_journal("r")))
        store.append_journal(JournalEntry("r", "after", "step", "tool", "f", None, True, 0.0))
    with DuckDBStore(db) as store:
        assert store.load_journal("r")[-1].key == "after"


# -- (5) schema versions -------------------------------------------------------------------------------------
def test_newer_schema_version_is_refused(db: Path) -> None:
    DuckDBStore(db).close()
    con = duckdb.connect(str(db), config=dict(ENGINE_CONFIG))
    con.execute("INSERT INTO schema_version VALUES (?, 0)", [SCHEMA_VERSION + 1])
    con.close()
    with pytest.raises(StorageError) as info:
        DuckDBStore(db)
    assert info.value.code == "schema_too_new"
    assert "Upgrade aether_nb" in info.value.message
    with pytest.raises(StorageError):
        DuckDBStore(db, read_only=True)


def test_schema_is_recorded_once(db: Path) -> None:
    DuckDBStore(db).close()
    DuckDBStore(db).close()
    con = duckdb.connect(str(db), config=dict(ENGINE_CONFIG))
    try:
        versions = con.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
        assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
        columns = dict(
            con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'memory'").fetchall()
        )
        assert columns["embedding"] == "FLOAT[]"
    finally:
        con.close()


def test_open_errors_name_the_path(tmp_path: Path) -> None:
    junk = tmp_path / "junk.duckdb"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError) as info:
        DuckDBStore(junk)
    assert str(junk) in info.value.message and info.value.code == "open_failed"

    missing = tmp_path / "no" / "such" / "dir.duckdb"
    with pytest.raises(StorageError) as info:
        DuckDBStore(missing)
    assert str(missing) in info.value.message


def test_location_and_repr(db: Path) -> None:
    store = DuckDBStore(db)
    assert store.location == str(db)
    assert "open" in repr(store)
    store.close()
    assert "closed" in repr(store)


def test_two_stores_in_one_process_share_the_file(db: Path) -> None:
    a = DuckDBStore(db)
    b = DuckDBStore(db)
    try:
        for i in range(6):
            (a if i % 2 else b).append_journal(JournalEntry("r", f"k{i}", "s", "tool", "f", i, True, 0.0))
        assert [e.key for e in a.load_journal("r")] == [f"k{i}" for i in range(6)]
        with pytest.raises(StorageError) as info:
            DuckDBStore(db, read_only=True)
        assert info.value.code == "open_failed" and "already has it open" in info.value.message
    finally:
        a.close()
        b.close()


def test_user_sql_is_read_only(tmp_path: Path) -> None:
    from aether_nb.errors import UsageError
    from aether_nb.store.records import RunRecord

    s = DuckDBStore(tmp_path / "q.duckdb")
    try:
        for i, status in enumerate(["succeeded", "failed", "succeeded"]):
            s.put_run(RunRecord(f"r{i}", "demo", status, {}, "fp", float(i), float(i)))  # type: ignore[arg-type]
        res = s.sql("select status, count(*) as n from runs group by status order by status")
        assert res.columns == ["status", "n"] and res.rows == [("failed", 1), ("succeeded", 2)]
        assert res.to_dicts()[1] == {"status": "succeeded", "n": 2}
        assert "succeeded" in repr(res) and "<table>" in res._repr_html_()
        for bad in ("delete from runs", "drop table journal", "update waits set status = 'open'"):
            with pytest.raises(UsageError, match="read-only"):
                s.sql(bad)
        with pytest.raises(UsageError, match="one statement"):
            s.sql("select 1; select 2")
        assert len(s.sql("select * from runs")) == 3
    finally:
        s.close()


ARTIFACT_WRITER = """
import asyncio, sys
import aether_nb as ag
ag.configure(store=sys.argv[1])

@ag.graph_fn(outputs=["uris"])
async def save(*, context):
    arts = context.artifacts()
    t = await arts.save_text("hello from process one", name="note.txt", labels={"stage": "draft"})
    b = await arts.save_bytes(bytes(range(256)) * 8192, name="big.bin")   # 2 MiB: stored beside the file
    return {"uris": [t.uri, b.uri]}

print(" ".join(asyncio.run(save())["uris"]))
"""


def test_artifacts_round_trip_across_processes(tmp_path: Path) -> None:
    import subprocess
    import sys

    import aether_nb as ag
    from aether_nb.runtime import session as session_mod
    from tests.conftest import arun, make_session

    db = tmp_path / "arts.aether.duckdb"
    script = tmp_path / "writer.py"
    script.write_text(ARTIFACT_WRITER)
    res = subprocess.run([sys.executable, str(script), str(db)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    text_uri, big_uri = res.stdout.split()

    store = DuckDBStore(db)
    s, _ = make_session(store)
    previous = session_mod.set_default_session(s)

    @ag.graph_fn
    async def load(*, context: ag.NodeContext) -> dict[str, object]:
        arts = context.artifacts()
        listed = await arts.list(labels={"stage": "draft"})
        return {
            "text": await arts.load_text(text_uri),
            "big": await arts.load_bytes(big_uri),
            "listed": [a.name for a in listed],
        }

    try:
        out = arun(load())
    finally:
        session_mod.set_default_session(previous)
        store.close()
    assert out == {"text": "hello from process one", "big": bytes(range(256)) * 8192, "listed": ["note.txt"]}


KV_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.sampled_from(["a", "b", "c", "d"]), st.integers(0, 9)),
        st.tuples(st.just("delete"), st.sampled_from(["a", "b", "c", "d"]), st.just(0)),
        st.tuples(st.just("apply"), st.just(""), st.just(0)),
    ),
    max_size=25,
)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=KV_OPS)
def test_kv_writes_batched_and_applied_in_any_order_read_back_as_written(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, str, int]]
) -> None:
    """KV sets and deletes travel in history batches; the apply deletes only keys the table may hold (a new key is
    inserted without a scan). Whatever the interleaving with applies, reads and a reopen give the last write."""
    path = tmp_path_factory.mktemp("kv") / "kv.duckdb"
    store = DuckDBStore(path)
    model: dict[str, int] = {}
    try:
        for op, key, value in ops:
            if op == "set":
                store.write_history(HistoryBatch(kv=[("s", key, {"v": value}, None, False)]))
                model[key] = value
            elif op == "delete":
                store.write_history(HistoryBatch(kv=[("s", key, None, None, True)]))
                model.pop(key, None)
            else:
                store.sql("SELECT 1")  # a whole-table read applies the log first
            assert {k: v[0]["v"] for k in "abcd" if (v := store.kv_get("s", k)) is not None} == model
    finally:
        store.close()
    again = DuckDBStore(path)
    try:
        assert {k: v[0]["v"] for k in "abcd" if (v := again.kv_get("s", k)) is not None} == model
        assert sorted(k for k, _ in again.kv_keys("s")) == sorted(model)
        rows = again.sql('SELECT "key", count(*) FROM kv GROUP BY "key" HAVING count(*) > 1').rows
        assert rows == []  # never two rows for one key
    finally:
        again.close()


def test_a_big_artifact_reads_back_after_the_notebook_changes_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "work").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    data = os.urandom(1024 * 1024 + 1)  # over the inline limit: its bytes live in <file>.artifacts/
    record = ArtifactRecord("big", "b.bin", "file", "application/octet-stream", len(data), "sha", {}, 1.0)
    with DuckDBStore("s.duckdb") as store:  # a relative path, as a user may write it
        store.artifact_put(record, data)
        monkeypatch.chdir(tmp_path / "elsewhere")  # os.chdir in a later cell
        found = store.artifact_get("big")
        assert found is not None and found[1] == data


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("data.csv", b"a,b\n1,2\n"),
        ("data.json", b'{"a": 1}'),
        ("notes.txt", b"hello"),
        ("empty.duckdb", b""),
        ("short.duckdb", b"DUCK"),
    ],
)
def test_an_existing_file_that_is_not_a_duckdb_database_is_refused_untouched(
    tmp_path: Path, name: str, content: bytes
) -> None:
    """``ag.configure(store="data.csv")`` on an existing CSV was accepted: runs seemed stored and nothing was kept.
    Every existing file without DuckDB's header is refused before DuckDB opens it, and left as it was."""
    path = tmp_path / name
    path.write_bytes(content)
    for read_only in (False, True):
        with pytest.raises(StorageError) as caught:
            DuckDBStore(path, read_only=read_only)
        assert caught.value.code == "open_failed" and "not a valid DuckDB database file" in str(caught.value)
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
