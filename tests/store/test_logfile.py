"""The history log's segment files (``aether_nb.store.logfile``): what a crash, a torn write, a corrupt frame or a
stale folder leave behind is read back exactly once, or kept aside and reported, never applied twice or lost.

A "crash" here is a copy of the database and its log taken while the store is open and idle (no apply in flight:
``apply_after_s`` is long), opened as a new file: what a killed process leaves, without a process (the SIGKILL
tests with real processes are ``tests/runtime/test_history_crash.py`` and ``test_duckdb.py``).
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aether_nb.errors import StorageError
from aether_nb.store import logfile
from aether_nb.store.duckdb import DuckDBStore
from aether_nb.store.logfile import FOLDER_SUFFIX, read_log
from aether_nb.store.records import HistoryBatch
from tests.store.conftest import log_frames


def crash_copy(db: Path, to: Path) -> Path:
    """The database file, DuckDB's WAL and the history log as a killed process would leave them, under ``to``."""
    to.mkdir(parents=True, exist_ok=True)
    target = to / db.name
    for suffix in ("", ".wal"):
        if Path(str(db) + suffix).exists():
            shutil.copyfile(str(db) + suffix, str(target) + suffix)
    folder = Path(str(db) + FOLDER_SUFFIX)
    if folder.exists():
        shutil.copytree(folder, str(target) + FOLDER_SUFFIX)
    return target


def segments(db: Path) -> list[Path]:
    folder = Path(str(db) + FOLDER_SUFFIX)
    return sorted(folder.iterdir()) if folder.exists() else []


def crashed_after(tmp_path: Path, events: list[dict[str, Any]]) -> tuple[Path, Path]:
    """A store that wrote ``events`` to run ``r1``, one batch each, then "crashed": the copy and its one segment."""
    db = tmp_path / "s.duckdb"
    with DuckDBStore(db, apply_after_s=3600) as store:
        for event in events:
            store.append_events("r1", [event])
        copy = crash_copy(db, tmp_path / "crash")
    [seg] = segments(copy)
    return copy, seg


