"""Store selection: the notebook's file beside it, env and configure() overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

import aether_nb as ag
from aether_nb.config import notebook_store_path
from aether_nb.runtime.session import Session


def test_notebook_store_path(tmp_path: Path) -> None:
    nb = tmp_path / "work" / "analysis.ipynb"
    nb.parent.mkdir()
    assert notebook_store_path({}, {"__vsc_ipynb_file__": str(nb)}) == nb.parent / "analysis.aether.duckdb"
    assert notebook_store_path({"JPY_SESSION_NAME": str(nb)}, {}) == nb.parent / "analysis.aether.duckdb"
    # a relative session name: the kernel runs in the notebook's folder
    assert notebook_store_path({"JPY_SESSION_NAME": "sub/q.ipynb"}, {}, cwd=tmp_path) == tmp_path / "q.aether.duckdb"
    assert notebook_store_path({"JPY_SESSION_NAME": "console-1"}, {}, cwd=tmp_path) == tmp_path / "aether.duckdb"
    assert notebook_store_path({}, {}, cwd=tmp_path) == tmp_path / "aether.duckdb"


def test_configure_store_by_path_and_memory(tmp_path: Path, session: Session) -> None:
    ag.configure(store=tmp_path / "x.aether.duckdb")
    s = ag.session()
    assert s.store.location == str(tmp_path / "x.aether.duckdb")
    ag.configure(store=":memory:")
    assert ag.store().location == ":memory:"
    with pytest.raises(ag.UsageError, match="file path"):
        ag.configure(store=42)
