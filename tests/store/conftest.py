"""The ``store`` fixture: every conformance test runs against the in-memory store and the DuckDB store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aether_nb.store.duckdb import DuckDBStore
from aether_nb.store.memory import MemoryStore
from aether_nb.store.protocol import Store


@pytest.fixture(params=["memory", "duckdb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh, empty store of each kind; closed at teardown."""
    s: Store = MemoryStore() if request.param == "memory" else DuckDBStore(tmp_path / "t.duckdb")
    try:
        yield s
    finally:
        s.close()


def log_frames(path: Path) -> int:
    """History batches the file's log holds and its tables do not yet: the frames of ``<file>.history-log/`` above
    the tables' ``applied_upto`` (read as the next open would), plus rows an older aether_nb left in ``history_log``.
    A connection with the store's settings shares the store's open database."""
    import duckdb

    from aether_nb.store.logfile import read_log
    from aether_nb.store.query import ENGINE_CONFIG

    con = duckdb.connect(str(path), config=dict(ENGINE_CONFIG))
    try:
        db_id, upto = con.execute("SELECT db_id, applied_upto FROM log_state").fetchone() or ("", 0)
        legacy = con.execute("SELECT count(*) FROM history_log").fetchone()
    finally:
        con.close()
    return sum(1 for r in read_log(str(path), db_id).records if r.seq > upto) + (legacy[0] if legacy else 0)