def test_a_write_is_a_frame_in_a_segment_and_a_closed_store_leaves_none(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    store = DuckDBStore(db, apply_after_s=3600)
    store.append_events("r1", [{"i": 0}])
    store.append_events("r1", [{"i": 1}])
    assert log_frames(db) == 2 and [p.suffix for p in segments(db)] == [".seg"]
    store.close()  # applies everything: at rest the database file is whole
    assert not Path(str(db) + FOLDER_SUFFIX).exists()
    with DuckDBStore(db) as again:
        assert again.load_events("r1") == [{"i": 0}, {"i": 1}]


def test_a_crash_copy_is_recovered_and_its_segments_removed(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    with DuckDBStore(db, apply_after_s=3600) as store:
        store.append_events("r1", [{"i": 0}])
        store.sql("select 1")  # applied: a new segment for what follows
        store.append_events("r1", [{"i": 1}])
        store.kv_set("s", "k", {"v": 1}, None)
        copy = crash_copy(db, tmp_path / "crash")
    with DuckDBStore(copy, apply_after_s=3600) as again:
        assert again.load_events("r1") == [{"i": 0}, {"i": 1}]
        assert again.kv_get("s", "k") == ({"v": 1}, None)
        assert log_frames(copy) == 0 and segments(copy) == []  # applied at the open, then deleted
        again.append_events("r1", [{"i": 2}])  # the order counter continues after the log's frames
    with DuckDBStore(copy) as third:
        assert third.load_events("r1") == [{"i": 0}, {"i": 1}, {"i": 2}]


def test_a_segment_a_crash_left_after_its_apply_committed_is_not_applied_twice(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    with DuckDBStore(db, apply_after_s=3600) as store:
        store.append_events("r1", [{"i": 0}])
        kept = crash_copy(db, tmp_path / "before")  # the segment as it was before its apply
        store.sql("select 1")  # applied and committed; the segment is deleted
        assert segments(db) == []
        copy = crash_copy(db, tmp_path / "after")
    # the process died between the commit and the delete: the segment is still there
    shutil.copytree(str(kept) + FOLDER_SUFFIX, str(copy) + FOLDER_SUFFIX, dirs_exist_ok=True)
    with DuckDBStore(copy) as again:
        assert again.load_events("r1") == [{"i": 0}]
        assert again.sql("select count(*) from events").rows == [(1,)]


def test_a_torn_last_frame_is_dropped_and_the_frames_before_it_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    copy, seg = crashed_after(tmp_path, [{"i": i} for i in range(3)])
    data = seg.read_bytes()
    seg.write_bytes(data[:-5])  # the process died in the middle of writing the third frame
    with caplog.at_level(logging.WARNING, logger="aether_nb"), DuckDBStore(copy) as again:
        assert again.load_events("r1") == [{"i": 0}, {"i": 1}]
    assert any("cut short" in r.getMessage() for r in caplog.records)  # said, not silently dropped


def test_a_frame_that_fails_its_checksum_is_reported_and_the_others_applied(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    copy, seg = crashed_after(tmp_path, [{"i": i, "pad": "x" * 40} for i in range(3)])
    data = bytearray(seg.read_bytes())
    second = data.index(b'i\\":1')
    data[second + 4] = ord("7")  # one byte of the second frame's text changed on disk
    seg.write_bytes(bytes(data))
    with caplog.at_level(logging.ERROR, logger="aether_nb"), DuckDBStore(copy) as again:
        assert again.load_events("r1") == [{"i": 0, "pad": "x" * 40}, {"i": 2, "pad": "x" * 40}]
    assert any("fails its checksum" in r.message for r in caplog.records)
    # kept for a person to look at, and never read again as part of the log
    assert [p.name.endswith(".seg.unreadable") for p in segments(copy)] == [True]
    with caplog.at_level(logging.ERROR, logger="aether_nb"), DuckDBStore(copy) as third:
        caplog.clear()
        assert len(third.load_events("r1")) == 2
    assert not caplog.records


def test_a_segment_of_another_database_is_never_applied(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "s.duckdb"
    with DuckDBStore(db, apply_after_s=3600) as store:
        store.append_events("old", [{"i": 0}])
        copy = crash_copy(db, tmp_path / "crash")
    Path(copy).unlink()  # the database deleted, its folder left beside the new one
    Path(str(copy) + ".wal").unlink(missing_ok=True)
    with caplog.at_level(logging.ERROR, logger="aether_nb"), DuckDBStore(copy) as fresh:
        assert fresh.load_events("old") == []
        fresh.append_events("new", [{"i": 1}])
    assert any("not a history log segment of this database" in r.message for r in caplog.records)
    assert [p.name.endswith(".orphaned") for p in segments(copy)] == [True]
    with DuckDBStore(copy) as again:
        assert again.load_events("new") == [{"i": 1}] and again.load_events("old") == []


def test_a_write_whose_sync_fails_is_not_kept_and_the_next_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "s.duckdb"
    with DuckDBStore(db, apply_after_s=3600) as store:
        store.append_events("r1", [{"i": 0}])

        def failing(fd: int) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(logfile, "_datasync", failing)
        with pytest.raises(StorageError) as info:
            store.append_events("r1", [{"i": 1}])
        assert info.value.code == "io" and "No space left" in str(info.value)
        monkeypatch.undo()
        assert store.load_events("r1") == [{"i": 0}]
        store.append_events("r1", [{"i": 2}])
        copy = crash_copy(db, tmp_path / "crash")
    # the failed frame was cut off its segment: a crash now recovers what was acknowledged, nothing else
    with DuckDBStore(copy) as again:
        assert again.load_events("r1") == [{"i": 0}, {"i": 2}]


def test_a_segment_that_could_not_be_created_does_not_block_the_next_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "s.duckdb"
    with DuckDBStore(db, apply_after_s=3600) as store:

        def failing(folder: Path) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(logfile, "_sync_dir", failing)
        with pytest.raises(StorageError):
            store.append_events("r1", [{"i": 0}])
        monkeypatch.undo()  # space freed
        store.append_events("r1", [{"i": 1}])
        assert store.load_events("r1") == [{"i": 1}]
        copy = crash_copy(db, tmp_path / "crash")
    with DuckDBStore(copy) as again:
        assert again.load_events("r1") == [{"i": 1}]


def test_the_log_stays_beside_the_file_when_the_notebook_changes_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "work").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    with DuckDBStore("s.duckdb", apply_after_s=3600) as store:  # a relative path, as a user may write it
        store.append_events("r1", [{"i": 0}])
        store.sql("select 1")  # applied: the next write opens a new segment
        monkeypatch.chdir(tmp_path / "elsewhere")  # os.chdir in a later cell
        store.append_events("r1", [{"i": 1}])
        copy = crash_copy(tmp_path / "work" / "s.duckdb", tmp_path / "crash")
        assert not (tmp_path / "elsewhere" / "s.duckdb.history-log").exists()
    with DuckDBStore(copy) as again:
        assert again.load_events("r1") == [{"i": 0}, {"i": 1}]


def test_a_read_only_open_reads_the_log_a_dead_process_left_without_touching_it(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    with DuckDBStore(db, apply_after_s=3600) as store:
        store.append_events("r1", [{"i": 0}])
        copy = crash_copy(db, tmp_path / "crash")
    before = [(p.name, p.read_bytes()) for p in segments(copy)]
    with DuckDBStore(copy, read_only=True) as reader:
        assert reader.load_events("r1") == [{"i": 0}]
    assert [(p.name, p.read_bytes()) for p in segments(copy)] == before


# -- a property: writes, applies and crashes in any order; every acknowledged batch is read back once -------------
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.integers(1, 4)),
        st.tuples(st.just("write_unsynced"), st.integers(1, 4)),
        st.tuples(st.just("apply"), st.none()),
        st.tuples(st.just("crash"), st.none()),
        st.tuples(st.just("failed_write"), st.none()),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_every_acknowledged_batch_is_read_back_once_whatever_the_crashes(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, Any]]
) -> None:
    root = tmp_path_factory.mktemp("log")
    db = root / "gen0" / "s.duckdb"
    db.parent.mkdir()
    expected: list[dict[str, int]] = []
    store = DuckDBStore(db, apply_after_s=3600)
    n = 0
    try:
        for i, (op, arg) in enumerate(ops):
            if op in ("write", "write_unsynced"):  # (unsynced: what a killed process leaves has it all the same)
                events = [{"n": n + k} for k in range(arg)]
                n += arg
                store.write_history(HistoryBatch(events=[("r", e) for e in events]), durable=op == "write")
                expected += events
            elif op == "failed_write":
                original = logfile._datasync

                def failing(fd: int) -> None:
                    raise OSError(5, "Input/output error")

                logfile._datasync = failing
                try:
                    with pytest.raises(StorageError):
                        store.append_events("r", [{"n": -1}])
                finally:
                    logfile._datasync = original
            elif op == "apply":
                store.sql("select 1")
            else:
                copy = crash_copy(db, root / f"gen{i + 1}")
                store.close()
                db, store = copy, DuckDBStore(copy, apply_after_s=3600)
            assert store.load_events("r") == expected
    finally:
        store.close()
    with DuckDBStore(db) as final:
        assert final.load_events("r") == expected
        assert final.sql("select count(*) from events").rows == [(len(expected),)]


class SyncedSizes:
    """Stands in for the log's ``fdatasync``: syncs, and notes how long each segment was when synced, which is
    all of it a power loss keeps (a segment's header is synced when it is created)."""

    def __init__(self) -> None:
        self.real = logfile._datasync
        self.sizes: dict[str, int] = {}
        self.fail_next = False

    def __call__(self, fd: int) -> None:
        if self.fail_next:
            self.fail_next = False
            raise OSError(5, "Input/output error")
        self.real(fd)
        self.sizes[os.readlink(f"/proc/self/fd/{fd}")] = os.fstat(fd).st_size

    def power_loss_copy(self, db: Path, to: Path) -> Path:
        """``crash_copy``, with each segment cut to what was synced of it."""
        copy = crash_copy(db, to)
        for seg in segments(copy):
            original = Path(str(db) + FOLDER_SUFFIX) / seg.name
            data = seg.read_bytes()
            seg.write_bytes(data[: self.sizes.get(str(original), data.index(b"\n") + 1)])
        return copy


POWER_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.integers(1, 4)),
        st.tuples(st.just("write_unsynced"), st.integers(1, 4)),
        st.tuples(st.just("sync"), st.none()),  # an empty durable write
        st.tuples(st.just("flush"), st.none()),
        st.tuples(st.just("apply"), st.none()),
        st.tuples(st.just("failed_write"), st.none()),  # its sync fails: the frames before it are synced still
    ),
    min_size=1,
    max_size=20,
)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads the synced file's name from /proc")
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=POWER_OPS)
def test_a_power_loss_keeps_every_durable_batch_and_all_before_the_last_sync(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, Any]]
) -> None:
    """``write_history(durable=False)`` (the runtime's async background batches) is not synced; a durable write,
    ``flush()`` or an apply syncs it and everything before: a power loss loses at most what came after."""
    root = tmp_path_factory.mktemp("power")
    db = root / "s.duckdb"
    expected: list[dict[str, int]] = []
    durable_upto = 0
    synced = SyncedSizes()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(logfile, "_datasync", synced)
        with DuckDBStore(db, apply_after_s=3600) as store:
            for op, arg in ops:
                if op in ("write", "write_unsynced"):
                    events = [{"n": len(expected) + k} for k in range(arg)]
                    store.write_history(HistoryBatch(events=[("r", e) for e in events]), durable=op == "write")
                    expected += events
                elif op == "sync":
                    assert store.write_history(HistoryBatch()) == []
                elif op == "flush":
                    store.flush()
                elif op == "failed_write":
                    synced.fail_next = True
                    with pytest.raises(StorageError):
                        store.append_events("r", [{"n": -1}])
                else:
                    store.sql("select 1")  # applies the log (a segment is synced as it closes)
                if op != "write_unsynced":
                    durable_upto = len(expected)
                assert store.load_events("r") == expected
                copy = synced.power_loss_copy(db, root / "lost")
                try:
                    with DuckDBStore(copy) as after:
                        kept = after.load_events("r")
                    # a prefix (no hole: a later batch kept, an earlier one lost), holding every durable batch
                    assert kept == expected[: len(kept)] and len(kept) >= durable_upto, (kept, durable_upto)
                finally:
                    shutil.rmtree(root / "lost")


def test_read_log_of_a_missing_folder_is_empty(tmp_path: Path) -> None:
    found = read_log(str(tmp_path / "nothing.duckdb"), "id")
    assert found.records == [] and found.max_seq == 0 and found.problems == []
