"""Runs past their deadline do not leave memory: many sleeping runs beyond ``max_live_waiting`` all finish.

A tester started 300 runs of ``await context.sleep(0.5)`` with the default cap of 64: the runs that had left memory
were resumed at their deadline, parked on their (expired) sleep again, and each park pushed another run out of
memory, whose deadline had passed too, so it was resumed at once, and so on: tens of thousands of evictions and
resumes at 100 % CPU, and ``await`` never returned.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime import session as session_mod
from aether_nb.runtime.run import Run
from aether_nb.testing.clock import ManualClock
from tests.conftest import arun, make_session

RUNS = 200


@pytest.fixture(autouse=True)
def small_cap() -> Iterator[ManualClock]:
    s, _ = make_session()
    s.max_live_waiting = 8
    clock = ManualClock()
    s.clock = clock
    previous = session_mod.set_default_session(s)
    try:
        yield clock
    finally:
        session_mod.set_default_session(previous)


@ag.graph_fn(outputs=["r"])
async def sleeper(i: int, *, context: ag.NodeContext) -> dict[str, int]:
    await context.sleep(30)
    return {"r": i}


def test_many_sleeping_runs_beyond_the_cap_all_finish_at_their_deadline(
    small_cap: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    resumes = 0
    resume = Run.resume

    def counted(self: Run, *args: Any, **kwargs: Any) -> None:
        nonlocal resumes
        resumes += 1
        if resumes > 20 * RUNS:  # (the livelock: stop feeding it, so the test fails by its timeout, not hangs)
            return
        resume(self, *args, **kwargs)

    monkeypatch.setattr(Run, "resume", counted)

    async def main() -> list[dict[str, Any]]:
        runs = [sleeper.start(i=i) for i in range(RUNS)]
        while sum(r.status == "waiting" for r in runs) < RUNS:
            await asyncio.sleep(0)
        assert sum(r.evicted for r in runs) >= RUNS - 8 - 1  # (the cap holds: the others left memory)
        small_cap.advance(60)
        return list(await asyncio.wait_for(asyncio.gather(*(r.result() for r in runs)), 10))

    outs = arun(main(), timeout=30)
    assert outs == [{"r": i} for i in range(RUNS)]
    assert resumes <= RUNS, f"{resumes} resumes for {RUNS} runs: runs past their deadline were evicted again"


def test_a_run_whose_wait_passed_its_deadline_is_not_evictable(small_cap: ManualClock) -> None:
    async def main() -> tuple[bool, bool]:
        run = sleeper.start(i=0)
        await run.wait_for("waiting")
        before = run.evictable
        small_cap.advance(60)  # (its sleeper task wakes a loop turn later: the run is about to go on)
        after = run.evictable
        await run
        return before, after

    assert arun(main()) == (True, False)
