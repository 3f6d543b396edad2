"""Which store a notebook opens: its own, or the one it had before it was renamed (aether_nb.notebook.store_home)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aether_nb.notebook import store_home
from aether_nb.store.duckdb import DuckDBStore
from tests.notebook_files import notebook_with_cells


def _store(path: Path, cells: list[str], *, with_run: bool = True) -> Path:
    with DuckDBStore(path) as st:
        store_home.remember_cells(st, cells)
        if with_run:
            st.kv_set("notebook", "answer", 42, None)
    return path


def test_cell_ids_of_a_notebook_file(tmp_path: Path) -> None:
    assert store_home.cell_ids(notebook_with_cells(tmp_path / "a.ipynb", ["x", "y"])) == {"x", "y"}
    assert store_home.cell_ids(tmp_path / "missing.ipynb") == set()
    (tmp_path / "bad.ipynb").write_text("{not json")
    assert store_home.cell_ids(tmp_path / "bad.ipynb") == set()
    (tmp_path / "old.ipynb").write_text(json.dumps({"cells": [{"cell_type": "code", "source": ""}, "junk"]}))
    assert store_home.cell_ids(tmp_path / "old.ipynb") == set()  # cells saved before nbformat 4.5 have no id


def test_remember_cells_adds_and_writes_only_what_is_new(tmp_path: Path) -> None:
    with DuckDBStore(tmp_path / "n.aether.duckdb") as st:
        assert store_home.remember_cells(st, ["b", "a", ""]) == {"a", "b"}
        assert st.kv_get(store_home.CELLS_SCOPE, store_home.CELLS_KEY) == (["a", "b"], None)
        assert store_home.remember_cells(st, ["a", "c"]) == {"a", "b", "c"}
        st.kv_set(store_home.CELLS_SCOPE, store_home.CELLS_KEY, ["a"], None)  # (written only when a cell is new)
        assert store_home.remember_cells(st, ["a"]) == {"a"}
        assert st.kv_get(store_home.CELLS_SCOPE, store_home.CELLS_KEY) == (["a"], None)
        many = [f"id{i:05d}" for i in range(store_home.MAX_CELLS + 5)]
        assert len(store_home.remember_cells(st, many)) == store_home.MAX_CELLS


def test_a_renamed_notebook_finds_its_store_and_takes_it_over(tmp_path: Path) -> None:
    old = _store(tmp_path / "Untitled.aether.duckdb", ["c1", "c2"])
    (tmp_path / "Untitled.aether.duckdb.artifacts").mkdir()
    (tmp_path / "Untitled.aether.duckdb.artifacts" / "blob").write_text("bytes")
    notebook_with_cells(tmp_path / "agent.ipynb", ["c2", "c3"])  # Untitled.ipynb renamed, one cell added
    new = tmp_path / "agent.aether.duckdb"
    found = store_home.find_previous(new, store_home.cell_ids(tmp_path / "agent.ipynb"))
    assert found.previous == old and found.unclaimed == ()
    assert store_home.adopt(old, new)
    assert not old.exists() and new.exists()
    assert (tmp_path / "agent.aether.duckdb.artifacts" / "blob").read_text() == "bytes"
    with DuckDBStore(new) as st:
        assert st.kv_get("notebook", "answer") == (42, None)


def test_a_store_that_knew_none_of_the_cells_is_only_pointed_at(tmp_path: Path) -> None:
    gone = _store(tmp_path / "deleted.aether.duckdb", ["d1"])
    _store(tmp_path / "kept.aether.duckdb", ["c1"])
    notebook_with_cells(tmp_path / "kept.ipynb", ["c1"])  # its notebook is there: not a candidate, though it knows c1
    found = store_home.find_previous(tmp_path / "fresh.aether.duckdb", {"c1", "f1"})
    assert found.previous is None and found.unclaimed == (gone,)
    line = store_home.describe(found)
    assert "deleted.aether.duckdb" in line and "`%aether store deleted.aether.duckdb`" in line
    assert store_home.describe(store_home.Found(None, ())) == ""


def test_two_stores_that_know_the_cells_are_not_guessed_between(tmp_path: Path) -> None:
    a = _store(tmp_path / "a.aether.duckdb", ["c1"])
    b = _store(tmp_path / "b.aether.duckdb", ["c1"])
    found = store_home.find_previous(tmp_path / "c.aether.duckdb", {"c1"})
    assert found.previous is None and set(found.unclaimed) == {a, b}


def test_a_notebook_without_cell_ids_takes_nothing_over(tmp_path: Path) -> None:
    old = _store(tmp_path / "Untitled.aether.duckdb", ["c1"])
    found = store_home.find_previous(tmp_path / "agent.aether.duckdb", set())
    assert found.previous is None and found.unclaimed == (old,)


def test_a_store_held_open_is_not_taken_over(tmp_path: Path) -> None:
    old = _store(tmp_path / "Untitled.aether.duckdb", ["c1"])
    new = tmp_path / "agent.aether.duckdb"
    with DuckDBStore(old):  # another store holds it (in another process DuckDB's lock refuses the same way)
        assert not store_home.adopt(old, new)
    assert old.exists() and not new.exists()


CRASH = """
import os, sys
from aether_nb.notebook import store_home
from aether_nb.store.duckdb import DuckDBStore
st = DuckDBStore(sys.argv[1])
store_home.remember_cells(st, ["c1"])
st.kv_set("notebook", "answer", 7, None)
os._exit(3)  # the kernel dies: no close(), the history log not applied
"""


def test_a_store_left_by_a_crash_is_applied_before_it_is_renamed(tmp_path: Path) -> None:
    """A kernel killed with its store open leaves the history log beside the file: taking the store over applies
    it first (opening it for writing), so nothing written before the crash stays behind under the old name."""
    old = tmp_path / "Untitled.aether.duckdb"
    done = subprocess.run([sys.executable, "-c", CRASH, str(old)], timeout=120, check=False)
    assert done.returncode == 3
    log = Path(f"{old}.history-log")
    assert any(log.glob("*.seg"))  # (written to the log, not applied)
    new = tmp_path / "agent.aether.duckdb"
    assert store_home.find_previous(new, {"c1"}).previous == old
    assert store_home.adopt(old, new)
    assert not log.exists() and not Path(f"{new}.history-log").exists()
    with DuckDBStore(new) as st:
        assert st.kv_get("notebook", "answer") == (7, None)


@pytest.mark.parametrize("name", ["notes.aether.duckdb"])
def test_an_unreadable_candidate_is_pointed_at_not_opened_for_writing(tmp_path: Path, name: str) -> None:
    junk = tmp_path / name
    junk.write_bytes(b"not a duckdb file")
    found = store_home.find_previous(tmp_path / "agent.aether.duckdb", {"c1"})
    assert found.previous is None and found.unclaimed == (junk,)
    assert junk.read_bytes() == b"not a duckdb file"


def test_a_store_that_two_notebooks_here_could_own_is_not_taken_over(tmp_path: Path) -> None:
    """``nb.ipynb`` copied to ``nb-Copy1.ipynb`` (same cell ids), then renamed to ``orders.ipynb``: the copy, opened
    first, took over ``nb.aether.duckdb`` with the original's waiting run. Either notebook could own it, so neither
    takes it: the one loading is told which store it could be and how to open it."""
    old = _store(tmp_path / "nb.aether.duckdb", ["c1", "c2"])
    notebook_with_cells(tmp_path / "orders.ipynb", ["c1", "c2"])  # the original, renamed
    notebook_with_cells(tmp_path / "nb-Copy1.ipynb", ["c1", "c2"])  # its copy
    copy_store = tmp_path / "nb-Copy1.aether.duckdb"
    found = store_home.find_previous(copy_store, store_home.cell_ids(tmp_path / "nb-Copy1.ipynb"))
    assert found.previous is None
    assert found.contested == old and found.claimants == (tmp_path / "orders.ipynb",)
    line = store_home.describe(found)
    assert "nb.aether.duckdb" in line and "orders.ipynb" in line and "not taken over" in line
    assert "`%aether store nb.aether.duckdb`" in line
    # the copy now has a store of its own: the renamed original is then the only notebook that could own it
    _store(copy_store, ["c1", "c2"], with_run=False)
    found = store_home.find_previous(tmp_path / "orders.aether.duckdb", {"c1", "c2"})
    assert found.previous == old and found.contested is None


def test_a_notebook_that_shares_no_cell_with_the_store_is_no_claimant(tmp_path: Path) -> None:
    old = _store(tmp_path / "Untitled.aether.duckdb", ["c1"])
    notebook_with_cells(tmp_path / "agent.ipynb", ["c1", "c2"])  # Untitled.ipynb renamed
    notebook_with_cells(tmp_path / "other.ipynb", ["o1"])  # an unrelated notebook without a store
    found = store_home.find_previous(tmp_path / "agent.aether.duckdb", {"c1", "c2"})
    assert found.previous == old and found.claimants == ()
