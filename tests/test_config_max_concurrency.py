"""``ag.configure(max_concurrency=...)``: None removes the cap; another cap is refused while runs are live.

Found by a concurrency tester (session 32): ``max_concurrency=None`` was silently ignored (no way back to no cap),
and lowering the cap from 2 to 1 while a run executed replaced it with a fresh one: 3 bodies ran at once.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from tests.conftest import arun, default_session

LOCK = threading.Lock()
STATE = {"now": 0, "peak": 0}
GATE = threading.Event()
STARTED = threading.Semaphore(0)


@pytest.fixture(autouse=True)
def _session() -> Iterator[Session]:
    GATE.clear()
    STATE.update(now=0, peak=0)
    while STARTED.acquire(blocking=False):
        pass
    with default_session() as s:
        try:
            yield s
        finally:
            GATE.set()


@ag.tool(outputs=["y"])
def mc_job(x: int) -> dict[str, int]:
    with LOCK:
        STATE["now"] += 1
        STATE["peak"] = max(STATE["peak"], STATE["now"])
    STARTED.release()
    try:
        GATE.wait(10)
        return {"y": x}
    finally:
        with LOCK:
            STATE["now"] -= 1


@ag.graph_fn(outputs=["ys"])
async def mc_batch(n: int) -> dict[str, Any]:
    rs = await asyncio.gather(*(mc_job(i) for i in range(n)))
    return {"ys": [r["y"] for r in rs]}


async def _started(n: int) -> None:
    for _ in range(n):
        assert await asyncio.to_thread(STARTED.acquire, True, 10)


def test_max_concurrency_none_removes_the_cap(_session: Session) -> None:
    ag.configure(max_concurrency=2)
    assert _session.config["global_max_concurrency"] == 2
    ag.configure(durability="async")  # (max_concurrency left out: the cap stays)
    assert _session.config["global_max_concurrency"] == 2
    ag.configure(max_concurrency=None)
    assert "global_max_concurrency" not in _session.config

    async def main() -> None:  # and with no cap, all three bodies run at once
        run = mc_batch.start(n=3)
        await _started(3)
        GATE.set()
        assert (await run)["ys"] == [0, 1, 2]

    arun(main())
    assert STATE["peak"] == 3
    with pytest.raises(ag.UsageError, match="positive integer or None"):
        ag.configure(max_concurrency=0)


def test_another_cap_while_a_run_executes_is_refused_and_the_cap_holds(_session: Session) -> None:
    ag.configure(max_concurrency=2)

    async def main() -> None:
        first = mc_batch.start(n=4)
        await _started(2)  # two bodies hold the cap's two units, two wait
        with pytest.raises(ag.UsageError, match=r"max_concurrency=1\) refused.*live.*cap of 2") as refused:
            ag.configure(max_concurrency=1)
        assert refused.value.code == "runs_live" and first.id in str(refused.value)
        with pytest.raises(ag.UsageError, match="refused"):
            ag.configure(max_concurrency=3)
        ag.configure(max_concurrency=2)  # the same cap again (a setup cell run again) is fine
        second = mc_batch.start(n=2)
        assert _session.config["global_max_concurrency"] == 2
        GATE.set()
        await asyncio.gather(first, second)
        ag.configure(max_concurrency=1)  # nothing live now: the new cap applies
        assert _session.config["global_max_concurrency"] == 1

    arun(main())
    assert STATE["peak"] == 2


def test_removing_the_cap_while_runs_execute_is_allowed(_session: Session) -> None:
    ag.configure(max_concurrency=1)

    async def main() -> None:
        run = mc_batch.start(n=2)
        await _started(1)
        ag.configure(max_concurrency=None)
        assert "global_max_concurrency" not in _session.config
        GATE.set()
        await run

    arun(main())
