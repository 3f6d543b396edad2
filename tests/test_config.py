"""Store selection: the notebook's file beside it, env and configure() overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def test_configuring_the_store_already_open_keeps_it_and_its_waiting_runs(tmp_path: Path) -> None:
    """A setup cell run again (Run All) while a run waits: ``%aether store PATH`` / ``ag.configure(store=PATH)``
    with the file already open was refused ("runs are executing"), and once nothing was live it closed and reopened
    the file, so ``ag.get_run(id)`` was another object than the run the notebook held."""
    import asyncio

    from tests.conftest import arun, default_session

    path = tmp_path / "same.duckdb"

    @ag.graph_fn(name="asks_a_name", outputs=["name"])
    async def asks(*, context: ag.NodeContext) -> dict[str, str]:
        return {"name": await context.channel().ask_text("Name?")}

    with default_session():
        ag.configure(store=str(path))
        opened = ag.store()

        async def main() -> None:
            run = asks.start()
            await run.wait_for("waiting")
            ag.configure(store=str(path))  # the same file: nothing to do
            ag.configure(store=str(tmp_path / "." / "same.duckdb"))  # (spelled another way)
            assert ag.store() is opened and ag.get_run(run.id) is run
            await run.answer("Ada")
            assert await run == {"name": "Ada"}
            with pytest.raises(ag.UsageError, match="answer or cancel them before switching"):
                other = asks.start()
                await other.wait_for("waiting")
                try:
                    ag.configure(store=str(tmp_path / "other.duckdb"))
                finally:
                    other.cancel()
                    await asyncio.gather(other.result(), return_exceptions=True)

        arun(main())
        ag.store().close()


@pytest.mark.parametrize(
    "bad",
    [{"max_concurrency": -5}, {"widgets_per_cell": 0}, {"executor": "dask"}, {"clock": object()}, {"channel": 3}],
)
def test_a_configure_call_with_one_bad_setting_changes_nothing(session: Session, bad: dict[str, Any]) -> None:
    """The settings before the bad one were applied, then the UsageError raised (a scratch tester's finding)."""
    before = (session.store.durability, session.config.get("widgets_per_cell"), session.max_live_waiting)
    with pytest.raises(ag.UsageError):
        ag.configure(**{"durability": "sync", "widgets_per_cell": 3, "max_live_waiting": 5, **bad})
    assert (session.store.durability, session.config.get("widgets_per_cell"), session.max_live_waiting) == before


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("durability", r"durability must be one of \['async', 'sync'\]"),
        ("executor", "executor must be an executor object"),
        ("store", "store must be a file path, ':memory:' or a Store object"),
    ],
)
def test_a_numpy_array_for_a_named_setting_is_refused_with_the_values_it_takes(
    session: Session, setting: str, expected: str
) -> None:
    """An array failed on its own truth value ("ambiguous") when compared with the names a setting takes."""
    import numpy as np

    for value in (np.array(["sync", "async"]), np.array(["sync"]), np.array([":memory:"]), np.array(["local"])):
        with pytest.raises(ag.UsageError, match=expected):
            ag.configure(**{setting: value})
    assert session.store.durability == "async"
