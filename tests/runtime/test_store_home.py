"""A ``Run`` object the user still holds after the session switched stores (``%aether store B``, or
``ag.configure(store=B)``) belongs to the store it came from.

Found by a tester: after a restart, ``r = ag.get_run("w1")`` (waiting in store A), then ``%aether store B``, then
``await r``: the body ran again against B's empty journal (its completed tool ran twice) and B got a second copy of
the run. Now resuming, answering or cancelling it raises ``UsageError(code="other_store")`` and nothing runs; once
the session is back on A, the same object resumes there, every completed step replayed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.errors import UsageError
from aether_nb.runtime import session as session_mod
from aether_nb.store.duckdb import DuckDBStore
from tests.conftest import arun, make_session

EFFECTS: list[int] = []


@ag.tool(outputs=["y"])
def double(x: int) -> dict[str, Any]:
    EFFECTS.append(x)
    return {"y": 2 * x}


@ag.graph_fn(name="store_home_asker", outputs=["y", "name"])
async def asker(x: int, *, context: ag.NodeContext) -> dict[str, Any]:
    d = await double(x)
    name = await context.channel().ask_text("Your name?")
    return {"y": d["y"], "name": name}


def test_a_held_run_of_another_store_is_refused_and_resumes_once_back_on_its_store(tmp_path: Path) -> None:
    EFFECTS.clear()
    a, b = str(tmp_path / "a.duckdb"), str(tmp_path / "b.duckdb")
    s1, _ = make_session(DuckDBStore(a))
    previous = session_mod.set_default_session(s1)
    try:

        async def first() -> None:
            run = asker.start(x=21, run_id="w1")
            await run.wait_for("waiting", timeout=20)

        arun(first())  # the loop ends while the run waits, as a kernel dying would
        s1.store.close()
        s2, _ = make_session(DuckDBStore(a))  # a new process on store A
        session_mod.set_default_session(s2)

        async def second() -> tuple[list[str], dict[str, Any]]:
            held = ag.get_run("w1")
            assert held.status == "waiting" and not held.live
            ag.configure(store=b)
            refused = []
            for attempt in (lambda: held.result(), lambda: held.answer("Ada")):
                with pytest.raises(UsageError) as err:
                    await attempt()
                refused.append(err.value.code)
            with pytest.raises(UsageError) as err:
                held.cancel()
            refused.append(err.value.code)
            assert "belongs to the store" in str(err.value) and "nothing was run or written" in str(err.value)
            assert len(ag.store().sql("select * from runs")) == 0  # B got no copy of the run
            ag.configure(store=a)  # back on A: the same object resumes there
            await held.answer("Ada")
            return refused, await held

        refused, out = arun(second(), timeout=60)
    finally:
        session_mod.set_default_session(previous)
    assert refused == ["other_store"] * 3
    assert out == {"y": 42, "name": "Ada"}
    assert EFFECTS == [21]  # the tool ran once, in the first process


def test_a_held_run_of_another_store_is_not_promoted_from_the_new_stores_journal(tmp_path: Path) -> None:
    """``run.promote()`` reads the run's journal: in the new store it blamed the agent's tool ("has no journaled
    result") or found another run of that id there."""

    @ag.graph_fn(name="store_home_double", outputs=["y"])
    async def doubler(x: int) -> dict[str, Any]:
        return {"y": (await double(x))["y"]}

    s1, _ = make_session(DuckDBStore(str(tmp_path / "a.duckdb")))
    previous = session_mod.set_default_session(s1)
    try:

        async def main() -> str:
            run = doubler.start(x=1, run_id="fin")
            await run
            ag.configure(store=str(tmp_path / "b.duckdb"))
            with pytest.raises(UsageError) as err:
                run.promote("doubler_static")
            assert err.value.code == "other_store"
            ag.configure(store=str(tmp_path / "a.duckdb"))
            return run.promote("doubler_static")

        source = arun(main(), timeout=60)
    finally:
        session_mod.set_default_session(previous)
    assert "def doubler_static" in source


def test_a_closed_store_opens_again_when_configured_with_its_own_file(tmp_path: Path) -> None:
    """The closed store's error says "open a new one (ag.configure(store=...))": the same file did nothing."""
    path = str(tmp_path / "a.duckdb")
    s1, _ = make_session(DuckDBStore(path))
    previous = session_mod.set_default_session(s1)
    try:
        ag.store().close()
        with pytest.raises(ag.StorageError):
            ag.store().list_runs()
        ag.configure(store=path)
        assert ag.store().list_runs() == []
    finally:
        ag.store().close()
        session_mod.set_default_session(previous)
