"""A wait's deadline and an answer racing: the one that came first wins, and the run goes on.

An answer accepted just before the deadline fires is written at the end of its loop turn, and only then handed to the
waiting task. The deadline firing in between used to throw the accepted answer away: a sleep woken early with
``run.answer(None)`` failed its run ("its time wait sleep_1 was already answered"), and a question answered (or a
message delivered to ``receive()``) got a WaitTimeout, the answer lost. Each test tries every loop turn the
answer can land in around the deadline, so one of them is the racing turn.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aether_nb as ag
from aether_nb.runtime import session as session_mod
from aether_nb.testing import ManualClock
from tests.conftest import arun, make_session

_TURNS = 8  # loop turns between the deadline firing and the answer (the race is in one or two of them)


async def _until(predicate: Any, timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0)

    await asyncio.wait_for(poll(), timeout)


class _FiringClock:
    """Time stands still before the deadline; the test fires the sleepers (the deadline's timer going off while an
    answer given a moment before it is being written)."""

    def __init__(self) -> None:
        self.sleepers: list[asyncio.Future[None]] = []

    def now(self) -> float:
        return 1_700_000_000.0

    async def sleep_until(self, when: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.sleepers.append(fut)
        await fut

    def fire(self) -> None:
        for fut in self.sleepers:
            if not fut.done():
                fut.set_result(None)


@ag.graph_fn(name="pr_naps", outputs=["r"])
async def naps(*, context: ag.NodeContext) -> dict[str, Any]:
    await context.sleep(60)
    return {"r": "woke"}


@ag.graph_fn(name="pr_asks_in_time", outputs=["r"])
async def asks_in_time(*, context: ag.NodeContext) -> dict[str, Any]:
    try:
        return {"r": await context.channel().ask_text("name?", timeout_s=60)}
    except ag.WaitTimeout:
        return {"r": "timed out"}


def test_a_sleep_woken_as_its_deadline_fires_goes_on_whichever_came_first() -> None:
    async def one(turns: int) -> tuple[str, Any]:
        clock = ManualClock()
        s, _ = make_session(clock=clock)
        previous = session_mod.set_default_session(s)
        try:
            run = naps.start()
            await _until(lambda: clock.sleepers == 1)
            clock.advance(60)  # the deadline fires...
            for _ in range(turns):
                await asyncio.sleep(0)
            try:  # ...and run.answer(None) wakes it early, in any of the loop turns around it
                await run.answer(None)
                answered = "accepted"
            except ag.UsageError as exc:
                answered = exc.code or "refused"  # (the deadline's wake-up came first: no open wait)
            try:
                return answered, await run
            except ag.RunFailed as exc:
                return answered, f"failed: {exc}"
        finally:
            session_mod.set_default_session(previous)

    async def main() -> list[tuple[str, Any]]:
        return [await one(turns) for turns in range(_TURNS)]

    outcomes = arun(main())
    assert all(out == {"r": "woke"} for _, out in outcomes), outcomes
    assert {a for a, _ in outcomes} == {"accepted", "no_open_wait"}  # (both orders were tried)


def test_a_question_answered_as_its_deadline_fires_gets_the_answer_it_accepted() -> None:
    async def one(turns: int) -> tuple[str, Any, list[str]]:
        clock = _FiringClock()
        s, _ = make_session(clock=clock)
        previous = session_mod.set_default_session(s)
        try:
            run = asks_in_time.start()
            await _until(lambda: len(clock.sleepers) == 1 and run.status == "waiting")
            clock.fire()  # the deadline fires...
            for _ in range(turns):
                await asyncio.sleep(0)
            try:  # ...and the answer comes in the same moment
                await run.answer("Ada")
                answered = "accepted"
            except ag.UsageError as exc:
                answered = exc.code or "refused"
            out = (await run)["r"]
            return answered, out, [w.status for w in s.store.list_waits(run.id, status=None)]
        finally:
            session_mod.set_default_session(previous)

    async def main() -> list[tuple[str, Any, list[str]]]:
        return [await one(turns) for turns in range(_TURNS)]

    outcomes = arun(main())
    for answered, out, stored in outcomes:  # an accepted answer is the one the agent gets, and the one stored
        assert (out, stored) == (("Ada", ["answered"]) if answered == "accepted" else ("timed out", ["expired"]))
    assert {a for a, _, _ in outcomes} == {"accepted", "no_open_wait"}
