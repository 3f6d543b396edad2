"""``ag.configure``: removing the cap frees the calls queued under it, and a refused call applies nothing.

Found by a regression tester (session 32): with ``max_concurrency=1`` and calls queued, ``max_concurrency=None``
left them running one at a time; and ``configure(store=<another file>, max_concurrency=None, durability="sync")``
refused while a run waited had already removed the cap and switched durability.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.store.duckdb import DuckDBStore
from tests.conftest import arun, default_session

STATE: dict[str, Any] = {}


@pytest.fixture
def _session() -> Iterator[Session]:
    with default_session() as s:
        yield s


@ag.tool(outputs=["y"])
async def lift_job(i: int) -> dict[str, int]:
    STATE["started"].add(i)
    STATE["changed"].set()
    await STATE["gate"].wait()
    return {"y": i}


@ag.graph_fn(outputs=["ys"])
async def lift_batch(n: int) -> dict[str, Any]:
    rs = await asyncio.gather(*(lift_job(i) for i in range(n)))
    return {"ys": [r["y"] for r in rs]}


async def _until(check: Any) -> None:
    """Wait (on the job's change event) until ``check()`` holds."""
    while not check():
        STATE["changed"].clear()
        await asyncio.wait_for(STATE["changed"].wait(), 10)


def test_removing_the_cap_starts_the_calls_queued_under_it(_session: Session) -> None:
    ag.configure(max_concurrency=1)

    async def main() -> None:
        STATE.update(started=set(), changed=asyncio.Event(), gate=asyncio.Event())
        run = lift_batch.start(n=4)
        queued = [f"lift_job_{i}" for i in (2, 3, 4)]

        def all_queued() -> bool:  # (a call shows PENDING once it waits for a unit of the cap)
            nodes = {n.id: n.status for n in run.graph.nodes}
            return STATE["started"] == {0} and all(nodes.get(q) == "PENDING" for q in queued)

        await run.until(all_queued, timeout=10)  # (checked after each event of the run)
        ag.configure(max_concurrency=None)
        # The first call still holds its slot (the gate is closed): the three queued ones start beside it now.
        await _until(lambda: STATE["started"] == {0, 1, 2, 3})
        STATE["gate"].set()
        assert (await run)["ys"] == [0, 1, 2, 3]

    arun(main(), timeout=30)
    assert "global_max_concurrency" not in _session.config


@ag.graph_fn(outputs=["o"])
async def lift_asker(*, context: Any) -> dict[str, Any]:
    return {"o": await context.channel().ask_text("go?")}


def test_a_refused_configure_applies_none_of_its_settings(tmp_path: Path) -> None:
    with default_session(DuckDBStore(tmp_path / "nb.duckdb")) as s:
        ag.configure(max_concurrency=2, durability="async", max_live_waiting=10, widgets_per_cell=5)

        async def main() -> None:
            run = lift_asker.start()
            await run.wait_for("waiting", timeout=10)
            with pytest.raises(ag.UsageError, match="live on the current store"):
                ag.configure(
                    store=str(tmp_path / "other.duckdb"),
                    max_concurrency=None,
                    durability="sync",
                    max_live_waiting=3,
                    widgets_per_cell=1,
                )
            assert s.config["global_max_concurrency"] == 2
            assert s.store.durability == "async"
            assert s.max_live_waiting == 10
            assert s.config["widgets_per_cell"] == 5
            assert not (tmp_path / "other.duckdb").exists()
            run.cancel()

        arun(main())
        s.store.close()
