"""What an evicted run keeps (aether_nb.runtime.dormancy): its open waits by token, answered ones updated, handed
over once; awaiters woken when it moves. The run-level behaviour is in test_eviction.py."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from aether_nb.runtime.dormancy import Dormancy
from aether_nb.store.records import WaitRecord


def _wait(token: str, created_at: float) -> WaitRecord:
    return WaitRecord(token, "r1", f"ask_{token}", "text", f"{token}?", None, None, None, created_at)


def test_open_waits_oldest_first_answered_ones_updated_and_handed_over_once() -> None:
    d = Dormancy()
    d.keep(_wait("b", 2.0))
    d.keep(_wait("a", 1.0))
    assert [w.token for w in d.open_waits()] == ["a", "b"]
    answered = replace(_wait("a", 1.0), status="answered", answer="yes")
    d.answered(answered)
    d.answered(replace(_wait("zz", 3.0), status="answered"))  # not one it keeps: ignored
    assert [w.token for w in d.open_waits()] == ["b"]
    assert d.get("a") == answered and d.get("zz") is None
    taken = d.take()
    assert set(taken) == {"a", "b"} and taken["a"].answer == "yes"
    assert d.take() == {} and d.open_waits() == []


def test_awaiters_wake_when_the_run_moves_and_a_later_wait_waits_again() -> None:
    async def main() -> None:
        d = Dormancy()
        first = asyncio.ensure_future(d.changed())
        await asyncio.sleep(0)
        assert not first.done()
        d.wake()
        await asyncio.wait_for(first, 5)
        second = asyncio.ensure_future(d.changed())  # a new dormancy: waits for the next wake
        await asyncio.sleep(0)
        assert not second.done()
        second.cancel()  # cancelling an awaiter leaves the shared future alone (shielded)
        await asyncio.gather(second, return_exceptions=True)
        third = asyncio.ensure_future(d.changed())
        await asyncio.sleep(0)  # (one loop turn: a call that starts after a wake waits for the next one)
        d.wake()
        await asyncio.wait_for(third, 5)

    asyncio.run(main())
