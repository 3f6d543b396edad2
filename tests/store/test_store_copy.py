"""Copying a store a process holds: which files make a copy that opens with everything.

DuckDB keeps the tables' changes since its last checkpoint in ``<file>.wal``; the store's own log holds what is
not applied yet. The README said to copy the log folder with the file, which gave an empty store (every run
applied was in the ``.wal``), and the log of such a copy was then reported as "another database's" with nothing
to say why.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from aether_nb.store.duckdb import DuckDBStore
from aether_nb.store.logfile import FOLDER_SUFFIX, LogFile, read_log


def copy_of(db: Path, to: Path, suffixes: tuple[str, ...]) -> Path:
    to.mkdir()
    target = to / db.name
    for suffix in suffixes:
        source = Path(str(db) + suffix)
        if source.is_dir():
            shutil.copytree(source, str(target) + suffix)
        elif source.exists():
            shutil.copyfile(source, str(target) + suffix)
    return target


def test_the_file_its_wal_and_its_log_copied_while_held_open_with_everything(tmp_path: Path) -> None:
    """What the README says to copy: applied history (in the .wal) and history not applied yet (in the log)."""
    db = tmp_path / "s.duckdb"
    with DuckDBStore(db, apply_after_s=3600) as store:
        store.append_events("r1", [{"i": 0}])
        store.kv_set("s", "applied", 1, None)
        store.sql("select 1")  # applied: into the .wal, not the file (DuckDB checkpoints at close)
        store.append_events("r1", [{"i": 1}])
        store.kv_set("s", "logged", 2, None)
        assert Path(str(db) + ".wal").exists() and Path(str(db) + FOLDER_SUFFIX).exists()
        copy = copy_of(db, tmp_path / "copy", ("", ".wal", FOLDER_SUFFIX))
    with DuckDBStore(copy) as again:
        assert again.load_events("r1") == [{"i": 0}, {"i": 1}]
        assert again.kv_get("s", "applied") == (1, None) and again.kv_get("s", "logged") == (2, None)


def test_a_log_of_another_database_says_a_copy_may_lack_its_wal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The file copied without its .wal opens as a new database, whose id is not the log's: the message names both
    ids and that likely cause, not only "another database"."""
    location = str(tmp_path / "s.duckdb")
    log = LogFile(location, "id-of-the-original")
    log.append(5, '{"events":[]}')
    log.close(applied=False)
    found = read_log(location, "id-of-the-copy")
    [problem] = found.problems
    assert "not a history log segment of this database" in problem
    assert "'id-of-the-original'" in problem and "'id-of-the-copy'" in problem
    assert "without its .wal" in problem and "<file>.wal" in problem
    assert found.records == [] and len(found.orphaned) == 1
    with caplog.at_level(logging.ERROR, logger="aether_nb"), DuckDBStore(location) as fresh:
        assert fresh.load_events("r1") == []
    assert any("without its .wal" in r.getMessage() for r in caplog.records)
