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
