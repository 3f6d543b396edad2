"""Artifacts and a DuckDB ``.wal`` cut short: an artifact's row is as durable as history, and what is lost is said.

Artifact rows were written to DuckDB only, so they lived in DuckDB's ``<file>.wal`` until its next checkpoint; a
``.wal`` cut short (half-copied, damaged: DuckDB drops its tail without a word) opened with the artifacts missing
and nothing said, while history written in the same moment survived in the store's history log.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from aether_nb.store.duckdb import INLINE_BLOB_MAX, DuckDBStore
from aether_nb.store.records import ArtifactRecord

REPO = Path(__file__).resolve().parents[2]
BIG = INLINE_BLOB_MAX + 10

KILLED_AFTER_ARTIFACTS = textwrap.dedent(
    """
    import hashlib, os, signal, sys
    sys.path.insert(0, sys.argv[2])
    from aether_nb.store.duckdb import DuckDBStore
    from aether_nb.store.records import ArtifactRecord, JournalEntry
    path = sys.argv[1]
    store = DuckDBStore(path, apply_after_s=3600)
    store.append_journal(JournalEntry("r", "k0", "step", "tool", "f", 0, True, 1.0))
    store.sql("select 1")  # applied: in the .wal
    print(os.path.getsize(path + ".wal"), flush=True)  # where the artifacts' changes start
    for name, size in (("small", 10), ("big", int(sys.argv[3]))):
        data = name.encode() * (size // len(name) + 1)
        data = data[:size]
        store.artifact_put(
            ArtifactRecord(name, name + ".bin", "file", "application/octet-stream", size,
                           hashlib.sha256(data).hexdigest(), {"n": name}, 1.0, "r", None),
            data,
        )
    store.artifact_set_pinned("small", True)
    store.append_journal(JournalEntry("r", "k1", "step", "tool", "f", 1, True, 2.0))  # in the log only
    os.kill(os.getpid(), signal.SIGKILL)  # no apply, no checkpoint
    """
)


def payload(name: str, size: int) -> bytes:
    return (name.encode() * (size // len(name) + 1))[:size]


@pytest.fixture
def cut_wal(tmp_path: Path) -> Path:
    """A store whose writer was SIGKILLed after storing two artifacts (one in the table, one in a blob file) and
    pinning one, whose ``.wal`` was then cut short inside those artifacts' changes."""
    script = tmp_path / "die.py"
    script.write_text(KILLED_AFTER_ARTIFACTS)
    db = tmp_path / "s.duckdb"
    res = subprocess.run(
        [sys.executable, str(script), str(db), str(REPO), str(BIG)], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == -signal.SIGKILL, res.stderr
    before = int(res.stdout.split()[0])
    wal = Path(str(db) + ".wal")
    assert wal.stat().st_size > before + 100
    os.truncate(wal, before + 7)  # torn in the middle of the first artifact's transaction
    return db


def test_artifact_rows_a_cut_short_wal_lost_are_restored_from_the_history_log(
    cut_wal: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="aether_nb"), DuckDBStore(cut_wal) as store:
        assert [e.key for e in store.load_journal("r")] == ["k0", "k1"]  # history: the log had it
        assert sorted(a.id for a in store.artifact_list()) == ["big", "small"]
        small = store.artifact_get("small")
        assert small is not None and small[1] == payload("small", 10) and small[0].pinned is True
        assert small[0].labels == {"n": "small"}
        big = store.artifact_get("big")
        assert big is not None and big[1] == payload("big", BIG) and big[0].pinned is False
    said = [r.getMessage() for r in caplog.records if "artifact" in r.getMessage()]
    assert len(said) == 1 and "'small', 'big'" in said[0] and "restored from the store's history log" in said[0]
    with caplog.at_level(logging.WARNING, logger="aether_nb"), DuckDBStore(cut_wal) as again:  # kept, said once
        caplog.clear()
        assert sorted(a.id for a in again.artifact_list()) == ["big", "small"]
    assert not [r for r in caplog.records if "artifact" in r.getMessage()]


def test_a_read_only_open_names_the_artifacts_a_cut_short_wal_lost(
    cut_wal: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="aether_nb"), DuckDBStore(cut_wal, read_only=True) as ro:
        assert ro.artifact_list() == []  # it cannot write them back...
    said = [r.getMessage() for r in caplog.records if "artifact" in r.getMessage()]
    assert any("'small', 'big'" in m and "open it once without read_only=True" in m for m in said), said
    with DuckDBStore(cut_wal) as rw:  # ... a writable open does
        assert sorted(a.id for a in rw.artifact_list()) == ["big", "small"]


def test_blob_files_no_artifact_points_at_are_named_at_open(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """What the log cannot bring back (a .wal cut short after the log was applied) leaves blob files without rows."""
    db = tmp_path / "s.duckdb"
    data = b"x" * BIG
    with DuckDBStore(db) as store:
        digest = hashlib.sha256(data).hexdigest()
        store.artifact_put(
            ArtifactRecord("kept", "k.bin", "file", "application/octet-stream", BIG, digest, {}, 1.0), data
        )
    orphan = hashlib.sha256(b"lost").hexdigest()
    (Path(str(db) + ".artifacts") / orphan).write_bytes(b"lost")
    with caplog.at_level(logging.WARNING, logger="aether_nb"), DuckDBStore(db) as store:
        assert [a.id for a in store.artifact_list()] == ["kept"]
    said = [r.getMessage() for r in caplog.records]
    assert any(orphan in m and "no artifact of the store points at" in m for m in said), said
    assert not any(digest in m for m in said)  # the blob a row points at is not named
    assert (Path(str(db) + ".artifacts") / orphan).exists()  # the bytes are kept


KILLED_WHILE_STORING = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, sys.argv[2])
    from aether_nb.store.duckdb import DuckDBStore
    from aether_nb.store.records import ArtifactRecord

    class DiesAfterTheFrame(DuckDBStore):
        # the process is killed between an artifact's history log frame and its table row (artifact_put never
        # returned): the ordinary window of a kill while storing, with no .wal damaged
        def _log_artifact(self, seq, text, what):
            super()._log_artifact(seq, text, what)
            if "late" in text:
                os.kill(os.getpid(), signal.SIGKILL)

    store = DiesAfterTheFrame(sys.argv[1], apply_after_s=3600)
    for name in ("early", "late"):
        data = name.encode()
        store.artifact_put(
            ArtifactRecord(name, name + ".bin", "file", "text/plain", len(data), "0" * 64, {}, 1.0, "r", None), data
        )
    """
)


def test_a_kill_while_an_artifact_is_stored_restores_it_without_blaming_the_wal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A tester's kill sweep: 3 kills in 8 landed between an artifact's log frame and its row, and the next open
    warned that DuckDB's write-ahead log "was cut short or damaged (a copy made while a kernel held the store?)"
    though nothing was copied or damaged."""
    script = tmp_path / "die.py"
    script.write_text(KILLED_WHILE_STORING)
    db = tmp_path / "s.duckdb"
    res = subprocess.run([sys.executable, str(script), str(db), str(REPO)], capture_output=True, text=True, timeout=120)
    assert res.returncode == -signal.SIGKILL, res.stderr
    with caplog.at_level(logging.INFO, logger="aether_nb"), DuckDBStore(db) as store:
        assert sorted(a.id for a in store.artifact_list()) == ["early", "late"]
    said = [r for r in caplog.records if "artifact" in r.getMessage()]
    assert said and all(r.levelno < logging.WARNING for r in said), [r.getMessage() for r in said]
    assert not any("damaged" in r.getMessage() for r in said)
