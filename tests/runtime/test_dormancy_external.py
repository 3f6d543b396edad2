"""A run with a request to another process in flight (``dormancy.external_call``, e.g. an MCP tool call whose server
asks a question) does not leave memory beyond ``max_live_waiting``: the eviction would cancel the request, and the
resumed run would send it again. Once the request is over, the run may leave at its next pause."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime import session as session_mod
from aether_nb.runtime.dormancy import external_call
from tests.conftest import arun, make_session


@pytest.fixture(autouse=True)
def one_live_waiting() -> Iterator[None]:
    s, _ = make_session()  # no scripted answers: asks stay open until run.answer
    s.max_live_waiting = 1
    previous = session_mod.set_default_session(s)
    try:
        yield
    finally:
        session_mod.set_default_session(previous)


@ag.graph_fn(outputs=["out"])
async def asks_during_a_request(*, context: ag.NodeContext) -> dict[str, Any]:
    with external_call(context.scope):  # as an MCP call does while its server asks the run a question
        during = await context.channel().ask_text("during the request?")
    after = await context.channel().ask_text("after it?")
    return {"out": [during, after]}


@ag.graph_fn(outputs=["out"])
async def plain(*, context: ag.NodeContext) -> dict[str, Any]:
    return {"out": await context.channel().ask_text("plain?")}


async def waiting(run: ag.Run, prompt: str) -> None:
    while prompt not in [w.prompt for w in run.waits]:
        await asyncio.sleep(0.01)


def test_a_run_stays_in_memory_while_a_request_of_it_is_in_flight_and_may_leave_after() -> None:
    async def main() -> tuple[bool, bool, dict[str, Any]]:
        a = asks_during_a_request.start()
        await waiting(a, "during the request?")
        b = plain.start()  # beyond max_live_waiting=1: A would be pushed out
        await waiting(b, "plain?")
        kept = not a.evicted
        await a.answer("d")
        await waiting(a, "after it?")
        c = plain.start()  # A parks again, its request over: now it may leave
        await waiting(c, "plain?")
        left = a.evicted
        await a.answer("e")
        out: dict[str, Any] = await asyncio.wait_for(a, 10)
        for run in (b, c):
            await run.answer("x")
            await asyncio.wait_for(run, 10)
        return kept, left, out

    kept, left, out = arun(main())
    assert kept
    assert left
    assert out == {"out": ["d", "e"]}
